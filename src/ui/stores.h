// What the dashboard reads: the metadata store (one connection of its own), the artifact store,
// the HPO storage and the model registry over the same home, and the helpers its calls share.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mlcore/hpo/storage.h"
#include "mlcore/registry/model_registry.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/metadata_store.h"
#include "mlcore/ui/dashboard.h"
#include "mlcore/ui/event_reader.h"

namespace mlcore::ui {

using Json = nlohmann::json;

struct Dashboard::Stores {
  std::shared_ptr<store::MetadataStore> db;
  std::unique_ptr<store::ArtifactStore> artifacts;
  std::shared_ptr<hpo::Storage> hpo;                  // null until a study table exists
  std::unique_ptr<registry::ModelRegistry> registry;  // null until a registry table exists
  std::map<std::string, bool> tables;                 // which tables exist (cached once seen)

  // True when `table` exists (a module that never ran in this home has none).
  StatusOr<bool> HasTable(const std::string& table);
  // Runs `sql` (each statement reads one WAL snapshot, so a pipeline writing meanwhile never
  // blocks it; a page's count and rows may differ by the rows written between them) and turns
  // the store's busy errors into Unavailable.
  StatusOr<std::vector<store::Row>> Query(const std::string& sql,
                                          const std::vector<store::Value>& params = {});
};

// Training curves read so far, per event file, so a live page reads only what was appended.
struct Dashboard::EventCache {
  struct File {
    size_t offset = 0;
    std::vector<ScalarEvent> events;
    std::string error;  // a damaged file: its events so far are kept
  };
  std::map<std::string, File> files;
};

namespace internal {

// Readers of store values, tolerant of NULLs.
std::string Text(const store::Value& v);
int64_t Int(const store::Value& v, int64_t fallback = 0);
// A REAL (or INTEGER) as JSON; null for NULL.
Json Number(const store::Value& v);
// Parses stored JSON text; the text itself when it is not JSON.
Json ParseJson(const std::string& text);
// Seconds since the Unix epoch.
double NowSeconds();
// The store's busy or locked errors as Unavailable ("busy, retry"), others unchanged.
Status Friendly(const Status& status);
// The last `max_bytes` of the file at `path`; NotFound when it does not exist.
StatusOr<std::string> ReadTail(const std::string& path, int64_t max_bytes);

}  // namespace internal
}  // namespace mlcore::ui
