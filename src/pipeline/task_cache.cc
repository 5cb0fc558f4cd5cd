#include "pipeline/task_cache.h"

#include "pipeline/records.h"

namespace mlcore::pipeline::internal {

std::string CacheKey(const std::string& component_digest, const Json& key_inputs) {
  Json k = {{"component", component_digest}, {"inputs", key_inputs}};
  return store::Sha256Hex(k.dump()).value_or("");
}

std::optional<Json> CachedOutputs(RunRecorder& recorder, store::ArtifactStore& artifacts,
                                  const std::string& key) {
  auto rows = recorder.Cached("SELECT outputs FROM pipeline_cache WHERE key = ?1", {key});
  if (!rows.ok() || rows->empty()) return std::nullopt;
  Json outputs = ParseJsonOr(ValueText((*rows)[0][0]), Json());
  if (!outputs.is_object()) return std::nullopt;
  if (outputs.contains("artifacts")) {
    for (auto& [name, a] : outputs["artifacts"].items()) {
      auto has = artifacts.Contains(a.value("digest", ""));
      if (!has.ok() || !*has) return std::nullopt;
    }
  }
  return outputs;
}

}  // namespace mlcore::pipeline::internal
