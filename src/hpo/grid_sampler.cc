// Every combination of a finite grid, each once, in an order shuffled by the seed. The grid is
// the options' or the study's declared space; a float without a step has no grid and is refused.
// Which points are taken is read from the trials themselves, so parallel workers and processes
// sharing the study split the grid between them.
#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "hpo/builtin.h"

namespace mlcore::hpo::internal {
namespace {

constexpr int64_t kMaxGridPoints = 10'000'000;

class GridSampler : public Sampler {
 public:
  GridSampler(std::optional<SearchSpace> grid, uint64_t seed)
      : grid_(std::move(grid)), seed_(seed) {}
  std::string name() const override { return "grid"; }

  StatusOr<std::map<std::string, double>> SampleRelative(const SamplerContext& context,
                                                         const FrozenTrial& trial) override {
    MLCORE_RETURN_IF_ERROR(Build(context));
    std::set<int64_t> used = Used(context, trial.number);
    std::map<std::string, double> out;
    for (int64_t index : order_) {
      if (used.count(index) != 0) continue;
      int64_t rest = index;
      for (size_t i = 0; i < params_.size(); ++i) {
        out[params_[i].name] = params_[i].distribution.GridValue(rest % sizes_[i]);
        rest /= sizes_[i];
      }
      return out;
    }
    // Every point is taken: repeat one (Optimize stops before this through Exhausted).
    if (!order_.empty()) {
      int64_t rest = order_[static_cast<size_t>(trial.number) % order_.size()];
      for (size_t i = 0; i < params_.size(); ++i) {
        out[params_[i].name] = params_[i].distribution.GridValue(rest % sizes_[i]);
        rest /= sizes_[i];
      }
    }
    return out;
  }

  StatusOr<double> SampleIndependent(const SamplerContext&, const FrozenTrial&,
                                     const std::string& name, const Distribution& d) override {
    return absl::InvalidArgumentError(
        absl::StrCat("grid sampler: parameter '", name, "' (", d.DebugString(),
                     ") is not in the grid, or its range differs from the grid's"));
  }

  bool Exhausted(const SamplerContext& context) override {
    if (!Build(context).ok()) return false;
    return static_cast<int64_t>(Used(context, -1).size()) >= static_cast<int64_t>(order_.size());
  }

 private:
  Status Build(const SamplerContext& context) {
    if (built_) return absl::OkStatus();
    const SearchSpace* space = grid_.has_value() ? &*grid_ : context.declared_space;
    if (space == nullptr || space->empty()) {
      return absl::InvalidArgumentError(
          "grid sampler needs a grid: pass SamplerOptions::grid or declare the study's space");
    }
    int64_t total = 1;
    for (const SearchSpace::Param& p : space->params()) {
      std::optional<int64_t> n = p.distribution.size();
      if (!n.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("grid sampler: float parameter '", p.name,
                                                       "' needs a step to have a grid"));
      }
      if (total > kMaxGridPoints / *n) {
        return absl::InvalidArgumentError(
            absl::StrCat("grid sampler: the grid has more than ", kMaxGridPoints, " points"));
      }
      total *= *n;
      params_.push_back(p);
      sizes_.push_back(*n);
    }
    order_.resize(static_cast<size_t>(total));
    std::iota(order_.begin(), order_.end(), 0);
    std::mt19937_64 rng(seed_);
    std::shuffle(order_.begin(), order_.end(), rng);
    built_ = true;
    return absl::OkStatus();
  }

  // Grid indices of the study's trials other than `except`. A conditional parameter a trial
  // lacks (its condition was off) matches every value, so such points count as taken once.
  std::set<int64_t> Used(const SamplerContext& context, int64_t except) const {
    std::set<int64_t> used;
    for (const auto& t : context.trials) {
      if (t->number == except) continue;
      std::vector<int64_t> indices = {0};
      int64_t scale = 1;
      bool on_grid = true;
      for (size_t i = 0; i < params_.size() && on_grid; ++i) {
        std::optional<double> v = t->InternalParam(params_[i].name);
        std::vector<int64_t> ks;
        if (v.has_value()) {
          const Distribution& d = params_[i].distribution;
          double k = d.is_choice() ? *v : (*v - d.low()) / d.step().value_or(1.0);
          ks.push_back(static_cast<int64_t>(std::llround(k)));
        } else if (params_[i].condition.has_value()) {
          for (int64_t k = 0; k < sizes_[i]; ++k) ks.push_back(k);
        } else {
          on_grid = false;
          break;
        }
        std::vector<int64_t> next;
        for (int64_t base : indices) {
          for (int64_t k : ks) next.push_back(base + k * scale);
        }
        indices = std::move(next);
        scale *= sizes_[i];
      }
      if (on_grid) used.insert(indices.begin(), indices.end());
    }
    return used;
  }

  std::optional<SearchSpace> grid_;
  uint64_t seed_;
  bool built_ = false;
  std::vector<SearchSpace::Param> params_;
  std::vector<int64_t> sizes_;
  std::vector<int64_t> order_;
};

StatusOr<std::unique_ptr<Sampler>> NewGridSampler(const SamplerOptions& options) {
  return std::unique_ptr<Sampler>(new GridSampler(options.grid, ResolveSeed(options.seed)));
}

Registrar<SamplerFactory> registration(SamplerRegistry(), "grid", &NewGridSampler);

}  // namespace

}  // namespace mlcore::hpo::internal
