// Uses one thing of each module through the one public include, against the installed package:
// core and ops (tensors and a kernel), store (an artifact), nn and optim (a model trained a few
// steps), pipeline (a one-task run and RunDag), hpo (a small study). Exits non-zero on failure.
#include <mlcore/mlcore.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

absl::Status CoreOpsStore(const std::string& home) {
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor x, mlcore::Tensor::FromVector<float>({1, 2, 3}, {3}));
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor y, mlcore::ops::Add(x, x));
  MLCORE_ASSIGN_OR_RETURN(double sum, mlcore::ops::SumToDouble(y));
  if (sum != 12.0) return absl::InternalError("core/ops: wrong sum");
  mlcore::store::ArtifactStoreOptions options;
  options.root = home + "/artifacts";
  MLCORE_ASSIGN_OR_RETURN(auto artifacts, mlcore::store::ArtifactStore::Open(options));
  MLCORE_ASSIGN_OR_RETURN(mlcore::store::Artifact a, artifacts->Put("consumer"));
  if (a.size != 8) return absl::InternalError("store: wrong artifact size");
  return absl::OkStatus();
}

absl::Status NnOptim() {
  namespace nn = mlcore::nn;
  MLCORE_ASSIGN_OR_RETURN(auto dense, nn::Dense(2));
  nn::Sequential model({dense});
  MLCORE_RETURN_IF_ERROR(model.Build({4}, /*seed=*/0));
  nn::CompileOptions compile;
  MLCORE_ASSIGN_OR_RETURN(compile.optimizer, mlcore::optim::Adam({.lr = 1e-2}));
  MLCORE_RETURN_IF_ERROR(model.Compile(compile));
  std::vector<float> xs(32 * 4);
  std::vector<int64_t> ys(32);
  for (int i = 0; i < 32; ++i) {
    for (int j = 0; j < 4; ++j) xs[i * 4 + j] = static_cast<float>((i * 7 + j * 3) % 5) - 2.0f;
    ys[i] = xs[i * 4] > 0 ? 1 : 0;
  }
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor x, mlcore::Tensor::FromVector(xs, {32, 4}));
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor y, mlcore::Tensor::FromVector(ys, {32}));
  nn::FitOptions fit;
  fit.epochs = 20;
  fit.batch_size = 8;
  MLCORE_ASSIGN_OR_RETURN(nn::History history, model.Fit(x, y, fit));
  const auto& loss = history.metrics.at("loss");
  if (!(loss.back() < loss.front())) return absl::InternalError("nn: the loss did not fall");
  return absl::OkStatus();
}

absl::Status Pipeline(const std::string& home) {
  namespace pl = mlcore::pipeline;
  auto twice = std::make_shared<pl::Component>();
  twice->name = "twice";
  twice->inputs = {{"n", pl::ValueType::kInt}};
  twice->outputs = {{"out", pl::ValueType::kInt}};
  twice->code_version = "1";
  twice->fn = [](pl::TaskContext& ctx) {
    ctx.output_params["out"] = ctx.params["n"].get<int>() * 2;
    return absl::OkStatus();
  };
  MLCORE_ASSIGN_OR_RETURN(pl::Pipeline p,
                          pl::Pipeline::Create("consumer", {{"n", pl::ValueType::kInt}}));
  MLCORE_RETURN_IF_ERROR(p.AddTask("twice", twice, {{"n", pl::InputBinding::Parameter("n")}}));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("out", "twice", "out"));
  pl::ClientOptions client_options;
  client_options.home = home;
  MLCORE_ASSIGN_OR_RETURN(auto client, pl::Client::Open(client_options));
  pl::RunOptions run_options;
  run_options.arguments = {{"n", 21}};
  MLCORE_ASSIGN_OR_RETURN(pl::RunRecord run, client->Run(p, run_options));
  if (run.state != "succeeded" || run.outputs["out"] != pl::Json(42)) {
    return absl::InternalError("pipeline: run " + run.state + " " + run.error);
  }
  // The DAG runner and the cron scheduler's options side by side: one name each.
  std::atomic<int> ran{0};
  pl::DagCallbacks callbacks;
  callbacks.run = [&ran](int32_t, const std::vector<int>&) {
    ++ran;
    return pl::NodeOutcome::kSucceeded;
  };
  pl::DagOptions dag_options;
  dag_options.max_parallelism = 2;
  std::vector<pl::DagNode> nodes(2);
  nodes[1].upstream = {0};
  MLCORE_ASSIGN_OR_RETURN(pl::DagStats stats, pl::RunDag(nodes, callbacks, dag_options));
  pl::SchedulerOptions scheduler_options;
  if (stats.succeeded != 2 || ran != 2 || scheduler_options.keep_fires <= 0) {
    return absl::InternalError("pipeline: RunDag ran the wrong nodes");
  }
  return absl::OkStatus();
}

absl::Status Hpo() {
  namespace hpo = mlcore::hpo;
  hpo::StudyOptions options;
  options.sampler = "random";
  MLCORE_ASSIGN_OR_RETURN(auto study, hpo::Study::Create(options));
  hpo::OptimizeOptions optimize;
  optimize.n_trials = 10;
  MLCORE_RETURN_IF_ERROR(study->Optimize(
      [](hpo::Trial& trial) -> absl::StatusOr<double> {
        MLCORE_ASSIGN_OR_RETURN(double x, trial.SuggestFloat("x", -1.0, 1.0));
        return x * x;
      },
      optimize));
  MLCORE_ASSIGN_OR_RETURN(hpo::FrozenTrial best, study->BestTrial());
  if (!best.has_value || best.value > 1.0) return absl::InternalError("hpo: no best");
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_home = std::getenv("MLCORE_HOME");
  const std::string home = argc > 1 ? argv[1] : env_home != nullptr ? env_home : "mlcore_home";
  const std::pair<const char*, absl::Status> results[] = {{"core, ops, store", CoreOpsStore(home)},
                                                          {"nn, optim", NnOptim()},
                                                          {"pipeline", Pipeline(home)},
                                                          {"hpo", Hpo()}};
  for (const auto& [name, status] : results) {
    if (!status.ok()) {
      std::cerr << name << " failed: " << status << "\n";
      return 1;
    }
    std::cout << name << ": ok\n";
  }
  return 0;
}
