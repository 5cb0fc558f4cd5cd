// The sampler registry (each built-in sampler registers itself from its own file) and what all
// samplers share.
#include "mlcore/hpo/sampler.h"

namespace mlcore::hpo {

Registry<SamplerFactory>& SamplerRegistry() {
  static auto* registry = new Registry<SamplerFactory>("sampler");
  return *registry;
}

StatusOr<std::map<std::string, double>> Sampler::SampleRelative(const SamplerContext&,
                                                                const FrozenTrial&) {
  return std::map<std::string, double>();
}

Status RegisterSampler(const std::string& name, SamplerFactory factory) {
  return SamplerRegistry().Register(name, std::move(factory));
}

StatusOr<std::unique_ptr<Sampler>> CreateSampler(const std::string& name,
                                                 const SamplerOptions& options) {
  return SamplerRegistry().Create(name, options);
}

std::vector<std::string> SamplerNames() { return SamplerRegistry().Names(); }

uint64_t TrialSeed(uint64_t seed, int64_t trial_number, std::string_view salt) {
  // splitmix64 over the seed, the number and an FNV-1a hash of the salt.
  uint64_t h = 1469598103934665603ull;
  for (char c : salt) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  uint64_t z = seed ^ (static_cast<uint64_t>(trial_number) * 0x9e3779b97f4a7c15ull) ^ h;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace mlcore::hpo
