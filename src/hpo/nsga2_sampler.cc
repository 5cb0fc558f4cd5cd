// NSGA-II without state of its own: the parents of generation g are recomputed from the trials
// of generations < g (the best population_size by rank, then crowding distance), so any number
// of processes sharing a study breed the same way, and the sampler survives a restart.
#include "mlcore/hpo/nsga2_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "hpo/builtin.h"
#include "mlcore/hpo/pareto.h"

namespace mlcore::hpo {
namespace {

struct Ranked {
  const FrozenTrial* trial;
  int rank;
  double crowding;
};

// Binary tournament: lower rank wins, then larger crowding distance.
const Ranked& Tournament(const std::vector<Ranked>& pop, std::mt19937_64& rng) {
  std::uniform_int_distribution<size_t> pick(0, pop.size() - 1);
  const Ranked& a = pop[pick(rng)];
  const Ranked& b = pop[pick(rng)];
  if (a.rank != b.rank) return a.rank < b.rank ? a : b;
  return a.crowding >= b.crowding ? a : b;
}

// Numbers are bred on the scale they are sampled on: log for log ranges, index for discrete.
double ToBreedScale(const Distribution& d, double internal) {
  return d.log() ? std::log(internal) : internal;
}
double FromBreedScale(const Distribution& d, double x) { return d.log() ? std::exp(x) : x; }
double BreedLow(const Distribution& d) { return ToBreedScale(d, d.low()); }
double BreedHigh(const Distribution& d) { return ToBreedScale(d, d.high()); }

class Nsga2Sampler : public Sampler {
 public:
  Nsga2Sampler(const Nsga2Options& o, uint64_t seed) : o_(o), seed_(seed) {}
  std::string name() const override { return "nsga2"; }

  StatusOr<std::map<std::string, double>> SampleRelative(const SamplerContext& context,
                                                         const FrozenTrial& trial) override {
    std::map<std::string, double> out;
    const int64_t generation = trial.number / o_.population_size;
    if (generation == 0) return out;
    std::vector<Ranked> parents = Parents(context, generation);
    if (parents.size() < 2) return out;
    // The space every parent shares, with the same distribution.
    std::map<std::string, const Distribution*> space;
    for (const auto& [name, d] : parents[0].trial->distributions) space[name] = &d;
    for (const Ranked& p : parents) {
      for (auto it = space.begin(); it != space.end();) {
        auto d = p.trial->distributions.find(it->first);
        if (d == p.trial->distributions.end() || d->second != *it->second) {
          it = space.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (space.empty()) return out;
    std::mt19937_64 rng(TrialSeed(seed_, trial.number, "nsga2"));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const FrozenTrial& a = *Tournament(parents, rng).trial;
    const FrozenTrial& b = *Tournament(parents, rng).trial;
    const bool cross = u(rng) < o_.crossover_prob;
    const double mutation =
        o_.mutation_prob.value_or(1.0 / static_cast<double>(std::max<size_t>(space.size(), 1)));
    for (const auto& [name, d] : space) {
      std::optional<double> va = a.InternalParam(name);
      std::optional<double> vb = b.InternalParam(name);
      if (!va.has_value() || !vb.has_value()) continue;
      const bool mutate = u(rng) < mutation;
      if (d->type() == ParamType::kCategorical) {
        // A mutated category is left to SampleIndependent: a fresh uniform draw.
        if (mutate) continue;
        out[name] = (cross && u(rng) < o_.swapping_prob) ? *vb : *va;
        continue;
      }
      const double lo = BreedLow(*d);
      const double hi = BreedHigh(*d);
      double x = ToBreedScale(*d, *va);
      if (cross) x = Sbx(x, ToBreedScale(*d, *vb), lo, hi, rng);
      if (mutate) x = PolynomialMutation(x, lo, hi, rng);
      out[name] = d->Snap(FromBreedScale(*d, std::clamp(x, lo, hi)));
    }
    return out;
  }

  StatusOr<double> SampleIndependent(const SamplerContext&, const FrozenTrial& trial,
                                     const std::string& name, const Distribution& d) override {
    return internal::SampleUniform(d, TrialSeed(seed_, trial.number, name));
  }

 private:
  // The best population_size complete trials of generations before `generation`, ranked.
  std::vector<Ranked> Parents(const SamplerContext& context, int64_t generation) {
    const int64_t limit = generation * o_.population_size;
    std::vector<const FrozenTrial*> pool;
    std::vector<std::vector<double>> points;
    for (const auto& t : context.trials) {
      if (t->number >= limit || t->state != TrialState::kComplete) continue;
      if (t->values.size() != context.directions.size()) continue;
      pool.push_back(t.get());
      points.push_back(t->values);
    }
    // Parents change only when a trial of an earlier generation finishes: cache on that.
    if (cached_generation_ == generation && cached_pool_size_ == pool.size()) return cached_;
    std::vector<Ranked> parents;
    std::vector<std::vector<int>> fronts = NonDominatedSort(points, context.directions);
    for (size_t rank = 0; rank < fronts.size(); ++rank) {
      const std::vector<int>& front = fronts[rank];
      std::vector<double> crowding = CrowdingDistance(points, front);
      std::vector<size_t> order(front.size());
      std::iota(order.begin(), order.end(), 0);
      // Most isolated first; ties by trial number, so the choice is reproducible.
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t x, size_t y) { return crowding[x] > crowding[y]; });
      for (size_t i : order) {
        if (parents.size() >= static_cast<size_t>(o_.population_size)) break;
        parents.push_back({pool[front[i]], static_cast<int>(rank), crowding[i]});
      }
      if (parents.size() >= static_cast<size_t>(o_.population_size)) break;
    }
    cached_generation_ = generation;
    cached_pool_size_ = pool.size();
    cached_ = parents;
    return parents;
  }

  // Simulated binary crossover (Deb and Agrawal, 1995), bounded form: one child of x1 and x2.
  double Sbx(double x1, double x2, double lo, double hi, std::mt19937_64& rng) const {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    if (std::abs(x1 - x2) < 1e-14 || !(hi > lo)) return x1;
    const double y1 = std::min(x1, x2);
    const double y2 = std::max(x1, x2);
    const double eta = o_.eta_crossover;
    auto beta_q = [&](double beta, double r) {
      const double alpha = 2.0 - std::pow(beta, -(eta + 1.0));
      if (r <= 1.0 / alpha) return std::pow(r * alpha, 1.0 / (eta + 1.0));
      return std::pow(1.0 / (2.0 - r * alpha), 1.0 / (eta + 1.0));
    };
    const double r = u(rng);
    double child;
    if (u(rng) < 0.5) {
      const double beta = 1.0 + 2.0 * (y1 - lo) / (y2 - y1);
      child = 0.5 * ((y1 + y2) - beta_q(beta, r) * (y2 - y1));
    } else {
      const double beta = 1.0 + 2.0 * (hi - y2) / (y2 - y1);
      child = 0.5 * ((y1 + y2) + beta_q(beta, r) * (y2 - y1));
    }
    return std::clamp(child, lo, hi);
  }

  // Polynomial mutation (Deb and Goyal, 1996), bounded form.
  double PolynomialMutation(double x, double lo, double hi, std::mt19937_64& rng) const {
    if (!(hi > lo)) return x;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double eta = o_.eta_mutation;
    const double d1 = (x - lo) / (hi - lo);
    const double d2 = (hi - x) / (hi - lo);
    const double r = u(rng);
    const double power = 1.0 / (eta + 1.0);
    double dq;
    if (r < 0.5) {
      const double v = 2.0 * r + (1.0 - 2.0 * r) * std::pow(1.0 - d1, eta + 1.0);
      dq = std::pow(v, power) - 1.0;
    } else {
      const double v = 2.0 * (1.0 - r) + 2.0 * (r - 0.5) * std::pow(1.0 - d2, eta + 1.0);
      dq = 1.0 - std::pow(v, power);
    }
    return std::clamp(x + dq * (hi - lo), lo, hi);
  }

  Nsga2Options o_;
  uint64_t seed_;
  int64_t cached_generation_ = -1;
  size_t cached_pool_size_ = 0;
  std::vector<Ranked> cached_;
};

Status CheckProbability(double p, const char* field) {
  if (!(p >= 0.0 && p <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("nsga2: ", field, " must be in [0, 1], got ", p));
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Sampler>> NewNsga2Sampler(const Nsga2Options& options) {
  if (options.population_size < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("nsga2: population_size must be >= 2, got ", options.population_size));
  }
  MLCORE_RETURN_IF_ERROR(CheckProbability(options.crossover_prob, "crossover_prob"));
  MLCORE_RETURN_IF_ERROR(CheckProbability(options.swapping_prob, "swapping_prob"));
  if (options.mutation_prob.has_value()) {
    MLCORE_RETURN_IF_ERROR(CheckProbability(*options.mutation_prob, "mutation_prob"));
  }
  if (!(options.eta_crossover > 0) || !(options.eta_mutation > 0)) {
    return absl::InvalidArgumentError("nsga2: eta_crossover and eta_mutation must be > 0");
  }
  return std::unique_ptr<Sampler>(new Nsga2Sampler(options, internal::ResolveSeed(options.seed)));
}

namespace {

StatusOr<std::unique_ptr<Sampler>> NewNsga2SamplerFromOptions(const SamplerOptions& options) {
  Nsga2Options o;
  o.seed = options.seed;
  o.population_size = options.nsga2_population_size;
  o.crossover_prob = options.nsga2_crossover_prob;
  o.mutation_prob = options.nsga2_mutation_prob;
  return NewNsga2Sampler(o);
}

Registrar<SamplerFactory> registration(SamplerRegistry(), "nsga2", &NewNsga2SamplerFromOptions);

}  // namespace

}  // namespace mlcore::hpo
