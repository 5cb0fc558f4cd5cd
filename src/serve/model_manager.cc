// ModelManager, the loading half: adding models, loading versions (new ones ready before old
// ones go), unloading with a drain, the repository scan and the poll thread.
#include <set>

#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "serve/manager_impl.h"
#include "serve/repository.h"

namespace mlcore::serve {
namespace {

using internal::ServedVersion;

// What one load should serve: version -> path, the backend and config to use.
struct LoadPlan {
  std::map<int64_t, std::string> versions;
  ModelConfig config;
  std::string config_text;
};

StatusOr<LoadPlan> Plan(const ManagerOptions& options, const std::string& name,
                        const ModelEntry& entry) {
  LoadPlan plan;
  plan.config = entry.config;
  switch (entry.source) {
    case ModelEntry::Source::kRepository: {
      MLCORE_ASSIGN_OR_RETURN(internal::RepositoryModel repo,
                              internal::ReadRepositoryModel(options.model_repository, name));
      plan.config = repo.config;
      plan.config_text = repo.config_text;
      for (int64_t v : internal::SelectVersions(plan.config.version_policy, repo.versions)) {
        plan.versions[v] = repo.versions[v];
      }
      if (plan.versions.empty()) {
        return absl::NotFoundError(
            absl::StrCat("model '", name, "' has no version its version policy selects"));
      }
      break;
    }
    case ModelEntry::Source::kPath:
      plan.versions[1] = entry.path;
      break;
    case ModelEntry::Source::kFactory:
      plan.versions[1] = "";
      break;
    case ModelEntry::Source::kRegistry: {
      ModelResolver* resolver =
          entry.resolver != nullptr ? entry.resolver.get() : options.resolver.get();
      if (resolver == nullptr) {
        return absl::FailedPreconditionError("no model registry resolver is set");
      }
      MLCORE_ASSIGN_OR_RETURN(ResolvedModel resolved, resolver->Resolve(entry.reference));
      if (!resolved.backend.empty()) plan.config.backend = resolved.backend;
      plan.versions[resolved.version] = resolved.path;
      break;
    }
  }
  return plan;
}

}  // namespace

const char* ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kReady:
      return "READY";
    case ModelState::kUnloading:
      return "UNLOADING";
    case ModelState::kUnavailable:
      break;
  }
  return "UNAVAILABLE";
}

std::shared_ptr<ModelEntry> ModelManager::Impl::Find(const std::string& name) const {
  std::shared_lock lock(mu);
  auto it = models.find(name);
  return it == models.end() ? nullptr : it->second;
}

Status ModelManager::Impl::Load(const std::string& name, const std::shared_ptr<ModelEntry>& entry,
                                bool reload) {
  std::lock_guard<std::mutex> load_lock(entry->load_mu);
  {
    std::unique_lock lock(mu);
    entry->wanted = true;
    if (entry->versions.empty()) entry->state = ModelState::kLoading;
  }
  StatusOr<LoadPlan> plan = Plan(options, name, *entry);
  BackendFactory factory = entry->factory;
  if (plan.ok() && !factory) {
    StatusOr<BackendFactory> found = BackendRegistry().Find(plan->config.backend);
    if (found.ok()) factory = *found;
    if (!found.ok()) plan = found.status();
  }
  if (plan.ok()) {
    Status valid = plan->config.Validate();
    if (!valid.ok()) plan = valid;
  }
  if (!plan.ok()) {
    std::unique_lock lock(mu);
    entry->state = entry->versions.empty() ? ModelState::kUnavailable : ModelState::kReady;
    entry->reason = std::string(plan.status().message());
    return plan.status();
  }
  bool config_changed = plan->config_text != entry->config_text;
  std::map<int64_t, std::shared_ptr<ServedVersion>> next;
  std::map<int64_t, std::shared_ptr<ServedVersion>> current;
  {
    std::shared_lock lock(mu);
    current = entry->versions;
  }
  Status failure;
  for (const auto& [version, path] : plan->versions) {
    auto have = current.find(version);
    if (!reload && !config_changed && have != current.end() &&
        entry->version_paths[version] == path) {
      next[version] = have->second;
      continue;
    }
    auto served = std::make_shared<ServedVersion>(name, version, plan->config);
    BackendContext context{name, version, path, plan->config, 0, self};
    Status loaded = served->Load(factory, context);
    if (!loaded.ok()) {
      served->Stop();
      failure = absl::Status(loaded.code(), absl::StrCat("loading model '", name, "' version ",
                                                         version, ": ", loaded.message()));
      MLCORE_LOG(Warning) << failure.message();
      if (have != current.end()) next[version] = have->second;  // keep serving the old one
      continue;
    }
    next[version] = std::move(served);
  }
  std::vector<std::shared_ptr<ServedVersion>> retired;
  {
    std::unique_lock lock(mu);
    for (auto& [version, served] : entry->versions) {
      auto it = next.find(version);
      if (it == next.end() || it->second != served) retired.push_back(served);
    }
    entry->versions = next;
    for (const auto& [version, path] : plan->versions) entry->version_paths[version] = path;
    entry->config = entry->source == ModelEntry::Source::kRepository ? plan->config : entry->config;
    if (failure.ok()) entry->config_text = plan->config_text;
    entry->state = next.empty() ? ModelState::kUnavailable : ModelState::kReady;
    entry->reason = failure.ok() ? "" : std::string(failure.message());
  }
  // Requests queued on a retired version are answered before its workers stop.
  for (auto& served : retired) served->Stop();
  return failure;
}

Status ModelManager::Impl::Unload(const std::string& name,
                                  const std::shared_ptr<ModelEntry>& entry) {
  std::lock_guard<std::mutex> load_lock(entry->load_mu);
  std::map<int64_t, std::shared_ptr<ServedVersion>> retired;
  {
    std::unique_lock lock(mu);
    entry->wanted = false;
    entry->state = ModelState::kUnloading;
    retired.swap(entry->versions);
    entry->version_paths.clear();
  }
  for (auto& [version, served] : retired) served->Stop();
  std::unique_lock lock(mu);
  entry->state = ModelState::kUnavailable;
  entry->reason = "unloaded";
  return absl::OkStatus();
}

Status ModelManager::Impl::AddEntry(const std::string& name, std::shared_ptr<ModelEntry> entry) {
  MLCORE_RETURN_IF_ERROR(internal::CheckModelName(name));
  MLCORE_RETURN_IF_ERROR(entry->config.Validate());
  {
    std::unique_lock lock(mu);
    if (models.count(name) != 0) {
      return absl::AlreadyExistsError(absl::StrCat("model '", name, "' is already served"));
    }
    models[name] = entry;
  }
  Status loaded = Load(name, entry, /*reload=*/false);
  if (!loaded.ok()) {
    std::unique_lock lock(mu);
    models.erase(name);
  }
  return loaded;
}

ModelManager::ModelManager(ManagerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->self = this;
  impl_->options = std::move(options);
}

ModelManager::~ModelManager() { Stop(); }

Status ModelManager::Start() {
  {
    std::unique_lock lock(impl_->mu);
    if (impl_->started) return absl::FailedPreconditionError("the model manager is started");
    impl_->started = true;
  }
  const std::string& repo = impl_->options.model_repository;
  if (!repo.empty()) {
    MLCORE_ASSIGN_OR_RETURN(std::vector<std::string> names, internal::ListRepositoryModels(repo));
    for (const std::string& name : names) {
      auto entry = std::make_shared<ModelEntry>();
      {
        std::unique_lock lock(impl_->mu);
        if (impl_->models.count(name) != 0) continue;
        impl_->models[name] = entry;
      }
      // A model that fails to load stays in the index as UNAVAILABLE with its reason.
      if (impl_->options.load_all) impl_->Load(name, entry, false).IgnoreError();
    }
  }
  // The full poll when asked for; else only registry references, so aliases are followed.
  const bool full = impl_->options.poll_interval_ms > 0;
  const int64_t interval_ms =
      full ? impl_->options.poll_interval_ms : impl_->options.registry_poll_interval_ms;
  if (interval_ms > 0) {
    impl_->poll_thread = std::thread([this, full, interval_ms] {
      std::unique_lock<std::mutex> lock(impl_->poll_mu);
      while (!impl_->poll_cv.wait_for(lock, std::chrono::milliseconds(interval_ms),
                                      [this] { return impl_->poll_stop; })) {
        lock.unlock();
        Status polled = full ? PollRepository() : impl_->PollRegistry();
        if (!polled.ok()) MLCORE_LOG(Warning) << "repository poll: " << polled.message();
        lock.lock();
      }
    });
  }
  return absl::OkStatus();
}

void ModelManager::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->poll_mu);
    impl_->poll_stop = true;
  }
  impl_->poll_cv.notify_all();
  if (impl_->poll_thread.joinable()) impl_->poll_thread.join();
  impl_->live = false;
  std::vector<std::pair<std::string, std::shared_ptr<ModelEntry>>> entries;
  {
    std::shared_lock lock(impl_->mu);
    for (const auto& [name, entry] : impl_->models) entries.emplace_back(name, entry);
  }
  for (auto& [name, entry] : entries) impl_->Unload(name, entry).IgnoreError();
}

Status ModelManager::AddModel(const std::string& name, const std::string& path,
                              ModelConfig config) {
  auto entry = std::make_shared<ModelEntry>();
  entry->source = ModelEntry::Source::kPath;
  entry->path = path;
  entry->config = std::move(config);
  return impl_->AddEntry(name, std::move(entry));
}

Status ModelManager::AddModel(const std::string& name, ModelConfig config, BackendFactory factory) {
  if (!factory) return absl::InvalidArgumentError("AddModel needs a backend factory");
  auto entry = std::make_shared<ModelEntry>();
  entry->source = ModelEntry::Source::kFactory;
  entry->factory = std::move(factory);
  entry->config = std::move(config);
  return impl_->AddEntry(name, std::move(entry));
}

Status ModelManager::AddRegistryModel(const std::string& name, const std::string& reference,
                                      ModelConfig config, std::shared_ptr<ModelResolver> resolver) {
  if (resolver == nullptr && impl_->options.resolver == nullptr) {
    return absl::FailedPreconditionError("serving a registry model needs a resolver");
  }
  auto entry = std::make_shared<ModelEntry>();
  entry->source = ModelEntry::Source::kRegistry;
  entry->reference = reference;
  entry->resolver = std::move(resolver);
  entry->config = std::move(config);
  return impl_->AddEntry(name, std::move(entry));
}

Status ModelManager::LoadModel(const std::string& name) {
  MLCORE_RETURN_IF_ERROR(internal::CheckModelName(name));
  std::shared_ptr<ModelEntry> entry = impl_->Find(name);
  if (entry == nullptr) {
    if (impl_->options.model_repository.empty()) {
      return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
    }
    MLCORE_RETURN_IF_ERROR(
        internal::ReadRepositoryModel(impl_->options.model_repository, name).status());
    std::unique_lock lock(impl_->mu);
    auto& slot = impl_->models[name];
    if (slot == nullptr) slot = std::make_shared<ModelEntry>();
    entry = slot;
  }
  return impl_->Load(name, entry, /*reload=*/true);
}

Status ModelManager::UnloadModel(const std::string& name) {
  MLCORE_RETURN_IF_ERROR(internal::CheckModelName(name));
  std::shared_ptr<ModelEntry> entry = impl_->Find(name);
  if (entry == nullptr) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  return impl_->Unload(name, entry);
}

Status ModelManager::PollRepository() {
  std::set<std::string> on_disk;
  const std::string& repo = impl_->options.model_repository;
  if (!repo.empty()) {
    MLCORE_ASSIGN_OR_RETURN(std::vector<std::string> names, internal::ListRepositoryModels(repo));
    on_disk.insert(names.begin(), names.end());
    for (const std::string& name : names) {
      std::unique_lock lock(impl_->mu);
      if (impl_->models.count(name) == 0) {
        impl_->models[name] = std::make_shared<ModelEntry>();
        impl_->models[name]->wanted = true;
      }
    }
  }
  std::vector<std::pair<std::string, std::shared_ptr<ModelEntry>>> entries;
  {
    std::shared_lock lock(impl_->mu);
    for (const auto& [name, entry] : impl_->models) {
      if (entry->wanted) entries.emplace_back(name, entry);
    }
  }
  Status result;
  for (auto& [name, entry] : entries) {
    if (entry->source == ModelEntry::Source::kRepository && on_disk.count(name) == 0) {
      result.Update(impl_->Unload(name, entry));
    } else if (entry->source == ModelEntry::Source::kRepository ||
               entry->source == ModelEntry::Source::kRegistry) {
      result.Update(impl_->Load(name, entry, /*reload=*/false));
    }
  }
  return result;
}

Status ModelManager::Impl::PollRegistry() {
  std::vector<std::pair<std::string, std::shared_ptr<ModelEntry>>> entries;
  {
    std::shared_lock lock(mu);
    for (const auto& [name, entry] : models) {
      if (entry->wanted && entry->source == ModelEntry::Source::kRegistry) {
        entries.emplace_back(name, entry);
      }
    }
  }
  Status result;
  for (auto& [name, entry] : entries) result.Update(Load(name, entry, /*reload=*/false));
  return result;
}

}  // namespace mlcore::serve
