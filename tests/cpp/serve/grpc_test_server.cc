// A server process for the gRPC tests and benchmark (tests/python/test_serve_grpc*.py,
// benchmarks/bench_serve_grpc.py), which drive it with the real tritonclient.grpc. It serves:
//   echo_<datatype>  INPUT0 [-1, -1] -> OUTPUT0, the same tensor, for every V2 datatype
//   simple           INPUT0, INPUT1 INT32 [-1, 16] -> OUTPUT0 = sum, OUTPUT1 = difference
//   slow             INPUT0 FP32 [-1, -1] -> OUTPUT0, after 200 ms; prints "slow_started" first
//   --mlp NAME=DIR   an nn checkpoint through the native backend
//   --registry NAME=REF   a registry model (name, name/3, name@alias) from --home's registry,
//                    re-resolved every --poll-ms; versions tagged backend=add_constant add the
//                    integer in their value.txt to INPUT0
// --grpc-port N binds N instead of a free port. It prints "grpc_port=N" (and "http_port=N" with
// --http) once listening, and stops when its standard input closes.
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "mlcore/registry/serve_resolver.h"
#include "mlcore/serve/server.h"

namespace {

using namespace mlcore::serve;
using mlcore::Status;
using mlcore::StatusOr;

constexpr DataType kAllTypes[] = {
    DataType::kBool, DataType::kUInt8, DataType::kUInt16, DataType::kUInt32, DataType::kUInt64,
    DataType::kInt8, DataType::kInt16, DataType::kInt32,  DataType::kInt64,  DataType::kFP16,
    DataType::kBF16, DataType::kFP32,  DataType::kFP64,   DataType::kBytes};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

BackendFactory Function(Signature signature, ExecuteFunction fn) {
  return [signature, fn](const BackendContext&) -> StatusOr<std::unique_ptr<Backend>> {
    return MakeFunctionBackend(signature, fn, "test");
  };
}

Status AddTestModels(ModelManager& models) {
  ModelConfig batched;
  batched.max_batch_size = 8;
  for (DataType type : kAllTypes) {
    Signature sig{{{"INPUT0", type, {-1, -1}}}, {{"OUTPUT0", type, {-1, -1}}}};
    MLCORE_RETURN_IF_ERROR(models.AddModel(
        "echo_" + Lower(DataTypeName(type)), batched,
        Function(sig, [](const std::vector<InferTensor>& in) -> StatusOr<std::vector<InferTensor>> {
          InferTensor out = in[0];
          out.name = "OUTPUT0";
          return std::vector<InferTensor>{out};
        })));
  }
  Signature simple{
      {{"INPUT0", DataType::kInt32, {-1, 16}}, {"INPUT1", DataType::kInt32, {-1, 16}}},
      {{"OUTPUT0", DataType::kInt32, {-1, 16}}, {"OUTPUT1", DataType::kInt32, {-1, 16}}}};
  MLCORE_RETURN_IF_ERROR(models.AddModel(
      "simple", batched,
      Function(simple,
               [](const std::vector<InferTensor>& in) -> StatusOr<std::vector<InferTensor>> {
                 InferTensor sum = in[0], diff = in[0];
                 sum.name = "OUTPUT0";
                 diff.name = "OUTPUT1";
                 const size_t n = in[0].data.size() / sizeof(int32_t);
                 for (size_t i = 0; i < n; ++i) {
                   int32_t a, b;
                   std::memcpy(&a, in[0].data.data() + i * 4, 4);
                   std::memcpy(&b, in[1].data.data() + i * 4, 4);
                   const int32_t s = a + b, d = a - b;
                   std::memcpy(sum.data.data() + i * 4, &s, 4);
                   std::memcpy(diff.data.data() + i * 4, &d, 4);
                 }
                 return std::vector<InferTensor>{sum, diff};
               })));
  ModelConfig unbatched;
  unbatched.max_batch_size = 0;
  Signature slow{{{"INPUT0", DataType::kFP32, {-1, -1}}}, {{"OUTPUT0", DataType::kFP32, {-1, -1}}}};
  return models.AddModel(
      "slow", unbatched,
      Function(slow, [](const std::vector<InferTensor>& in) -> StatusOr<std::vector<InferTensor>> {
        std::cout << "slow_started" << std::endl;  // tests wait for it to stop mid-request
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        InferTensor out = in[0];
        out.name = "OUTPUT0";
        return std::vector<InferTensor>{out};
      }));
}

// The backend of the registry tests: OUTPUT0 = INPUT0 (INT32) + the integer in <path>/value.txt,
// so an answer says which version computed it.
const mlcore::Registrar<BackendFactory> kAddConstant(
    BackendRegistry(), "add_constant",
    [](const BackendContext& context) -> StatusOr<std::unique_ptr<Backend>> {
      std::ifstream in(context.path + "/value.txt");
      int32_t value = 0;
      if (!(in >> value)) {
        return absl::InvalidArgumentError("add_constant: no integer in " + context.path +
                                          "/value.txt");
      }
      Signature sig{{{"INPUT0", DataType::kInt32, {-1, -1}}},
                    {{"OUTPUT0", DataType::kInt32, {-1, -1}}}};
      return MakeFunctionBackend(
          sig,
          [value](const std::vector<InferTensor>& inputs) -> StatusOr<std::vector<InferTensor>> {
            InferTensor out = inputs[0];
            out.name = "OUTPUT0";
            for (size_t i = 0; i + 4 <= out.data.size(); i += 4) {
              int32_t x;
              std::memcpy(&x, out.data.data() + i, 4);
              x += value;
              std::memcpy(out.data.data() + i, &x, 4);
            }
            return std::vector<InferTensor>{out};
          },
          "add_constant");
    });

// "NAME=VALUE" split at the first '='.
bool SplitPair(const std::string& arg, std::string* name, std::string* value) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) return false;
  *name = arg.substr(0, eq);
  *value = arg.substr(eq + 1);
  return true;
}

int Fail(const std::string& what, const Status& status) {
  std::cerr << "grpc_test_server: " << what << ": " << status << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  ServerOptions options;
  options.http_port = -1;
  options.grpc_port = 0;
  std::string home;
  std::vector<std::pair<std::string, std::string>> mlps, registry_models;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    std::string name, value;
    if (arg == "--token") {
      options.auth_token = next();
    } else if (arg == "--grpc-port") {
      options.grpc_port = std::stoi(next());
    } else if (arg == "--max-request-bytes") {
      options.max_request_bytes = std::stoll(next());
    } else if (arg == "--http") {
      options.http_port = 0;
    } else if (arg == "--home") {
      home = next();
    } else if (arg == "--poll-ms") {
      options.models.poll_interval_ms = std::stoll(next());
    } else if (arg == "--mlp" && SplitPair(next(), &name, &value)) {
      mlps.emplace_back(name, value);
    } else if (arg == "--registry" && SplitPair(next(), &name, &value)) {
      registry_models.emplace_back(name, value);
    } else {
      std::cerr << "grpc_test_server: unknown argument " << arg << std::endl;
      return 2;
    }
  }
  if (!home.empty()) {
    auto resolver = mlcore::registry::MakeServeResolver({.home = home});
    if (!resolver.ok()) return Fail("opening the registry", resolver.status());
    options.models.resolver = *resolver;
  }
  Server server(options);
  if (Status st = AddTestModels(server.models()); !st.ok()) return Fail("adding models", st);
  for (const auto& [name, dir] : mlps) {
    if (Status st = server.AddModel(name, dir); !st.ok()) return Fail("adding " + name, st);
  }
  for (const auto& [name, ref] : registry_models) {
    ModelConfig config;
    config.max_batch_size = 8;
    if (Status st = server.models().AddRegistryModel(name, ref, config); !st.ok()) {
      return Fail("adding " + ref, st);
    }
  }
  if (Status st = server.Start(); !st.ok()) return Fail("starting", st);
  std::cout << "grpc_port=" << server.grpc_port() << std::endl;
  if (options.http_port >= 0) std::cout << "http_port=" << server.http_port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.Stop();
  return 0;
}
