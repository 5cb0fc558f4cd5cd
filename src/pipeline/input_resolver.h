// Internal: a task's inputs as its run resolves them: parameters from the run's arguments,
// constants, loop items and upstream outputs (OneOf picking the branch that ran, Gather
// collecting a loop's iterations), artifacts checked against their digests, and conditions.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "mlcore/pipeline/pipeline.h"
#include "mlcore/store/artifact_store.h"
#include "pipeline/run_results.h"

namespace mlcore::pipeline::internal {

// What ResolveInputs found besides the context's inputs.
struct ResolvedInputs {
  // Set when the task is to be skipped (a OneOf whose every branch was skipped for its
  // upstream): why. Nothing else is set then.
  std::optional<std::string> skip;
  std::map<std::string, Json> used;  // artifact inputs: "name" or "name[i]..." -> upstream entry
  Json key_inputs = Json::object();  // each input as the cache key holds it (when caching)
};

class InputResolver {
 public:
  InputResolver(const Pipeline& pipeline, const RunResults& results,
                const std::map<std::string, Json>& arguments, store::ArtifactStore& artifacts)
      : pipeline_(pipeline), results_(results), arguments_(arguments), artifacts_(artifacts) {}

  // Fills ctx.params (defaults applied), ctx.inputs and ctx.input_lists for `task` run in
  // `scope` (null at the top level). An error fails the task with its message.
  StatusOr<ResolvedInputs> ResolveInputs(const Task& task, const Scope* scope, bool caching,
                                         TaskContext& ctx) const;
  // Resolves a binding to a parameter value or an artifact entry of an upstream task's outputs.
  StatusOr<Json> ResolveParameter(const Task& task, const InputBinding& b,
                                  const Scope* scope) const;
  StatusOr<bool> ConditionsHold(const Task& task, const Scope* scope) const;

 private:
  StatusOr<Json> UpstreamArtifact(const InputBinding& b, const Scope* scope) const;
  // The item of OneOf binding `b` whose task ran (succeeded or cached). When none did:
  // Cancelled if every item was skipped because something upstream failed or was skipped (the
  // reader is skipped too), FailedPrecondition otherwise (the branch that ran gave no item).
  StatusOr<InputBinding> PickBranch(const Task& task, const InputBinding& b,
                                    const Scope* scope) const;
  // Gather's value (under the results' mutex): per iteration of the loops between the
  // consumer's scope and the producer, the producer's output (parameter or artifact entry),
  // nested one list per loop level.
  Json GatherLocked(const InputBinding& b, const Scope* scope) const;
  // An input's ArtifactRef from its upstream entry, checked against its digest (every file of a
  // directory); a directory's path is left for MaterializeInputs.
  StatusOr<ArtifactRef> VerifiedRef(const Json& entry) const;
  // One artifact input (checked against its digest) into ctx.inputs.
  Status ResolveArtifact(const Task& task, const IoSpec& in, const InputBinding& binding,
                         const Scope* scope, bool caching, TaskContext& ctx,
                         ResolvedInputs& out) const;
  // A list input's artifacts from Gather's JSON entries, each checked against its digest; adds
  // each to `used` (lineage, keyed "name[i]...") and its digest to `digests` (the cache key).
  StatusOr<ArtifactList> ResolveArtifactList(const Task& task, const Json& entries,
                                             const std::string& key,
                                             std::map<std::string, Json>* used,
                                             Json* digests) const;

  const Pipeline& pipeline_;
  const RunResults& results_;
  const std::map<std::string, Json>& arguments_;
  store::ArtifactStore& artifacts_;
};

// Copies the directory inputs of ctx (ArtifactRef::directory) into ctx.task_dir/inputs/<name>
// (list items: <name>/<index>), checking every file against its digest, and sets their paths.
// Called before each attempt, so every attempt starts from the stored tree: a task may write
// into its copy without changing what others read.
Status MaterializeInputs(const store::ArtifactStore& artifacts, TaskContext& ctx);

}  // namespace mlcore::pipeline::internal
