#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hpo/builtin.h"
#include "mlcore/hpo/sampler.h"

namespace mlcore::hpo {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, SamplerFactory> factories;
};

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    r->factories["random"] = &internal::NewRandomSampler;
    r->factories["grid"] = &internal::NewGridSampler;
    r->factories["tpe"] = &internal::NewTpeSampler;
    r->factories["nsga2"] = &internal::NewNsga2SamplerFromOptions;
    r->factories["gp"] = &internal::NewGpSampler;
    r->factories["cmaes"] = &internal::NewCmaEsSampler;
    r->factories["sobol"] = &internal::NewSobolSampler;
    return r;
  }();
  return *registry;
}

}  // namespace

StatusOr<std::map<std::string, double>> Sampler::SampleRelative(const SamplerContext&,
                                                                const FrozenTrial&) {
  return std::map<std::string, double>();
}

Status RegisterSampler(const std::string& name, SamplerFactory factory) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.factories.emplace(name, std::move(factory)).second) {
    return absl::AlreadyExistsError(absl::StrCat("a sampler named '", name, "' is registered"));
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<Sampler>> CreateSampler(const std::string& name,
                                                 const SamplerOptions& options) {
  SamplerFactory factory;
  {
    Registry& r = GetRegistry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.factories.find(name);
    if (it == r.factories.end()) {
      std::vector<std::string> names;
      for (const auto& [n, f] : r.factories) names.push_back(n);
      return absl::InvalidArgumentError(
          absl::StrCat("unknown sampler '", name, "' (known: ", absl::StrJoin(names, ", "), ")"));
    }
    factory = it->second;
  }
  return factory(options);
}

std::vector<std::string> SamplerNames() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (const auto& [n, f] : r.factories) names.push_back(n);
  return names;
}

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
