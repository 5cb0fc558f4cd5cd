// Tree-structured Parzen Estimator (Bergstra et al. 2011; multivariate variant of Falkner et al.
// 2018): split the trials into the best gamma fraction and the rest, model each group with a
// Parzen estimator l(x) and g(x), and pick the candidate drawn from l that maximizes l(x)/g(x).
// With constant_liar, running trials join the "rest" so parallel workers avoid each other.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "hpo/builtin.h"
#include "hpo/parzen_estimator.h"

namespace mlcore::hpo::internal {
namespace {

// How a trial ranks: complete trials by value, then pruned ones by how far they got (further is
// better) and their last value, then running ones (the constant lie: worst of all).
struct Ranked {
  int group;
  double key1;
  double key2;
  const FrozenTrial* trial;
  size_t index;  // in the snapshot, whose shared_ptr keeps the trial alive
  bool operator<(const Ranked& o) const {
    return std::tie(group, key1, key2) < std::tie(o.group, o.key1, o.key2);
  }
};

class TpeSampler : public Sampler {
 public:
  TpeSampler(const SamplerOptions& options, uint64_t seed) : options_(options), seed_(seed) {}
  std::string name() const override { return "tpe"; }

  StatusOr<std::map<std::string, double>> SampleRelative(const SamplerContext& context,
                                                         const FrozenTrial& trial) override {
    std::map<std::string, double> out;
    if (!options_.multivariate) return out;
    // The intersection of the spaces of complete trials: what every good trial agrees on.
    const std::vector<std::pair<std::string, Distribution>>& space = Intersection(context);
    if (space.empty()) return out;
    std::vector<Distribution> distributions;
    for (const auto& [name, d] : space) distributions.push_back(d);
    std::vector<ParzenDim> dims;
    for (const Distribution& d : distributions) dims.emplace_back(d);

    std::vector<std::string> names;
    for (const auto& [name, d] : space) names.push_back(name);
    std::vector<double> below, above;
    std::vector<int64_t> below_numbers, above_numbers;
    Orders orders;
    if (!Split(context, names, distributions, dims, &below, &above, &below_numbers, &above_numbers,
               &orders)) {
      return out;
    }
    std::mt19937_64 rng(TrialSeed(seed_, trial.number, "tpe-relative"));
    std::vector<double> best =
        Choose(rng, dims, below, below_numbers, above, above_numbers, orders);
    for (size_t i = 0; i < names.size(); ++i) out[names[i]] = dims[i].Backward(best[i]);
    return out;
  }

  StatusOr<double> SampleIndependent(const SamplerContext& context, const FrozenTrial& trial,
                                     const std::string& name, const Distribution& d) override {
    std::vector<Distribution> distributions = {d};
    std::vector<ParzenDim> dims = {ParzenDim(distributions[0])};
    std::vector<double> below, above;
    std::vector<int64_t> below_numbers, above_numbers;
    Orders orders;
    if (!Split(context, {name}, distributions, dims, &below, &above, &below_numbers, &above_numbers,
               &orders)) {
      return SampleUniform(d, TrialSeed(seed_, trial.number, name));
    }
    std::mt19937_64 rng(TrialSeed(seed_, trial.number, name));
    std::vector<double> best =
        Choose(rng, dims, below, below_numbers, above, above_numbers, orders);
    return dims[0].Backward(best[0]);
  }

 private:
  struct Column;  // below

  // Per dim, each group's observation indices in ascending order of value (ties by index), for
  // the estimators; empty when not computed (they sort then).
  struct Orders {
    bool valid = false;
    std::vector<std::vector<uint32_t>> below, above;
  };

  // Fills the two groups with the trials that have every one of `names` with the same
  // distribution. False while too few trials are finished (random start-up).
  bool Split(const SamplerContext& context, const std::vector<std::string>& names,
             const std::vector<Distribution>& distributions, const std::vector<ParzenDim>& dims,
             std::vector<double>* below, std::vector<double>* above,
             std::vector<int64_t>* below_numbers, std::vector<int64_t>* above_numbers,
             Orders* orders) const {
    const RankCache& cache = Rank(context);
    if (cache.finished < std::max(options_.n_startup_trials, 1)) return false;
    const std::vector<Ranked>& ranked = cache.ranked;
    // Keep the trials that have the parameters; remember their rank order.
    std::vector<Column*> columns(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      Column& col = columns_[names[i]];
      if (!col.distribution.has_value() || *col.distribution != distributions[i]) {
        col.name = names[i];
        col.distribution = distributions[i];
        col.by_number.clear();
        col.sorted.clear();
      }
      columns[i] = &col;
    }
    // Rows of the usable trials, flat (one allocation rather than one per trial).
    const size_t width = names.size();
    std::vector<const Ranked*> usable;
    std::vector<double> rows;
    usable.reserve(ranked.size());
    rows.reserve(ranked.size() * width);
    for (const Ranked& r : ranked) {
      const size_t at = rows.size();
      rows.resize(at + width);
      bool ok = true;
      for (size_t i = 0; i < width && ok; ++i) {
        const Cell& cell = Lookup(*columns[i], context.trials[r.index], dims[i]);
        ok = cell.ok;
        rows[at + i] = cell.y;
      }
      if (ok) {
        usable.push_back(&r);
      } else {
        rows.resize(at);
      }
    }
    if (usable.empty()) return false;
    // The good group is the best gamma fraction of ALL finished trials, of which those that
    // have the parameters model l(x). (Taking the best fraction of the trials that have them
    // put the best trials of a poor branch of a conditional space into l(x), so TPE kept
    // sampling that branch's parameters as if they were good.)
    const size_t n_below = static_cast<size_t>(
        std::min(std::ceil(options_.gamma * static_cast<double>(cache.finished)), 25.0));
    below->reserve(std::min(n_below, usable.size()) * width);
    above->reserve(usable.size() * width);
    std::vector<uint32_t> group_index(usable.size());
    std::vector<uint8_t> in_below(usable.size());
    // Each group holds its trials in trial order (the snapshot's), as Optuna's estimators get
    // them, not in rank order: the estimators break ties between equal values by position, and
    // among trials tied at one int value the first and last of the run get wide kernels and
    // the rest the narrowest. In rank order the best trial at every int value got a wide one,
    // which skewed the joint estimators (multivariate TPE on the benchmark's float + int +
    // categorical problem: median best 0.0096 in rank order, 0.0011 in trial order, Optuna's
    // 0.0009, 20 seeds).
    std::vector<int32_t> by_position(context.trials.size(), -1);
    for (size_t i = 0; i < usable.size(); ++i) {
      by_position[usable[i]->index] = static_cast<int32_t>(i);
    }
    for (int32_t slot : by_position) {
      if (slot < 0) continue;
      const size_t i = static_cast<size_t>(slot);
      const size_t rank = static_cast<size_t>(usable[i] - ranked.data());
      bool is_below = rank < n_below && usable[i]->group < 3;
      const double* row = rows.data() + i * width;
      std::vector<double>* group = is_below ? below : above;
      in_below[i] = is_below;
      group_index[i] = static_cast<uint32_t>(group->size() / width);
      group->insert(group->end(), row, row + width);
      (is_below ? below_numbers : above_numbers)->push_back(usable[i]->trial->number);
    }
    SortedOrders(usable, rows, width, dims, columns, group_index, in_below, *below, *above, orders);
    return true;
  }

  // The estimators' orders from each column's observations sorted at the last ask: entries of
  // trials still usable with the same value are kept in place, the rest are dropped, new ones
  // sorted and merged in, so an ask sorts only the trials that are new since the last one.
  void SortedOrders(const std::vector<const Ranked*>& usable, const std::vector<double>& rows,
                    size_t width, const std::vector<ParzenDim>& dims,
                    const std::vector<Column*>& columns, const std::vector<uint32_t>& group_index,
                    const std::vector<uint8_t>& in_below, const std::vector<double>& below,
                    const std::vector<double>& above, Orders* orders) const {
    int64_t max_number = -1;
    for (const Ranked* u : usable) {
      const int64_t k = u->trial->number;
      if (k < 0 || k > (int64_t{1} << 24)) return;  // the estimators sort
      max_number = std::max(max_number, k);
    }
    std::vector<int32_t> at(static_cast<size_t>(max_number + 1), -1);
    for (size_t i = 0; i < usable.size(); ++i) {
      at[static_cast<size_t>(usable[i]->trial->number)] = static_cast<int32_t>(i);
    }
    orders->below.assign(width, {});
    orders->above.assign(width, {});
    std::vector<uint8_t> kept(usable.size());
    std::vector<std::pair<double, int64_t>> next, fresh;
    for (size_t d = 0; d < width; ++d) {
      if (dims[d].categorical) continue;
      std::vector<std::pair<double, int64_t>>& sorted = columns[d]->sorted;
      std::fill(kept.begin(), kept.end(), 0);
      next.clear();
      next.reserve(usable.size());
      for (const auto& e : sorted) {
        if (e.second > max_number) continue;
        const int32_t i = at[static_cast<size_t>(e.second)];
        if (i < 0 || kept[i] || rows[i * width + d] != e.first) continue;
        kept[i] = 1;
        next.push_back(e);
      }
      fresh.clear();
      for (size_t i = 0; i < usable.size(); ++i) {
        if (!kept[i]) fresh.emplace_back(rows[i * width + d], usable[i]->trial->number);
      }
      std::sort(fresh.begin(), fresh.end());
      sorted.resize(next.size() + fresh.size());
      std::merge(next.begin(), next.end(), fresh.begin(), fresh.end(), sorted.begin());
      std::vector<uint32_t>& lo = orders->below[d];
      std::vector<uint32_t>& hi = orders->above[d];
      for (const auto& e : sorted) {
        const int32_t i = at[static_cast<size_t>(e.second)];
        (in_below[i] ? lo : hi).push_back(group_index[i]);
      }
      TiesByIndex(lo, below, width, d);
      TiesByIndex(hi, above, width, d);
    }
    orders->valid = true;
  }

  // Within each run of equal values, ascending index (as a sort of (value, index) pairs gives).
  static void TiesByIndex(std::vector<uint32_t>& order, const std::vector<double>& obs,
                          size_t width, size_t d) {
    for (size_t r = 0; r < order.size();) {
      const double v = obs[order[r] * width + d];
      size_t e = r + 1;
      while (e < order.size() && obs[order[e] * width + d] == v) ++e;
      if (e - r > 1) std::sort(order.begin() + r, order.begin() + e);
      r = e;
    }
  }

  // One parameter's value in one trial, in the estimator's space; ok is false where the trial
  // lacks the parameter or has it with another distribution.
  struct Cell {
    std::shared_ptr<const FrozenTrial> trial;  // the version it was read from
    bool ok = false;
    double y = 0;
  };
  // Per parameter name, the cells of every trial by trial number. Stored trials are immutable
  // (a change makes a new object), so a cell stays valid while its trial pointer is the same:
  // each ask reads the maps of new or changed trials only.
  struct Column {
    std::string name;
    std::optional<Distribution> distribution;
    std::vector<Cell> by_number;
    // (value, trial number) of the usable trials at the last ask, ascending.
    std::vector<std::pair<double, int64_t>> sorted;
  };

  static Cell Read(const std::shared_ptr<const FrozenTrial>& t, const Distribution& distribution,
                   const ParzenDim& dim, const std::string& name) {
    Cell cell{t, false, 0};
    auto d = t->distributions.find(name);
    if (d == t->distributions.end() || d->second != distribution) return cell;
    auto p = t->params.find(name);
    if (p == t->params.end()) return cell;
    // Stored values already lie in their distribution: numbers need no validation.
    double v;
    if (!distribution.is_choice() && std::holds_alternative<double>(p->second)) {
      v = std::get<double>(p->second);
    } else if (!distribution.is_choice() && std::holds_alternative<int64_t>(p->second)) {
      v = static_cast<double>(std::get<int64_t>(p->second));
    } else {
      StatusOr<double> c = distribution.ToInternal(p->second);
      if (!c.ok()) return cell;
      v = *c;
    }
    cell.ok = true;
    cell.y = dim.Forward(v);
    return cell;
  }

  const Cell& Lookup(Column& col, const std::shared_ptr<const FrozenTrial>& t,
                     const ParzenDim& dim) const {
    if (t->number < 0 || t->number > (int64_t{1} << 24)) {
      scratch_ = Read(t, *col.distribution, dim, col.name);
      return scratch_;
    }
    const size_t k = static_cast<size_t>(t->number);
    if (k >= col.by_number.size()) col.by_number.resize(k + 1);
    Cell& cell = col.by_number[k];
    if (cell.trial != t) cell = Read(t, *col.distribution, dim, col.name);
    return cell;
  }

  // The intersection of the complete trials' spaces, kept between asks: a complete trial
  // seen before (the same immutable object) cannot narrow it again, so an ask intersects only
  // the trials completed since the last one (the full pass was a fifth of a multivariate ask
  // at 1,000 trials). A trial number seen with another object starts over.
  const std::vector<std::pair<std::string, Distribution>>& Intersection(
      const SamplerContext& context) const {
    SpaceCache& c = space_cache_;
    for (int pass = 0; pass < 2; ++pass) {
      bool restart = false;
      for (const auto& t : context.trials) {
        if (t->state != TrialState::kComplete) continue;
        const int64_t k = t->number;
        if (k < 0 || k > (int64_t{1} << 24)) {
          restart = pass == 0;  // no slot to remember it by: intersect it every ask
          if (!restart) Narrow(&c, *t);
          if (restart) break;
          continue;
        }
        const size_t slot = static_cast<size_t>(k);
        if (slot >= c.seen.size()) c.seen.resize(slot + 1);
        if (c.seen[slot] == t) continue;
        if (c.seen[slot] != nullptr) {
          restart = true;
          break;
        }
        c.seen[slot] = t;
        Narrow(&c, *t);
      }
      if (!restart) break;
      c = SpaceCache{};
      if (pass == 1) break;
    }
    return c.space;
  }

  struct SpaceCache {
    std::vector<std::shared_ptr<const FrozenTrial>> seen;  // by trial number (held: see Rank)
    bool started = false;
    std::vector<std::pair<std::string, Distribution>> space;
  };

  static void Narrow(SpaceCache* c, const FrozenTrial& t) {
    if (!c->started) {
      for (const auto& [name, d] : t.distributions) c->space.emplace_back(name, d);
      c->started = true;
      return;
    }
    std::erase_if(c->space, [&](const auto& entry) {
      auto it = t.distributions.find(entry.first);
      return it == t.distributions.end() || it->second != entry.second;
    });
  }

  struct RankCache {
    // The snapshot ranked: its trial objects are held, so a pointer seen again is the same
    // immutable trial (an address cannot be reused while it is held here).
    TrialList snapshot;
    std::vector<Ranked> ranked;
    int finished = 0;
    double sign = 0;  // of the direction ranked for (0: none yet)
  };

  // The trials in rank order. Every parameter of one ask sees the same snapshot, so the ranking
  // is computed once per snapshot rather than once per parameter. Two snapshots are the same
  // when they hold the same trial objects in the same order (trials are immutable); comparing
  // the pointers costs a nanosecond per trial, far below ranking them.
  const RankCache& Rank(const SamplerContext& context) const {
    const TrialList& trials = context.trials;
    if (!cache_.snapshot.empty() && cache_.snapshot.size() == trials.size() &&
        std::equal(trials.begin(), trials.end(), cache_.snapshot.begin(),
                   [](const auto& a, const auto& b) { return a.get() == b.get(); })) {
      return cache_;
    }
    const double sign = context.direction == StudyDirection::kMinimize ? 1.0 : -1.0;
    RankCache& c = cache_;
    // The ranking of the trials before the first one that differs from the last snapshot still
    // holds (same immutable objects at the same places): keep it, rank the rest (in a loop, the
    // trial just finished and the new one) and merge. Kept entries have the smaller indices, so
    // the merge orders ties as the stable sort of all of them would.
    size_t p = 0;
    if (c.sign == sign) {
      const size_t m = std::min(trials.size(), c.snapshot.size());
      while (p < m && trials[p].get() == c.snapshot[p].get()) ++p;
    }
    std::erase_if(c.ranked, [p](const Ranked& r) { return r.index >= p; });
    std::vector<Ranked> fresh;
    for (size_t i = p; i < context.trials.size(); ++i) {
      const std::shared_ptr<const FrozenTrial>& t = context.trials[i];
      Ranked r{0, 0, 0, t.get(), i};
      switch (t->state) {
        case TrialState::kComplete:
          if (!t->has_value) continue;
          r = {0, sign * t->value, 0, t.get(), i};
          break;
        case TrialState::kPruned: {
          auto last = t->LastIntermediate();
          if (last.has_value() && !std::isnan(last->second)) {
            r = {1, -static_cast<double>(last->first), sign * last->second, t.get(), i};
          } else {
            r = {2, 0, 0, t.get(), i};
          }
          break;
        }
        case TrialState::kRunning:
          if (!options_.constant_liar) continue;
          r = {3, 0, 0, t.get(), i};
          break;
        default:
          continue;
      }
      fresh.push_back(r);
    }
    std::stable_sort(fresh.begin(), fresh.end());
    const size_t kept = c.ranked.size();
    c.ranked.insert(c.ranked.end(), fresh.begin(), fresh.end());
    std::inplace_merge(c.ranked.begin(), c.ranked.begin() + kept, c.ranked.end());
    c.finished = static_cast<int>(std::count_if(c.ranked.begin(), c.ranked.end(),
                                                [](const Ranked& r) { return r.group < 3; }));
    c.snapshot = trials;
    c.sign = sign;
    return c;
  }

  // Older trials weigh less once there are more than 25 (the ramp of the TPE paper's code).
  static std::vector<double> Weights(const std::vector<int64_t>& numbers) {
    const size_t n = numbers.size();
    std::vector<double> w(n, 1.0);
    if (n <= 25) return w;
    // Rank by trial number with a counting pass (numbers are distinct and below the largest).
    int64_t max_number = 0;
    for (int64_t k : numbers) max_number = std::max(max_number, k);
    std::vector<int32_t> slot(static_cast<size_t>(max_number) + 1, -1);
    for (size_t i = 0; i < n; ++i) slot[static_cast<size_t>(numbers[i])] = static_cast<int32_t>(i);
    const size_t ramp = n - 25;
    size_t r = 0;
    for (int32_t i : slot) {
      if (i < 0) continue;
      if (r >= ramp) break;
      w[static_cast<size_t>(i)] = 1.0 / static_cast<double>(n) +
                                  (1.0 - 1.0 / static_cast<double>(n)) * static_cast<double>(r) /
                                      static_cast<double>(std::max<size_t>(ramp - 1, 1));
      ++r;
    }
    return w;
  }

  std::vector<double> Choose(std::mt19937_64& rng, const std::vector<ParzenDim>& dims,
                             const std::vector<double>& below,
                             const std::vector<int64_t>& below_numbers,
                             const std::vector<double>& above,
                             const std::vector<int64_t>& above_numbers,
                             const Orders& orders) const {
    const bool multi = dims.size() > 1;
    ParzenEstimator l(dims, below, Weights(below_numbers), options_.prior_weight, multi,
                      orders.valid ? &orders.below : nullptr);
    ParzenEstimator g(dims, above, Weights(above_numbers), options_.prior_weight, multi,
                      orders.valid ? &orders.above : nullptr);
    std::vector<std::vector<double>> candidates =
        l.Sample(rng, std::max(options_.n_ei_candidates, 1));
    // Score the points the trial would really get: snapped onto steps and integers.
    for (auto& c : candidates) {
      for (size_t d = 0; d < dims.size(); ++d) {
        if (!dims[d].categorical) c[d] = dims[d].Forward(dims[d].Backward(c[d]));
      }
    }
    std::vector<double> log_l = l.LogPdf(candidates);
    std::vector<double> log_g = g.LogPdf(candidates);
    size_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < candidates.size(); ++i) {
      double score = log_l[i] - log_g[i];
      if (score > best_score) {
        best_score = score;
        best = i;
      }
    }
    return candidates[best];
  }

  SamplerOptions options_;
  uint64_t seed_;
  // Samplers are called under the study's sampler lock, so the cache needs no lock of its own.
  mutable RankCache cache_;
  mutable SpaceCache space_cache_;
  mutable std::map<std::string, Column> columns_;
  mutable Cell scratch_;
};

StatusOr<std::unique_ptr<Sampler>> NewTpeSampler(const SamplerOptions& options) {
  if (options.gamma <= 0 || options.gamma > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tpe: gamma must be in (0, 1], got ", options.gamma));
  }
  if (options.prior_weight <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tpe: prior_weight must be > 0, got ", options.prior_weight));
  }
  return std::unique_ptr<Sampler>(new TpeSampler(options, ResolveSeed(options.seed)));
}

Registrar<SamplerFactory> registration(SamplerRegistry(), "tpe", &NewTpeSampler);

}  // namespace

}  // namespace mlcore::hpo::internal
