// Uses its own nlohmann::json (built with JSON_DIAGNOSTICS=1) and Abseil beside mlcore: JSON
// crosses into mlcore as mlcore::Json (through text), Abseil's Status is mlcore's Status (the
// same Debian Abseil), and a pipeline of C++ callables runs. Prints "own deps ok" on success.
#include <mlcore/mlcore.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

static_assert(JSON_DIAGNOSTICS == 1, "built with nlohmann's diagnostics on");
// One Abseil in the process: the application's Status is the one mlcore returns.
static_assert(std::is_same_v<absl::Status, mlcore::Status>);

namespace {

namespace pl = mlcore::pipeline;

absl::Status Run(const std::string& home) {
  // The application's own JSON, with diagnostics (its layout differs from mlcore's build).
  nlohmann::json config = {{"n", 21}, {"label", "answer"}};
  absl::flat_hash_map<std::string, int> seen;

  auto twice = std::make_shared<pl::Component>();
  twice->name = "twice";
  twice->inputs = {{"n", pl::ValueType::kInt}, {"label", pl::ValueType::kString}};
  twice->outputs = {{"out", pl::ValueType::kDict}};
  twice->fn = [&seen](pl::TaskContext& ctx) {
    // mlcore::Json -> the application's nlohmann::json, through JSON text.
    nlohmann::json in = nlohmann::json::parse(ctx.params["n"].dump());
    ++seen[ctx.params["label"].get<std::string>()];
    nlohmann::json out = {{"value", in.get<int>() * 2}};
    ctx.output_params["out"] = mlcore::Json::parse(out.dump());
    return absl::OkStatus();
  };
  MLCORE_ASSIGN_OR_RETURN(pl::Pipeline p,
                          pl::Pipeline::Create("own_deps", {{"n", pl::ValueType::kInt},
                                                            {"label", pl::ValueType::kString}}));
  MLCORE_RETURN_IF_ERROR(p.AddTask(
      "twice", twice,
      {{"n", pl::InputBinding::Parameter("n")}, {"label", pl::InputBinding::Parameter("label")}}));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("out", "twice", "out"));
  pl::ClientOptions options;
  options.home = home;
  MLCORE_ASSIGN_OR_RETURN(auto client, pl::Client::Open(options));
  pl::RunOptions run_options;
  run_options.arguments = mlcore::Json::parse(config.dump());
  MLCORE_ASSIGN_OR_RETURN(pl::RunRecord run, client->Run(p, run_options));
  if (run.state != "succeeded") return absl::InternalError(absl::StrCat("run ", run.state));
  nlohmann::json result = nlohmann::json::parse(run.outputs.dump());
  if (result["out"]["value"] != 42 || seen["answer"] != 1) {
    return absl::InternalError(absl::StrCat("wrong result ", result.dump()));
  }
  return absl::OkStatus();
}

}  // namespace

int main() {
  const char* home = std::getenv("MLCORE_HOME");
  absl::Status status = Run(home ? home : "own_deps_home");
  if (!status.ok()) {
    std::cerr << "own_deps: " << mlcore::StatusText(status) << "\n";
    return 1;
  }
  std::cout << "own deps ok\n";
  return 0;
}
