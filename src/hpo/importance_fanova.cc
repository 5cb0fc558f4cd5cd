// fANOVA parameter importance (importance.h): a random forest of regression trees over the
// complete trials, then, per tree, the variance of each parameter's main effect (the tree's
// prediction averaged over all other parameters, uniformly over the search box) over the
// prediction's total variance. A tree's leaves tile the box with axis-aligned cells, so both
// variances are exact sums over the cells.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <random>
#include <variant>

#include "absl/strings/str_cat.h"
#include "mlcore/hpo/importance.h"

namespace mlcore::hpo {
namespace {

struct Leaf {
  std::vector<double> lo, hi;  // the cell, per feature
  double value = 0;
};

// The data of one forest: rows of features and the objective.
struct Data {
  size_t d = 0;
  std::vector<double> x;  // n rows of d
  std::vector<double> y;
  std::vector<double> lo, hi;  // the search box
};

// The best variance-reducing split of `idx` (feature, threshold); false when every feature is
// constant over it.
bool BestSplit(const Data& data, const std::vector<uint32_t>& idx, size_t* feature,
               double* threshold) {
  const size_t n = idx.size();
  double best = 0;
  bool found = false;
  double total = 0;
  for (uint32_t i : idx) total += data.y[i];
  std::vector<std::pair<double, double>> col(n);
  for (size_t f = 0; f < data.d; ++f) {
    for (size_t r = 0; r < n; ++r) col[r] = {data.x[idx[r] * data.d + f], data.y[idx[r]]};
    std::sort(col.begin(), col.end());
    if (col.front().first == col.back().first) continue;
    // Maximising sum_left^2 / n_left + sum_right^2 / n_right minimises the squared error.
    double left = 0;
    for (size_t r = 0; r + 1 < n; ++r) {
      left += col[r].second;
      if (col[r].first == col[r + 1].first) continue;
      const double nl = static_cast<double>(r + 1), nr = static_cast<double>(n - r - 1);
      const double right = total - left;
      const double gain = left * left / nl + right * right / nr;
      if (!found || gain > best) {
        best = gain;
        found = true;
        *feature = f;
        *threshold = 0.5 * (col[r].first + col[r + 1].first);
      }
    }
  }
  return found;
}

void Grow(const Data& data, std::vector<uint32_t> idx, int depth, int max_depth,
          std::vector<double> lo, std::vector<double> hi, std::vector<Leaf>* leaves) {
  double mean = 0;
  for (uint32_t i : idx) mean += data.y[i];
  mean /= static_cast<double>(idx.size());
  bool constant = true;
  for (uint32_t i : idx) constant = constant && data.y[i] == data.y[idx[0]];
  size_t f = 0;
  double t = 0;
  if (depth >= max_depth || idx.size() < 2 || constant || !BestSplit(data, idx, &f, &t)) {
    leaves->push_back({std::move(lo), std::move(hi), mean});
    return;
  }
  std::vector<uint32_t> left, right;
  for (uint32_t i : idx) (data.x[i * data.d + f] <= t ? left : right).push_back(i);
  idx.clear();
  idx.shrink_to_fit();
  std::vector<double> left_hi = hi, right_lo = lo;
  left_hi[f] = t;
  right_lo[f] = t;
  Grow(data, std::move(left), depth + 1, max_depth, lo, std::move(left_hi), leaves);
  Grow(data, std::move(right), depth + 1, max_depth, std::move(right_lo), std::move(hi), leaves);
}

// Per feature, the variance of its main effect over the tree's total variance (all 0 for a
// tree that predicts one value).
std::vector<double> TreeImportances(const Data& data, const std::vector<Leaf>& leaves) {
  const size_t d = data.d;
  std::vector<double> width(d);
  for (size_t f = 0; f < d; ++f) width[f] = data.hi[f] - data.lo[f];
  // Each cell's share of the box, and the prediction's mean and variance over the box.
  std::vector<double> share(leaves.size(), 1.0);
  double mean = 0;
  for (size_t l = 0; l < leaves.size(); ++l) {
    for (size_t f = 0; f < d; ++f) share[l] *= (leaves[l].hi[f] - leaves[l].lo[f]) / width[f];
    mean += share[l] * leaves[l].value;
  }
  double total = 0;
  for (size_t l = 0; l < leaves.size(); ++l) {
    total += share[l] * (leaves[l].value - mean) * (leaves[l].value - mean);
  }
  std::vector<double> out(d, 0.0);
  if (!(total > 1e-300)) return out;
  for (size_t f = 0; f < d; ++f) {
    // The main effect is constant between consecutive cell edges along f: each cell adds
    // value * (its share of the other features) over the segments it spans.
    std::vector<double> edges;
    for (const Leaf& leaf : leaves) {
      edges.push_back(leaf.lo[f]);
      edges.push_back(leaf.hi[f]);
    }
    std::sort(edges.begin(), edges.end());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
    std::vector<double> diff(edges.size(), 0.0);
    for (size_t l = 0; l < leaves.size(); ++l) {
      const double own = (leaves[l].hi[f] - leaves[l].lo[f]) / width[f];
      const double add = leaves[l].value * (own > 0 ? share[l] / own : 0.0);
      const size_t a =
          std::lower_bound(edges.begin(), edges.end(), leaves[l].lo[f]) - edges.begin();
      const size_t b =
          std::lower_bound(edges.begin(), edges.end(), leaves[l].hi[f]) - edges.begin();
      diff[a] += add;
      diff[b] -= add;
    }
    double effect = 0, var = 0;
    for (size_t s = 0; s + 1 < edges.size(); ++s) {
      effect += diff[s];
      const double len = (edges[s + 1] - edges[s]) / width[f];
      var += len * (effect - mean) * (effect - mean);
    }
    out[f] = var / total;
  }
  return out;
}

// A complete trial and its value of the objective that is ranked.
using Sample = std::pair<const FrozenTrial*, double>;

// The parameters every sample has, with one distribution.
std::map<std::string, Distribution> SharedSpace(const std::vector<Sample>& samples) {
  std::map<std::string, Distribution> space;
  for (size_t i = 0; i < samples.size(); ++i) {
    const FrozenTrial& t = *samples[i].first;
    if (i == 0) {
      for (const auto& [name, d] : t.distributions) {
        if (t.params.count(name)) space.emplace(name, d);
      }
      continue;
    }
    std::erase_if(space, [&](const auto& e) {
      auto it = t.distributions.find(e.first);
      return it == t.distributions.end() || it->second != e.second || !t.params.count(e.first);
    });
  }
  return space;
}

// The samples as forest data: one coordinate per parameter of `space` (a choice by its index,
// a log range in log space), over the declared box widened to every value.
Data Encode(const std::map<std::string, Distribution>& space, const std::vector<Sample>& samples) {
  Data data;
  data.d = space.size();
  for (const auto& [name, d] : space) {
    if (d.is_choice()) {
      data.lo.push_back(-0.5);
      data.hi.push_back(static_cast<double>(d.choices().size()) - 0.5);
    } else {
      data.lo.push_back(d.log() ? std::log(d.low()) : d.low());
      data.hi.push_back(d.log() ? std::log(d.high()) : d.high());
    }
  }
  for (const auto& [t, v] : samples) {
    size_t f = 0;
    for (const auto& [name, d] : space) {
      const ParamValue& p = t->params.at(name);
      double x;
      if (d.is_choice()) {
        StatusOr<double> c = d.ToInternal(p);
        x = c.ok() ? *c : 0.0;
      } else {
        x = std::holds_alternative<int64_t>(p)  ? static_cast<double>(std::get<int64_t>(p))
            : std::holds_alternative<double>(p) ? std::get<double>(p)
                                                : 0.0;
        if (d.log()) x = std::log(std::max(x, 1e-300));
      }
      // A value outside the declared box (added by hand) widens it.
      data.lo[f] = std::min(data.lo[f], x);
      data.hi[f] = std::max(data.hi[f], x);
      data.x.push_back(x);
      ++f;
    }
    data.y.push_back(v);
  }
  for (size_t f = 0; f < data.d; ++f) {
    if (!(data.hi[f] > data.lo[f])) data.hi[f] = data.lo[f] + 1;  // a one-point range
  }
  return data;
}

}  // namespace

StatusOr<std::vector<std::pair<std::string, double>>> FanovaImportances(
    const std::vector<FrozenTrial>& trials, const FanovaOptions& options) {
  if (options.n_trees < 1 || options.max_depth < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("fanova: n_trees and max_depth must be >= 1, "
                     "got ",
                     options.n_trees, " and ", options.max_depth));
  }
  if (options.objective < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("objective must be an index (0 or more), not ", options.objective));
  }
  const size_t k = static_cast<size_t>(options.objective);
  std::vector<Sample> samples;
  for (const FrozenTrial& t : trials) {
    if (t.state != TrialState::kComplete || !t.has_value) continue;
    const double v =
        t.values.empty() ? (k == 0 ? t.value : NAN) : (k < t.values.size() ? t.values[k] : NAN);
    if (std::isfinite(v)) samples.emplace_back(&t, v);
  }
  const std::map<std::string, Distribution> space = SharedSpace(samples);
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [name, d] : space) out.emplace_back(name, 0.0);
  if (samples.size() < 2 || space.empty()) return out;

  const Data data = Encode(space, samples);
  const size_t n = samples.size();
  std::vector<double> sum(data.d, 0.0);
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(n - 1));
  for (int tree = 0; tree < options.n_trees; ++tree) {
    std::vector<uint32_t> idx(n);
    for (uint32_t& i : idx) i = pick(rng);  // bootstrap
    std::vector<Leaf> leaves;
    Grow(data, std::move(idx), 0, options.max_depth, data.lo, data.hi, &leaves);
    std::vector<double> imp = TreeImportances(data, leaves);
    for (size_t f = 0; f < data.d; ++f) sum[f] += imp[f];
  }
  const double total = std::accumulate(sum.begin(), sum.end(), 0.0);
  for (size_t f = 0; f < data.d; ++f) out[f].second = total > 0 ? sum[f] / total : 0.0;
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

}  // namespace mlcore::hpo
