// Plots of a study as self-contained SVG text (no plotting library, no display): the optimization
// history and parallel coordinates. Python's plot_* functions call these and wrap the text for
// Jupyter; a C++ program writes it to a .svg file. Parameter importance is plotted elsewhere
// (importance.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/hpo/distribution.h"
#include "mlcore/hpo/trial.h"

namespace mlcore::hpo {

class Study;

// One complete trial as a plot sees it: `value` is the plotted objective (or any target the
// caller derives from the trial).
struct PlotTrial {
  int64_t number = 0;
  double value = 0;
  std::map<std::string, ParamValue> params;
  std::map<std::string, Distribution> distributions;
};

struct PlotOptions {
  std::string study_name;  // in the title
  // Which way is better: the best-so-far line and the parallel coordinates' shading follow it.
  bool minimize = true;
  std::string target_name = "value";  // the value axis' label
  // Parallel coordinates: the parameter axes, in order. Empty: every parameter, sorted by name.
  std::vector<std::string> params;
};

// The complete trials with a finite value for objective `objective`.
std::vector<PlotTrial> PlotTrials(const TrialList& trials, int objective = 0);

// Each trial's value (dots, class "trial") and the best value so far (a step line, class
// "best") against the trial number.
std::string OptimizationHistorySvg(const std::vector<PlotTrial>& trials,
                                   const PlotOptions& options);
// One vertical axis per parameter (log scale for log ranges, evenly spaced choices) and one for
// the value; each trial is a line across them (class "trial"), darker for better values.
std::string ParallelCoordinateSvg(const std::vector<PlotTrial>& trials, const PlotOptions& options);

// The same for a study's objective `objective` (the study's name and direction filled in).
// InvalidArgument for an objective the study does not have.
StatusOr<std::string> PlotOptimizationHistory(Study& study, int objective = 0);
StatusOr<std::string> PlotParallelCoordinate(Study& study, int objective = 0);

}  // namespace mlcore::hpo
