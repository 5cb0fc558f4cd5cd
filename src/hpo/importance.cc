#include "mlcore/hpo/importance.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <variant>

#include "absl/strings/str_cat.h"

namespace mlcore::hpo {
namespace {

struct Sample {
  const FrozenTrial* trial;
  double y;
};

// The bin of each value: the choice itself for categorical and discrete parameters, else its
// rank among equal-count bins on the sampling scale. Bins are compared as ParamValues.
std::vector<ParamValue> Binned(const std::vector<ParamValue>& values, const Distribution& d,
                               int bins) {
  if (d.is_choice()) return values;
  std::vector<double> keys;
  for (const ParamValue& v : values) {
    const double x = std::holds_alternative<int64_t>(v) ? static_cast<double>(std::get<int64_t>(v))
                                                        : std::get<double>(v);
    keys.push_back(d.log() && x > 0 ? std::log(x) : x);
  }
  std::vector<size_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  std::vector<ParamValue> out(keys.size());
  const int64_t n = static_cast<int64_t>(keys.size());
  for (int64_t rank = 0; rank < n; ++rank) out[order[rank]] = rank * bins / n;
  return out;
}

double Mean(const std::vector<double>& ys) {
  double sum = 0;
  for (double y : ys) sum += y;
  return sum / static_cast<double>(ys.size());
}

// The correlation ratio of `name` over the samples that have it.
double CorrelationRatio(const std::string& name, const std::vector<Sample>& samples, int bins) {
  std::vector<const FrozenTrial*> have;
  std::vector<double> ys;
  for (const Sample& s : samples) {
    if (s.trial->params.count(name) && s.trial->distributions.count(name)) {
      have.push_back(s.trial);
      ys.push_back(s.y);
    }
  }
  if (have.size() < 2) return 0.0;
  const double mean = Mean(ys);
  double total = 0;
  for (double y : ys) total += (y - mean) * (y - mean);
  std::vector<ParamValue> values;
  for (const FrozenTrial* t : have) values.push_back(t->params.at(name));
  std::vector<ParamValue> keys = Binned(values, have[0]->distributions.at(name), bins);
  // Groups in order of first appearance, so the sum below adds in a fixed order.
  std::vector<std::pair<ParamValue, std::vector<double>>> groups;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == keys[i]; });
    if (it == groups.end()) it = groups.insert(groups.end(), {keys[i], {}});
    it->second.push_back(ys[i]);
  }
  double between = 0;
  for (const auto& [key, g] : groups) {
    const double d = Mean(g) - mean;
    between += static_cast<double>(g.size()) * (d * d);
  }
  return total > 0 ? between / total : 0.0;
}

}  // namespace

StatusOr<std::vector<std::pair<std::string, double>>> ParamImportances(
    const std::vector<FrozenTrial>& trials, const ImportanceOptions& options) {
  if (options.bins < 1) {
    return absl::InvalidArgumentError(absl::StrCat("bins must be at least 1, not ", options.bins));
  }
  if (options.objective < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("objective must be an index (0 or more), not ", options.objective));
  }
  std::vector<Sample> samples;
  std::set<std::string> names;
  const size_t k = static_cast<size_t>(options.objective);
  for (const FrozenTrial& t : trials) {
    if (t.state != TrialState::kComplete || !t.has_value) continue;
    if (k >= t.values.size() && !(k == 0 && t.values.empty())) continue;
    samples.push_back({&t, t.values.empty() ? t.value : t.values[k]});
    for (const auto& [name, value] : t.params) names.insert(name);
  }
  std::vector<std::pair<std::string, double>> out;
  double sum = 0;
  for (const std::string& name : names) {
    out.emplace_back(name, CorrelationRatio(name, samples, options.bins));
    sum += out.back().second;
  }
  for (auto& [name, v] : out) v = sum > 0 ? v / sum : 0.0;
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

}  // namespace mlcore::hpo
