// ModelManager's state, shared by its loading half (model_manager.cc) and its serving half
// (model_manager_serve.cc).
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "mlcore/serve/model_manager.h"
#include "serve/served_version.h"

namespace mlcore::serve {

struct ModelEntry {
  enum class Source { kRepository, kPath, kFactory, kRegistry };
  Source source = Source::kRepository;
  std::string path;       // kPath
  std::string reference;  // kRegistry
  // kRegistry: the resolver this model was added with; null: ManagerOptions::resolver.
  std::shared_ptr<ModelResolver> resolver;
  BackendFactory factory;   // kFactory
  ModelConfig config;       // as added; repository models read theirs on each load
  std::string config_text;  // repository: the config.json last loaded
  // Guarded by Impl::mu: ready versions, state, reason, wanted.
  std::map<int64_t, std::shared_ptr<internal::ServedVersion>> versions;
  std::map<int64_t, std::string> version_paths;  // what each loaded version was loaded from
  ModelState state = ModelState::kUnavailable;
  std::string reason;
  bool wanted = false;  // should be served (counts for readiness)
  std::mutex load_mu;   // one load or unload of this model at a time
};

struct ModelManager::Impl {
  ModelManager* self = nullptr;
  ManagerOptions options;
  mutable std::shared_mutex mu;
  std::map<std::string, std::shared_ptr<ModelEntry>> models;
  std::atomic<bool> live{true};
  bool started = false;

  std::mutex poll_mu;
  std::condition_variable poll_cv;
  bool poll_stop = false;
  std::thread poll_thread;

  mutable std::mutex outcome_mu;
  std::map<std::pair<std::string, int>, uint64_t> outcomes;

  std::shared_ptr<ModelEntry> Find(const std::string& name) const;
  // Loads what `entry` should serve; `reload` loads every version afresh even when loaded.
  Status Load(const std::string& name, const std::shared_ptr<ModelEntry>& entry, bool reload);
  Status Unload(const std::string& name, const std::shared_ptr<ModelEntry>& entry);
  Status AddEntry(const std::string& name, std::shared_ptr<ModelEntry> entry);
  // Re-resolves every wanted registry model once (the poll without a repository scan).
  Status PollRegistry();
};

}  // namespace mlcore::serve
