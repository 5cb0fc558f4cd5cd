// Independent uniform (or log-uniform) draws; the baseline every other sampler must beat, and
// TPE's start-up phase.
#include <cmath>
#include <random>

#include "hpo/builtin.h"

namespace mlcore::hpo::internal {

uint64_t ResolveSeed(const std::optional<uint64_t>& seed) {
  if (seed.has_value()) return *seed;
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

double SampleUniform(const Distribution& d, uint64_t stream_seed) {
  std::mt19937_64 rng(stream_seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (d.is_choice()) {
    return std::min(std::floor(u(rng) * static_cast<double>(d.choices().size())), d.high());
  }
  double low = d.low(), high = d.high();
  if (d.step().has_value()) {
    // Every grid point equally likely, including both ends.
    double half = *d.step() / 2;
    return d.Snap(low - half + u(rng) * (high - low + 2 * half));
  }
  if (d.log()) return d.Snap(std::exp(std::log(low) + u(rng) * (std::log(high) - std::log(low))));
  if (d.type() == ParamType::kInt) return d.Snap(low - 0.5 + u(rng) * (high - low + 1));
  return d.Snap(low + u(rng) * (high - low));
}

namespace {

class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(uint64_t seed) : seed_(seed) {}
  std::string name() const override { return "random"; }
  bool UsesTrials() const override { return false; }
  StatusOr<double> SampleIndependent(const SamplerContext&, const FrozenTrial& trial,
                                     const std::string& name, const Distribution& d) override {
    return SampleUniform(d, TrialSeed(seed_, trial.number, name));
  }

 private:
  uint64_t seed_;
};

StatusOr<std::unique_ptr<Sampler>> NewRandomSampler(const SamplerOptions& options) {
  return std::unique_ptr<Sampler>(new RandomSampler(ResolveSeed(options.seed)));
}

Registrar<SamplerFactory> registration(SamplerRegistry(), "random", &NewRandomSampler);

}  // namespace

}  // namespace mlcore::hpo::internal
