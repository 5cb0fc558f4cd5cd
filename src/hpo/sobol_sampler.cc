// Quasi-random search: trial k gets point k of a scrambled Sobol sequence (sobol_sequence.h)
// over the study's space, so any first 2^m trials stratify every parameter's range. Each
// parameter takes one coordinate in name order: numeric ones through the unit-cube encoding
// (log ranges in log space, ints and steps on their grid), categorical ones as the choice whose
// slice of [0, 1) holds the coordinate. Define-by-run studies learn their space from the first
// complete trial, which is sampled at random; parameters beyond 64 are sampled at random too.
#include <algorithm>
#include <cmath>
#include <memory>

#include "hpo/builtin.h"
#include "hpo/sobol_sequence.h"
#include "hpo/space_encoding.h"

namespace mlcore::hpo::internal {
namespace {

class SobolSampler : public Sampler {
 public:
  SobolSampler(const SamplerOptions& options, uint64_t seed) : options_(options), seed_(seed) {}
  std::string name() const override { return "sobol"; }

  StatusOr<std::map<std::string, double>> SampleRelative(const SamplerContext& context,
                                                         const FrozenTrial& trial) override {
    std::map<std::string, double> out;
    std::vector<std::pair<std::string, Distribution>> space = IntersectionSpace(context);
    if (space.empty() || trial.number < 0) return out;
    if (space.size() > SobolSequence::kMaxDimensions) space.resize(SobolSequence::kMaxDimensions);
    const int dims = static_cast<int>(space.size());
    if (sequence_ == nullptr || sequence_->dimensions() != dims) {
      sequence_ = std::make_unique<SobolSequence>(dims, options_.sobol_scramble,
                                                  TrialSeed(seed_, -1, "sobol"));
    }
    std::vector<double> u = sequence_->Point(static_cast<uint32_t>(trial.number));
    for (int j = 0; j < dims; ++j) {
      const auto& [name, d] = space[j];
      if (d.type() == ParamType::kCategorical) {
        const double k = static_cast<double>(d.choices().size());
        out[name] = std::min(std::floor(u[j] * k), k - 1);
        continue;
      }
      SpaceEncoding one({{name, d}}, /*include_categorical=*/false);
      std::map<std::string, double> v = one.Decode(&u[j]);
      out[name] = v[name];
    }
    return out;
  }

  StatusOr<double> SampleIndependent(const SamplerContext&, const FrozenTrial& trial,
                                     const std::string& name, const Distribution& d) override {
    return SampleUniform(d, TrialSeed(seed_, trial.number, name));
  }

 private:
  SamplerOptions options_;
  uint64_t seed_;
  std::unique_ptr<SobolSequence> sequence_;
};

StatusOr<std::unique_ptr<Sampler>> NewSobolSampler(const SamplerOptions& options) {
  return std::unique_ptr<Sampler>(new SobolSampler(options, ResolveSeed(options.seed)));
}

Registrar<SamplerFactory> registration(SamplerRegistry(), "sobol", &NewSobolSampler);

}  // namespace

}  // namespace mlcore::hpo::internal
