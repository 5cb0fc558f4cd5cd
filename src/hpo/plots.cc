// The SVG is written by hand, as the Python plots were: fixed 640x400 canvas, margins for the
// axis labels, numbers formatted as Python's format specs (.1f coordinates, .4g/.6g values).
#include "mlcore/hpo/plots.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/html_escape.h"
#include "mlcore/hpo/study.h"

namespace mlcore::hpo {
namespace {

constexpr double kW = 640, kH = 400, kL = 70, kR = 20, kT = 40, kB = 50;

using mlcore::internal::HtmlEscape;

// Maps [lo, hi] onto [a, b]; a degenerate range is widened by 0.5 each way.
std::function<double(double)> Scale(double lo, double hi, double a, double b) {
  if (!(hi > lo)) lo -= 0.5, hi += 0.5;
  return [=](double v) { return a + (v - lo) / (hi - lo) * (b - a); };
}

std::string Header(const std::string& title) {
  return absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
      "font-family=\"sans-serif\" font-size=\"12\"><text x=\"%g\" y=\"20\" "
      "text-anchor=\"middle\" font-size=\"14\">%s</text>",
      kW, kH, kW, kH, kW / 2, HtmlEscape(title));
}

}  // namespace

std::vector<PlotTrial> PlotTrials(const TrialList& trials, int objective) {
  std::vector<PlotTrial> out;
  for (const auto& t : trials) {
    if (t->state != TrialState::kComplete || !t->has_value) continue;
    double v = objective < static_cast<int>(t->values.size()) ? t->values[objective]
               : objective == 0                               ? t->value
                                                              : NAN;
    if (!std::isfinite(v)) continue;
    out.push_back({t->number, v, t->params, t->distributions});
  }
  return out;
}

std::string OptimizationHistorySvg(const std::vector<PlotTrial>& trials,
                                   const PlotOptions& options) {
  std::string svg = Header("Optimization history of " + options.study_name);
  if (trials.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">no complete "
                          "trials</text></svg>",
                          kW / 2, kH / 2);
    return svg;
  }
  double x_lo = trials[0].number, x_hi = x_lo, y_lo = trials[0].value, y_hi = y_lo;
  for (const PlotTrial& t : trials) {
    x_lo = std::min<double>(x_lo, t.number), x_hi = std::max<double>(x_hi, t.number);
    y_lo = std::min(y_lo, t.value), y_hi = std::max(y_hi, t.value);
  }
  auto sx = Scale(x_lo, x_hi, kL, kW - kR);
  auto sy = Scale(y_lo, y_hi, kH - kB, kT);
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#000\"/>"
                        "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#000\"/>",
                        kL, kH - kB, kW - kR, kH - kB, kL, kT, kL, kH - kB);
  for (int k = 0; k < 5; ++k) {  // axis ticks
    double xv = x_lo + (x_hi - x_lo) * k / 4, yv = y_lo + (y_hi - y_lo) * k / 4;
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%.0f</text>",
                          sx(xv), kH - kB + 16, xv);
    absl::StrAppendFormat(&svg, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>", kL - 6,
                          sy(yv) + 4, yv);
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">trial</text><text "
                        "x=\"16\" y=\"%g\" text-anchor=\"middle\" transform=\"rotate(-90 16 "
                        "%g)\">%s</text>",
                        kW / 2, kH - 12, kH / 2, kH / 2, HtmlEscape(options.target_name));
  std::vector<std::string> line;
  std::optional<double> best;
  std::string last_y;
  for (const PlotTrial& t : trials) {
    if (!best || (options.minimize ? t.value < *best : t.value > *best)) best = t.value;
    if (!line.empty()) line.push_back(absl::StrFormat("%.1f,%s", sx(t.number), last_y));
    last_y = absl::StrFormat("%.1f", sy(*best));
    line.push_back(absl::StrFormat("%.1f,%s", sx(t.number), last_y));
  }
  absl::StrAppend(&svg,
                  "<polyline class=\"best\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" "
                  "points=\"",
                  absl::StrJoin(line, " "), "\"/>");
  for (const PlotTrial& t : trials) {
    absl::StrAppendFormat(&svg,
                          "<circle class=\"trial\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                          "fill=\"#1f77b4\"><title>trial %d: %.6g</title></circle>",
                          sx(t.number), sy(t.value), t.number, t.value);
  }
  return svg + "</svg>";
}

namespace {

// A parallel-coordinates axis: the y of a parameter's value, or nullopt where the axis cannot
// place it (no trial has the parameter, an unknown choice).
using AxisScale = std::function<std::optional<double>(const ParamValue&)>;

// The axis of parameter `name`, scaled by the distribution of the first trial that has it.
AxisScale ParamAxis(const std::vector<PlotTrial>& trials, const std::string& name) {
  const Distribution* dist = nullptr;
  for (const PlotTrial& t : trials) {
    auto it = t.distributions.find(name);
    if (it != t.distributions.end() && t.params.count(name)) {
      dist = &it->second;
      break;
    }
  }
  if (dist == nullptr) return [](const ParamValue&) -> std::optional<double> { return {}; };
  if (dist->is_choice()) {
    std::vector<std::string> choices;
    for (const ParamValue& c : dist->choices()) choices.push_back(ParamValueToString(c));
    auto pos = Scale(0, std::max<double>(static_cast<double>(choices.size()) - 1, 1), kH - kB, kT);
    return [choices, pos](const ParamValue& v) -> std::optional<double> {
      auto it = std::find(choices.begin(), choices.end(), ParamValueToString(v));
      if (it == choices.end()) return std::nullopt;
      return pos(static_cast<double>(it - choices.begin()));
    };
  }
  const bool log = dist->log();
  auto f = [log](double v) { return log ? std::log(v) : v; };
  auto scale = Scale(f(dist->low()), f(dist->high()), kH - kB, kT);
  return [scale, f](const ParamValue& v) -> std::optional<double> {
    if (const auto* d = std::get_if<double>(&v)) return scale(f(*d));
    if (const auto* n = std::get_if<int64_t>(&v)) return scale(f(static_cast<double>(*n)));
    return std::nullopt;
  };
}

}  // namespace

std::string ParallelCoordinateSvg(const std::vector<PlotTrial>& trials,
                                  const PlotOptions& options) {
  std::vector<std::string> axes = options.params;
  if (axes.empty()) {
    std::set<std::string> names;
    for (const PlotTrial& t : trials) {
      for (const auto& [name, v] : t.params) names.insert(name);
    }
    axes.assign(names.begin(), names.end());
  }
  const size_t n_params = axes.size(), n_axes = n_params + 1;
  std::string svg = Header("Parallel coordinates of " + options.study_name);
  std::vector<double> xs;
  for (size_t i = 0; i < n_axes; ++i) {
    xs.push_back(kL + (kW - kL - kR - 40) * (static_cast<double>(i) /
                                             static_cast<double>(std::max<size_t>(n_axes - 1, 1))));
  }
  double lo = 0, hi = 1;
  if (!trials.empty()) {
    auto [mn, mx] = std::minmax_element(trials.begin(), trials.end(),
                                        [](auto& a, auto& b) { return a.value < b.value; });
    lo = mn->value, hi = mx->value;
  }
  std::vector<AxisScale> scales;
  for (size_t i = 0; i < n_params; ++i) scales.push_back(ParamAxis(trials, axes[i]));
  auto value_scale = Scale(lo, hi, kH - kB, kT);
  for (const PlotTrial& t : trials) {
    const double q = hi > lo ? (t.value - lo) / (hi - lo) : 0.5;
    const double goodness = options.minimize ? 1 - q : q;
    std::vector<std::string> points;
    for (size_t i = 0; i < n_params; ++i) {
      auto it = t.params.find(axes[i]);
      if (it == t.params.end()) continue;
      if (auto y = scales[i](it->second)) points.push_back(absl::StrFormat("%.1f,%.1f", xs[i], *y));
    }
    points.push_back(absl::StrFormat("%.1f,%.1f", xs[n_params], value_scale(t.value)));
    const int shade = static_cast<int>(220 - 180 * goodness);
    absl::StrAppendFormat(&svg,
                          "<polyline class=\"trial\" fill=\"none\" stroke=\"rgb(%d,%d,255)\" "
                          "stroke-opacity=\"0.8\" points=\"%s\"><title>trial %d: "
                          "%.6g</title></polyline>",
                          shade, shade, absl::StrJoin(points, " "), t.number, t.value);
  }
  for (size_t i = 0; i < n_axes; ++i) {
    const std::string& name = i < n_params ? axes[i] : options.target_name;
    absl::StrAppendFormat(&svg,
                          "<line class=\"axis\" x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" "
                          "stroke=\"#000\"/><text x=\"%.1f\" y=\"%g\" "
                          "text-anchor=\"middle\">%s</text>",
                          xs[i], kT, xs[i], kH - kB, xs[i], kH - kB + 18, HtmlEscape(name));
  }
  return svg + "</svg>";
}

namespace {

StatusOr<std::pair<std::vector<PlotTrial>, PlotOptions>> StudyPlotInput(Study& study,
                                                                        int objective) {
  if (objective < 0 || objective >= static_cast<int>(study.directions().size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("study '", study.name(), "' has no objective ", objective));
  }
  MLCORE_ASSIGN_OR_RETURN(TrialList trials, study.Trials());
  PlotOptions options;
  options.study_name = study.name();
  options.minimize = study.directions()[objective] == StudyDirection::kMinimize;
  if (study.directions().size() > 1) options.target_name = absl::StrCat("values[", objective, "]");
  return std::make_pair(PlotTrials(trials, objective), options);
}

}  // namespace

StatusOr<std::string> PlotOptimizationHistory(Study& study, int objective) {
  MLCORE_ASSIGN_OR_RETURN(auto input, StudyPlotInput(study, objective));
  return OptimizationHistorySvg(input.first, input.second);
}

StatusOr<std::string> PlotParallelCoordinate(Study& study, int objective) {
  MLCORE_ASSIGN_OR_RETURN(auto input, StudyPlotInput(study, objective));
  return ParallelCoordinateSvg(input.first, input.second);
}

}  // namespace mlcore::hpo
