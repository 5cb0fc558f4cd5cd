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
#include "mlcore/store/sql_database.h"
#include "mlcore/ui/dashboard.h"
#include "mlcore/ui/event_reader.h"

namespace mlcore::ui {

using Json = nlohmann::json;

struct Dashboard::Stores {
  std::string home;      // the home whose store this is: a folder, or a postgresql:// URL
  std::string location;  // where its records are (store::StoreLocation): a file or a URL
  std::shared_ptr<store::SqlDatabase> db;
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
  // Query, or no rows when `table` does not exist yet (a record no module has written), so an
  // unknown id and a home that never had the table both read as "none".
  StatusOr<std::vector<store::Row>> QueryTable(const std::string& table, const std::string& sql,
                                               const std::vector<store::Value>& params = {});

  // One page of a listing: the count of all matching rows and the rows of [offset, offset +
  // limit), limit cut to [1, max_page]. `from_where` is the "FROM ... WHERE ..." part both
  // statements share (with `params` as ?1..?N); limit and offset bind as ?N+1 and ?N+2.
  // Nothing (total 0) when `table` does not exist yet; InvalidArgument for offset < 0.
  struct Page {
    int64_t total = 0;
    std::vector<store::Row> rows;
  };
  StatusOr<Page> QueryPage(const std::string& table, const std::string& columns,
                           const std::string& from_where, const std::string& order,
                           std::vector<store::Value> params, int64_t offset, int64_t limit,
                           int64_t max_page);
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
// The canonical form of `path` (symlinks resolved); NotFound when it does not exist.
StatusOr<std::string> RealPath(const std::string& path);

}  // namespace internal

// What every page's rows are read with.
using internal::Int;
using internal::Number;
using internal::ParseJson;
using internal::Text;

}  // namespace mlcore::ui
