// A hyperparameter study from C++: a TPE search over a learning rate, a depth and an optimizer
// for a stand-in objective, with the progress line on stderr, then the best trial, the trials
// table as CSV and the two SVG plots written beside it. Pass a directory for the files (default:
// the current one). Exits non-zero if anything fails.
#include <mlcore/mlcore.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

namespace {

namespace hpo = mlcore::hpo;

// What a training run would report: best near lr = 1e-2, depth = 3 with Adam.
absl::StatusOr<double> Objective(hpo::Trial& trial) {
  MLCORE_ASSIGN_OR_RETURN(double lr, trial.SuggestFloat("lr", 1e-4, 1e-1, /*log=*/true));
  MLCORE_ASSIGN_OR_RETURN(int64_t depth, trial.SuggestInt("depth", 1, 6));
  MLCORE_ASSIGN_OR_RETURN(
      hpo::ParamValue optimizer,
      trial.SuggestCategorical("optimizer", {std::string("sgd"), std::string("adam")}));
  const double penalty = std::get<std::string>(optimizer) == "adam" ? 0.0 : 0.2;
  return std::pow(std::log10(lr) + 2, 2) + 0.1 * std::abs(depth - 3.0) + penalty;
}

absl::Status Write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) return absl::UnavailableError("cannot write " + path);
  return absl::OkStatus();
}

absl::Status Run(const std::string& dir) {
  hpo::StudyOptions options;
  options.sampler = "tpe";
  options.sampler_options.seed = 7;
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<hpo::Study> study, hpo::Study::Create(options));

  hpo::ProgressOptions progress_options;
  progress_options.n_trials = 40;
  hpo::OptimizeProgress progress(progress_options);
  hpo::OptimizeOptions optimize;
  optimize.n_trials = progress_options.n_trials;
  optimize.callback = progress.Callback();
  MLCORE_RETURN_IF_ERROR(study->Optimize(Objective, optimize));
  progress.Close();

  MLCORE_ASSIGN_OR_RETURN(double best_value, study->BestValue());
  MLCORE_ASSIGN_OR_RETURN(auto best_params, study->BestParams());
  std::cout << "best value " << best_value << " with";
  for (const auto& [name, value] : best_params) {
    std::cout << " " << name << "=" << hpo::ParamValueToString(value);
  }
  std::cout << "\n";

  MLCORE_ASSIGN_OR_RETURN(hpo::TrialsTable table, hpo::TrialsTableOf(*study));
  MLCORE_RETURN_IF_ERROR(Write(dir + "/trials.csv", table.ToCsv()));
  MLCORE_ASSIGN_OR_RETURN(std::string history, hpo::PlotOptimizationHistory(*study));
  MLCORE_RETURN_IF_ERROR(Write(dir + "/history.svg", history));
  MLCORE_ASSIGN_OR_RETURN(std::string parallel, hpo::PlotParallelCoordinate(*study));
  MLCORE_RETURN_IF_ERROR(Write(dir + "/parallel.svg", parallel));
  std::cout << table.rows.size() << " trials in " << dir << "/trials.csv\n";
  if (best_value > 0.5) return absl::InternalError("the search did not get near the optimum");
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::Status status = Run(argc > 1 ? argv[1] : ".");
  if (!status.ok()) {
    std::cerr << "hpo_study: " << mlcore::StatusText(status) << "\n";
    return 1;
  }
  return 0;
}
