// Internal: the pipeline cache as the executor uses it. A task's key is the digest of its
// component's definition and of its inputs as resolved (values, artifact digests); a hit serves
// the outputs a task with the same key recorded, if every artifact among them is still stored.
#pragma once

#include <optional>
#include <string>

#include "mlcore/pipeline/component.h"
#include "mlcore/store/artifact_store.h"
#include "pipeline/run_recorder.h"

namespace mlcore::pipeline::internal {

// `component_digest`: Component::DefinitionDigest; `key_inputs`: ResolvedInputs::key_inputs.
std::string CacheKey(const std::string& component_digest, const Json& key_inputs);

// The outputs recorded under `key`, or nullopt when there are none (or they are unusable: not
// an object, or naming an artifact the store lost).
std::optional<Json> CachedOutputs(RunRecorder& recorder, store::ArtifactStore& artifacts,
                                  const std::string& key);

}  // namespace mlcore::pipeline::internal
