// The serving core in process: a saved MLP answered as Predict answers, batches formed under
// concurrency with each caller getting its own rows, signature checks, unknown models and
// versions, bounded queues, a file-system repository with version policies, reload and unload
// while requests run, function backends over every datatype, and sequence ensembles.
#include <atomic>
#include <fstream>
#include <thread>

#include "serve/serve_test_util.h"

namespace mlcore::serve {
namespace {

using testing::Floats;
using testing::Request;
using testing::SaveMlp;
using testing::ToFloats;

class ModelManagerTest : public nn::testing::TempDirTest {};

std::vector<float> Predicted(nn::Model& model, const std::vector<float>& x) {
  auto t = Tensor::FromVector(x, {static_cast<int64_t>(x.size()) / 4, 4});
  auto y = model.Predict(*t);
  EXPECT_TRUE(y.ok()) << y.status();
  const float* p = static_cast<const float*>(y->data());
  return std::vector<float>(p, p + y->numel());
}

TEST_F(ModelManagerTest, AnswersAsPredictDoes) {
  auto model = SaveMlp((dir_ / "mlp").string());
  ModelManager manager;
  ASSERT_TRUE(manager.AddModel("mlp", (dir_ / "mlp").string()).ok());
  auto meta = manager.Metadata("mlp");
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->inputs[0], (TensorInfo{"input", DataType::kFP32, {-1, 4}}));
  EXPECT_EQ(meta->outputs[0].shape, (Dims{-1, 3}));
  EXPECT_EQ(meta->versions, std::vector<std::string>{"1"});
  std::vector<float> x = {0.5f, -1, 2, 0.25f, 1, 1, 1, 1};
  auto response = manager.Infer(Request("mlp", x, 2));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->outputs.size(), 1u);
  EXPECT_EQ(response->outputs[0].shape, (Dims{2, 3}));
  EXPECT_EQ(ToFloats(response->outputs[0]), Predicted(*model, x));
  EXPECT_EQ(response->model_version, "1");
  EXPECT_TRUE(manager.IsReady());
}

TEST_F(ModelManagerTest, BatchesUnderConcurrencyAndEachGetsItsRows) {
  auto model = SaveMlp((dir_ / "mlp").string());
  ModelManager manager;
  ModelConfig config;
  config.max_batch_size = 16;
  config.max_queue_delay_us = 2000;
  config.instance_count = 2;
  ASSERT_TRUE(manager.AddModel("mlp", (dir_ / "mlp").string(), config).ok());
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 32; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 20; ++i) {
        std::vector<float> x = {float(c), float(i), float(c - i), 0.5f};
        auto response = manager.Infer(Request("mlp", x));
        if (!response.ok() || ToFloats(response->outputs[0]) != Predicted(*model, x)) ++wrong;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  auto stats = manager.Statistics("mlp");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ((*stats)[0].inference_count, 640u);
  EXPECT_LT((*stats)[0].execution_count, 640u) << "no batch was ever formed";
}

TEST_F(ModelManagerTest, RefusesWhatDoesNotFitTheSignature) {
  SaveMlp((dir_ / "mlp").string());
  ModelManager manager;
  ASSERT_TRUE(manager.AddModel("mlp", (dir_ / "mlp").string(), {.max_batch_size = 4}).ok());
  auto code = [&](InferRequest r) { return manager.Infer(r).status().code(); };
  using absl::StatusCode;
  EXPECT_EQ(code(Request("mlp", {1, 2, 3}, 1)), StatusCode::kInvalidArgument);  // shape
  InferRequest wrong_type = Request("mlp", {1, 2, 3, 4});
  wrong_type.inputs[0].datatype = DataType::kInt32;
  EXPECT_EQ(code(wrong_type), StatusCode::kInvalidArgument);
  InferRequest short_data = Request("mlp", {1, 2, 3, 4});
  short_data.inputs[0].data.resize(12);
  EXPECT_EQ(code(short_data), StatusCode::kInvalidArgument);
  InferRequest long_data = Request("mlp", {1, 2, 3, 4});
  long_data.inputs[0].data += "abcd";
  EXPECT_EQ(code(long_data), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Request("mlp", std::vector<float>(20, 1), 5)), StatusCode::kInvalidArgument);
  InferRequest renamed = Request("mlp", {1, 2, 3, 4});
  renamed.inputs[0].name = "x";
  EXPECT_EQ(code(renamed), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Request("nope", {1, 2, 3, 4})), StatusCode::kNotFound);
  EXPECT_EQ(code(Request("../mlp", {1, 2, 3, 4})), StatusCode::kInvalidArgument);
  InferRequest version = Request("mlp", {1, 2, 3, 4});
  version.model_version = "7";
  EXPECT_EQ(code(version), StatusCode::kNotFound);
  EXPECT_TRUE(manager.Infer(Request("mlp", {1, 2, 3, 4})).ok());
  EXPECT_EQ(manager.AddModel("../x", (dir_ / "mlp").string()).code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelManagerTest, AFullQueueIsUnavailable) {
  std::atomic<bool> release{false}, running{false};
  ModelManager manager;
  ModelConfig config;
  config.max_batch_size = 0;
  config.max_queue_size = 2;
  Signature sig{{}, {}};
  ASSERT_TRUE(manager
                  .AddModel("slow", config,
                            [&](const BackendContext&) -> StatusOr<std::unique_ptr<Backend>> {
                              return MakeFunctionBackend(sig, [&](const auto& in) {
                                running = true;
                                while (!release) std::this_thread::yield();
                                return StatusOr<std::vector<InferTensor>>(in);
                              });
                            })
                  .ok());
  std::atomic<int> answered{0};
  std::vector<absl::Status> refused;
  for (int i = 0; i < 5; ++i) {
    InferRequest r = Request("slow", {1});
    manager.AsyncInfer(r, [&](StatusOr<InferResponse> response) {
      if (response.ok()) {
        ++answered;
      } else {
        refused.push_back(response.status());
      }
    });
    while (i == 0 && !running) std::this_thread::yield();
  }
  // One runs, two wait, two are refused at once.
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[0].code(), absl::StatusCode::kUnavailable);
  release = true;
  while (answered < 3) std::this_thread::yield();
}

TEST_F(ModelManagerTest, EchoesEveryDatatype) {
  ModelManager manager;
  ASSERT_TRUE(manager
                  .AddModel("echo", {.max_batch_size = 0},
                            [](const BackendContext&) -> StatusOr<std::unique_ptr<Backend>> {
                              return MakeFunctionBackend({}, [](const auto& in) {
                                return StatusOr<std::vector<InferTensor>>(in);
                              });
                            })
                  .ok());
  for (int type = 0; type <= static_cast<int>(DataType::kBytes); ++type) {
    InferTensor t;
    t.name = "x";
    t.datatype = static_cast<DataType>(type);
    t.shape = {2};
    if (t.datatype == DataType::kBytes) {
      t.AppendBytesElement("ab");
      t.AppendBytesElement(std::string("\0\xff", 2));
    } else {
      t.data.assign(2 * DataTypeSize(t.datatype), '\0');
      t.data[0] = 1;
    }
    InferRequest request;
    request.model_name = "echo";
    request.inputs.push_back(t);
    auto response = manager.Infer(request);
    ASSERT_TRUE(response.ok()) << DataTypeName(t.datatype) << response.status();
    EXPECT_EQ(response->outputs[0].data, t.data);
    EXPECT_EQ(*ParseDataType(DataTypeName(t.datatype)), t.datatype);
  }
}

void WriteConfig(const std::filesystem::path& dir, const std::string& text) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << text;
}

TEST_F(ModelManagerTest, RepositoryVersionPoliciesAndReloads) {
  auto repo = dir_ / "repo";
  auto v1 = SaveMlp((repo / "mlp" / "1").string(), 1);
  auto v2 = SaveMlp((repo / "mlp" / "2").string(), 2);
  WriteConfig(repo / "mlp", R"({"max_batch_size": 8, "version_policy": {"latest": 1}})");
  WriteConfig(repo / "broken", R"({"max_batch_size": "many"})");
  ManagerOptions options;
  options.model_repository = repo.string();
  ModelManager manager(options);
  ASSERT_TRUE(manager.Start().ok());
  EXPECT_TRUE(manager.IsModelReady("mlp", "2"));
  EXPECT_FALSE(manager.IsModelReady("mlp", "1"));
  std::vector<float> x = {1, 2, 3, 4};
  EXPECT_EQ(ToFloats(manager.Infer(Request("mlp", x))->outputs[0]), Predicted(*v2, x));
  bool broken_listed = false;
  for (const RepositoryEntry& e : manager.RepositoryIndex()) {
    if (e.name == "broken")
      broken_listed = e.state == ModelState::kUnavailable && !e.reason.empty();
  }
  EXPECT_TRUE(broken_listed);
  EXPECT_FALSE(manager.IsReady());

  // Every version, then a reload under load: no request fails.
  WriteConfig(repo / "mlp", R"({"max_batch_size": 8, "version_policy": {"all": {}}})");
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, done{0};
  std::thread client([&] {
    while (!stop) {
      auto r = manager.Infer(Request("mlp", x));
      r.ok() ? ++done : ++failed;
    }
  });
  ASSERT_TRUE(manager.LoadModel("mlp").ok());
  ASSERT_TRUE(manager.LoadModel("mlp").ok());
  stop = true;
  client.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(done, 0);
  InferRequest first = Request("mlp", x);
  first.model_version = "1";
  EXPECT_EQ(ToFloats(manager.Infer(first)->outputs[0]), Predicted(*v1, x));

  ASSERT_TRUE(manager.UnloadModel("mlp").ok());
  EXPECT_EQ(manager.Infer(Request("mlp", x)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager.UnloadModel("ghost").code(), absl::StatusCode::kNotFound);
  // Poll mode picks up a new model folder.
  SaveMlp((repo / "late" / "1").string(), 3);
  manager.PollRepository().IgnoreError();  // "broken" stays broken
  EXPECT_TRUE(manager.IsModelReady("late"));
  std::string metrics = manager.PrometheusMetrics();
  EXPECT_NE(metrics.find("mlcore_serve_model_state{model=\"mlp\",state=\"UNAVAILABLE\"} 1"),
            std::string::npos);
}

TEST_F(ModelManagerTest, ASequenceRunsItsStepsInOrder) {
  auto model = SaveMlp((dir_ / "mlp").string());
  ModelManager manager;
  // The transformer doubles its input; the predictor is the MLP.
  Signature sig{{{"raw", DataType::kFP32, {-1, 4}}}, {{"features", DataType::kFP32, {-1, 4}}}};
  ASSERT_TRUE(manager
                  .AddModel("double", {},
                            [&](const BackendContext&) -> StatusOr<std::unique_ptr<Backend>> {
                              return MakeFunctionBackend(sig, [](const auto& in) {
                                InferTensor out = in[0];
                                out.name = "features";
                                float* p = reinterpret_cast<float*>(out.data.data());
                                for (size_t i = 0; i < out.data.size() / 4; ++i) p[i] *= 2;
                                return StatusOr<std::vector<InferTensor>>(
                                    std::vector<InferTensor>{out});
                              });
                            })
                  .ok());
  ASSERT_TRUE(manager.AddModel("mlp", (dir_ / "mlp").string()).ok());
  ModelConfig chain;
  chain.backend = "sequence";
  chain.steps = {"double", "mlp"};
  ASSERT_TRUE(manager.AddModel("chain", "", chain).ok());
  InferRequest request;
  request.model_name = "chain";
  request.inputs.push_back(Floats("raw", {1, 2, 3, 4}, {1, 4}));
  auto response = manager.Infer(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(ToFloats(response->outputs[0]), Predicted(*model, {2, 4, 6, 8}));
  EXPECT_EQ(manager.Metadata("chain")->platform, "ensemble");
}

TEST(ModelConfigTest, ReadsTheRepositoryFile) {
  auto config = ModelConfig::FromJson(
      R"({"max_batch_size": 16, "max_queue_delay_us": 100, "preferred_batch_sizes": [4, 8],
          "instance_count": 2, "version_policy": {"specific": [1, 3]}})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->preferred_batch_sizes, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(config->version_policy.kind, VersionPolicy::Kind::kSpecific);
  auto again = ModelConfig::FromJson(config->ToJson());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version_policy.specific, (std::vector<int64_t>{1, 3}));
  EXPECT_FALSE(
      ModelConfig::FromJson(R"({"max_batch_size": 2, "preferred_batch_sizes": [4]})").ok());
  EXPECT_FALSE(ModelConfig::FromJson(R"({"colour": 1})").ok());
  EXPECT_FALSE(ModelConfig::FromJson("[").ok());
}

}  // namespace
}  // namespace mlcore::serve
