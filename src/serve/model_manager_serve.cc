// ModelManager, the serving half: inference in process, health, metadata, the repository index,
// statistics and the Prometheus text.
#include <future>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "serve/manager_impl.h"
#include "serve/repository.h"

namespace mlcore::serve {
namespace {

using internal::ServedVersion;

// The version `version` names ("" = the highest ready) of `entry`; call with Impl::mu held.
StatusOr<std::shared_ptr<ServedVersion>> PickVersion(const std::string& name,
                                                     const ModelEntry& entry,
                                                     const std::string& version) {
  if (version.empty()) {
    if (entry.versions.empty()) {
      return absl::UnavailableError(absl::StrCat("model '", name, "' is not ready"));
    }
    return entry.versions.rbegin()->second;
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(version, &v) || v < 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad model version '", version, "'"));
  }
  auto it = entry.versions.find(v);
  if (it == entry.versions.end()) {
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' has no version ", version, " ready"));
  }
  return it->second;
}

StatusOr<std::shared_ptr<ModelEntry>> FindOrNotFound(const ModelManager::Impl& impl,
                                                     const std::string& name) {
  auto it = impl.models.find(name);
  if (it == impl.models.end()) {
    MLCORE_RETURN_IF_ERROR(internal::CheckModelName(name));
    return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  }
  return it->second;
}

}  // namespace

void ModelManager::AsyncInfer(InferRequest request, InferCallback done) {
  auto arrival = internal::Clock::now();
  Status refused;
  {
    std::shared_lock lock(impl_->mu);
    // Enqueue under the shared lock: a reload swaps versions under the exclusive one, so a
    // request is either queued on the old version before it drains or sent to the new one.
    StatusOr<std::shared_ptr<ModelEntry>> entry = FindOrNotFound(*impl_, request.model_name);
    StatusOr<std::shared_ptr<ServedVersion>> served =
        entry.ok() ? PickVersion(request.model_name, **entry, request.model_version)
                   : StatusOr<std::shared_ptr<ServedVersion>>(entry.status());
    if (served.ok()) {
      refused = (*served)->Enqueue(std::move(request), done, arrival);
      if (!refused.ok()) {
        uint64_t ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(internal::Clock::now() - arrival)
                .count();
        (*served)->stats().RecordRequest(false, 0, ns);
      }
    } else {
      refused = served.status();
    }
  }
  if (!refused.ok()) done(refused);
}

StatusOr<InferResponse> ModelManager::Infer(const InferRequest& request) {
  std::promise<StatusOr<InferResponse>> promise;
  std::future<StatusOr<InferResponse>> future = promise.get_future();
  AsyncInfer(request, [&promise](StatusOr<InferResponse> response) {
    promise.set_value(std::move(response));
  });
  return future.get();
}

bool ModelManager::IsLive() const { return impl_->live; }

bool ModelManager::IsReady() const {
  if (!impl_->live) return false;
  std::shared_lock lock(impl_->mu);
  for (const auto& [name, entry] : impl_->models) {
    if (entry->wanted && entry->versions.empty()) return false;
  }
  return true;
}

bool ModelManager::IsModelReady(const std::string& name, const std::string& version) const {
  std::shared_lock lock(impl_->mu);
  auto entry = FindOrNotFound(*impl_, name);
  return entry.ok() && PickVersion(name, **entry, version).ok();
}

StatusOr<ModelMetadata> ModelManager::Metadata(const std::string& name,
                                               const std::string& version) const {
  std::shared_lock lock(impl_->mu);
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, FindOrNotFound(*impl_, name));
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<ServedVersion> served,
                          PickVersion(name, *entry, version));
  ModelMetadata meta;
  meta.name = name;
  for (const auto& [v, unused] : entry->versions) meta.versions.push_back(absl::StrCat(v));
  meta.platform = served->platform();
  meta.inputs = served->signature().inputs;
  meta.outputs = served->signature().outputs;
  return meta;
}

StatusOr<ModelConfig> ModelManager::Config(const std::string& name) const {
  std::shared_lock lock(impl_->mu);
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, FindOrNotFound(*impl_, name));
  if (!entry->versions.empty()) return entry->versions.rbegin()->second->config();
  return entry->config;
}

StatusOr<std::string> ModelManager::Source(const std::string& name) const {
  std::shared_lock lock(impl_->mu);
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, FindOrNotFound(*impl_, name));
  switch (entry->source) {
    case ModelEntry::Source::kPath:
      return entry->path;
    case ModelEntry::Source::kRegistry:
      return absl::StrCat("registry:", entry->reference);
    case ModelEntry::Source::kFactory:
      return std::string("function");
    case ModelEntry::Source::kRepository:
      break;
  }
  return absl::StrCat("repository:", impl_->options.model_repository);
}

std::vector<RepositoryEntry> ModelManager::RepositoryIndex() const {
  std::vector<RepositoryEntry> out;
  std::shared_lock lock(impl_->mu);
  for (const auto& [name, entry] : impl_->models) {
    if (entry->versions.empty()) {
      out.push_back({name, "", entry->state, entry->reason});
      continue;
    }
    for (const auto& [v, served] : entry->versions) {
      out.push_back({name, absl::StrCat(v), entry->state, entry->reason});
    }
  }
  return out;
}

StatusOr<std::vector<ModelStatistics>> ModelManager::Statistics(const std::string& name,
                                                                const std::string& version) const {
  std::vector<ModelStatistics> out;
  std::shared_lock lock(impl_->mu);
  if (!name.empty()) {
    MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<ModelEntry> entry, FindOrNotFound(*impl_, name));
    if (!version.empty()) {
      MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<ServedVersion> served,
                              PickVersion(name, *entry, version));
      out.push_back(served->stats().Snapshot());
      return out;
    }
    for (const auto& [v, served] : entry->versions) out.push_back(served->stats().Snapshot());
    return out;
  }
  for (const auto& [n, entry] : impl_->models) {
    for (const auto& [v, served] : entry->versions) out.push_back(served->stats().Snapshot());
  }
  return out;
}

void ModelManager::RecordFrontendOutcome(const std::string& protocol, int code) {
  std::lock_guard<std::mutex> lock(impl_->outcome_mu);
  ++impl_->outcomes[{protocol, code}];
}

std::string ModelManager::PrometheusMetrics() const {
  std::map<std::string, std::string> families;
  for (const auto& [family, header] : internal::MetricHeaders()) families[family];
  {
    std::shared_lock lock(impl_->mu);
    for (const auto& [name, entry] : impl_->models) {
      std::string model = internal::EscapeLabel(name);
      for (ModelState state : {ModelState::kUnavailable, ModelState::kLoading, ModelState::kReady,
                               ModelState::kUnloading}) {
        absl::StrAppend(&families["mlcore_serve_model_state"], "mlcore_serve_model_state{model=\"",
                        model, "\",state=\"", ModelStateName(state), "\"} ",
                        entry->state == state ? 1 : 0, "\n");
      }
      for (const auto& [v, served] : entry->versions) {
        served->stats().AppendPrometheus(&families);
        absl::StrAppend(&families["mlcore_serve_device_memory_bytes"],
                        "mlcore_serve_device_memory_bytes{model=\"", model, "\",version=\"", v,
                        "\",device=\"", served->config().device.ToString(), "\"} ",
                        served->device_memory_bytes(), "\n");
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(impl_->outcome_mu);
    for (const auto& [key, count] : impl_->outcomes) {
      absl::StrAppend(&families["mlcore_serve_responses_total"],
                      "mlcore_serve_responses_total{protocol=\"", internal::EscapeLabel(key.first),
                      "\",code=\"", key.second, "\"} ", count, "\n");
    }
  }
  std::string out;
  for (const auto& [family, header] : internal::MetricHeaders()) {
    out += header;
    out += families[family];
  }
  return out;
}

}  // namespace mlcore::serve
