#include "pipeline/task_cache.h"

#include "mlcore/core/logging.h"
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
      const std::string digest = a.value("digest", "");
      if (a.value("directory", false)) {
        // A manifest says nothing of its files: each is checked, and a damaged tree is no hit
        // (the task runs again; a reader of the damaged copy fails naming the bad file).
        Status st = artifacts.VerifyDirectory(digest);
        if (!st.ok()) {
          MLCORE_LOG(Warning) << "cache entry " << key << ": output '" << name
                              << "' is unusable, running the task again: " << StatusText(st);
          return std::nullopt;
        }
        continue;
      }
      auto has = artifacts.Contains(digest);
      if (!has.ok() || !*has) return std::nullopt;
    }
  }
  return outputs;
}

}  // namespace mlcore::pipeline::internal
