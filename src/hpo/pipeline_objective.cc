#include "mlcore/hpo/pipeline_objective.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mlcore::hpo {
namespace {

using pipeline::Json;

Json ToJson(const ParamValue& v, const pipeline::IoSpec* spec) {
  return std::visit(
      [spec](const auto& x) -> Json {
        using T = std::decay_t<decltype(x)>;
        // An int parameter feeding a float pipeline parameter stays a float in the record.
        if constexpr (std::is_same_v<T, int64_t>) {
          if (spec != nullptr && spec->type == pipeline::ValueType::kFloat) {
            return Json(static_cast<double>(x));
          }
        }
        return Json(x);
      },
      v);
}

bool Active(const SearchSpace::Param& p, const std::map<std::string, ParamValue>& params) {
  if (!p.condition.has_value()) return true;
  auto parent = params.find(p.condition->parent);
  if (parent == params.end()) return false;
  for (const ParamValue& v : p.condition->values) {
    if (v == parent->second) return true;
  }
  return false;
}

}  // namespace

StatusOr<double> PipelineRunMetric(pipeline::Client& client, const pipeline::RunRecord& run,
                                   const std::string& metric) {
  auto out = run.outputs.find(metric);
  if (out != run.outputs.end() && out->is_number()) return out->get<double>();
  MLCORE_ASSIGN_OR_RETURN(std::vector<pipeline::ArtifactRecord> artifacts,
                          client.ListArtifacts(run.id));
  for (auto a = artifacts.rbegin(); a != artifacts.rend(); ++a) {
    if (a->type != "Metrics" || !a->metadata.is_object()) continue;
    auto v = a->metadata.find(metric);
    if (v != a->metadata.end() && v->is_number()) return v->get<double>();
  }
  std::vector<std::string> names;
  for (auto it = run.outputs.begin(); it != run.outputs.end(); ++it) names.push_back(it.key());
  return absl::NotFoundError(absl::StrCat(
      "pipeline run ", run.id, " has no numeric output '", metric,
      "' and no Metrics artifact with '", metric,
      "' in its metadata (outputs: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
}

namespace {

// Waits for the run until its timeout, in short slices when a cancel flag is set: a raised flag
// cancels the run and waits for it to end (its tasks recorded failed) before failing the trial.
StatusOr<pipeline::RunRecord> WaitForRun(pipeline::RunHandle& handle,
                                         const PipelineObjectiveOptions& options) {
  if (options.cancel_flag == nullptr) return handle.Wait(options.timeout);
  const absl::Time deadline = options.timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options.timeout;
  while (true) {
    const absl::Duration slice = std::min(absl::Milliseconds(100), deadline - absl::Now());
    StatusOr<pipeline::RunRecord> record = handle.Wait(std::max(slice, absl::ZeroDuration()));
    if (record.ok() || !absl::IsDeadlineExceeded(record.status())) return record;
    if (options.cancel_flag->load()) {
      handle.Cancel();
      (void)handle.Wait(absl::InfiniteDuration());
      return absl::CancelledError(absl::StrCat("pipeline run ", handle.id(), " interrupted"));
    }
    if (absl::Now() >= deadline) return record;
  }
}

}  // namespace

StatusOr<Objective> MakePipelineObjective(pipeline::Client* client, pipeline::Pipeline pipeline,
                                          SearchSpace space, PipelineObjectiveOptions options) {
  if (client == nullptr) return absl::InvalidArgumentError("the pipeline objective needs a client");
  if (options.metric.empty()) return absl::InvalidArgumentError("the objective metric is empty");
  if (!options.arguments.is_object()) {
    return absl::InvalidArgumentError("the pipeline arguments must be a JSON object");
  }
  std::set<std::string> known;
  for (const pipeline::IoSpec& p : pipeline.parameters()) known.insert(p.name);
  for (const SearchSpace::Param& p : space.params()) {
    if (known.count(p.name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", p.name,
                       "' of the search space is not a parameter of "
                       "pipeline '",
                       pipeline.name(), "' (it has: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return Objective([client, pipeline = std::move(pipeline), space = std::move(space),
                    options = std::move(options)](Trial& trial) -> StatusOr<double> {
    for (const SearchSpace::Param& p : space.params()) {
      if (!Active(p, trial.params())) continue;
      MLCORE_RETURN_IF_ERROR(trial.Suggest(p.name, p.distribution).status());
    }
    pipeline::RunOptions run = options.run;
    run.arguments = options.arguments;
    for (const auto& [name, value] : trial.params()) {
      const pipeline::IoSpec* spec = nullptr;
      for (const pipeline::IoSpec& p : pipeline.parameters()) {
        if (p.name == name) spec = &p;
      }
      // A parameter of a declared study space the pipeline does not take stays out of the run.
      if (spec == nullptr) continue;
      run.arguments[name] = ToJson(value, spec);
    }
    if (!trial.devices().empty()) {
      run.gpu_slots = run.gpu_slots < 0
                          ? static_cast<int>(trial.devices().size())
                          : std::min(run.gpu_slots, static_cast<int>(trial.devices().size()));
    }
    MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<pipeline::RunHandle> handle,
                            client->Start(pipeline, run));
    MLCORE_RETURN_IF_ERROR(trial.SetUserAttr(kPipelineRunIdAttr, Json(handle->id()).dump()));
    StatusOr<pipeline::RunRecord> record = WaitForRun(*handle, options);
    if (!record.ok()) {
      return absl::Status(record.status().code(), absl::StrCat("pipeline run ", handle->id(), ": ",
                                                               record.status().message()));
    }
    if (record->state != pipeline::state::kSucceeded) {
      return absl::AbortedError(absl::StrCat("pipeline run ", record->id, " ", record->state,
                                             record->error.empty() ? "" : ": ", record->error));
    }
    return PipelineRunMetric(*client, *record, options.metric);
  });
}

}  // namespace mlcore::hpo
