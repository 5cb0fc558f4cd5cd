// Dashboard: opening the home's stores lazily, and the helpers the API calls share.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ui/stores.h"

namespace mlcore::ui {
namespace internal {

std::string Text(const store::Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v)) return absl::StrCat(*i);
  if (const auto* d = std::get_if<double>(&v)) return absl::StrCat(*d);
  return "";
}

int64_t Int(const store::Value& v, int64_t fallback) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  return fallback;
}

Json Number(const store::Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return nullptr;
}

Json ParseJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json(text) : j;
}

double NowSeconds() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

Status Friendly(const Status& status) {
  if (status.ok()) return status;
  bool busy = status.code() == absl::StatusCode::kDeadlineExceeded ||
              absl::StrContains(status.message(), "locked") ||
              absl::StrContains(status.message(), "busy");
  if (!busy) return status;
  return absl::UnavailableError(
      "the store is busy with another process's write; the page retries on its own");
}

StatusOr<std::string> RealPath(const std::string& path) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no file ", path));
  }
  return std::string(buffer);
}

}  // namespace internal

StatusOr<std::vector<store::Row>> Dashboard::Stores::QueryTable(
    const std::string& table, const std::string& sql, const std::vector<store::Value>& params) {
  MLCORE_ASSIGN_OR_RETURN(bool has, HasTable(table));
  if (!has) return std::vector<store::Row>();
  return Query(sql, params);
}

StatusOr<Dashboard::Stores::Page> Dashboard::Stores::QueryPage(
    const std::string& table, const std::string& columns, const std::string& from_where,
    const std::string& order, std::vector<store::Value> params, int64_t offset, int64_t limit,
    int64_t max_page) {
  if (offset < 0) return absl::InvalidArgumentError("offset must be >= 0");
  Page page;
  MLCORE_ASSIGN_OR_RETURN(bool has, HasTable(table));
  if (!has) return page;
  MLCORE_ASSIGN_OR_RETURN(auto count, Query(absl::StrCat("SELECT COUNT(*) ", from_where), params));
  page.total = internal::Int(count[0][0]);
  const size_t n = params.size();
  params.push_back(std::clamp<int64_t>(limit, 1, max_page));
  params.push_back(offset);
  MLCORE_ASSIGN_OR_RETURN(
      page.rows, Query(absl::StrCat("SELECT ", columns, " ", from_where, " ORDER BY ", order,
                                    " LIMIT ?", n + 1, " OFFSET ?", n + 2),
                       params));
  return page;
}

StatusOr<bool> Dashboard::Stores::HasTable(const std::string& table) {
  auto it = tables.find(table);
  if (it != tables.end() && it->second) return true;
  MLCORE_ASSIGN_OR_RETURN(bool has, db->HasTable(table));
  tables[table] = has;
  return has;
}

StatusOr<std::vector<store::Row>> Dashboard::Stores::Query(
    const std::string& sql, const std::vector<store::Value>& params) {
  StatusOr<std::vector<store::Row>> rows = db->Query(sql, params);
  if (!rows.ok()) return internal::Friendly(rows.status());
  return rows;
}

Dashboard::Dashboard(DashboardOptions options, std::string home)
    : options_(std::move(options)), home_(std::move(home)) {}

Dashboard::~Dashboard() = default;

StatusOr<std::unique_ptr<Dashboard>> Dashboard::Open(DashboardOptions options) {
  std::string home = options.home;
  if (home.empty()) {
    MLCORE_ASSIGN_OR_RETURN(home, store::DefaultHome());
  }
  // A postgresql:// home: the records are on the server, the files in $MLCORE_HOME.
  MLCORE_ASSIGN_OR_RETURN(home, store::FilesHome(home));
  if (options.log_dirs.empty()) options.log_dirs.push_back(home + "/logs");
  if (options.max_page_size < 1) return absl::InvalidArgumentError("max_page_size must be >= 1");
  return std::unique_ptr<Dashboard>(new Dashboard(std::move(options), std::move(home)));
}

StatusOr<Dashboard::Stores*> Dashboard::OpenStores() {
  if (stores_ != nullptr) return stores_.get();
  auto stores = std::make_unique<Stores>();
  // The store pipelines and studies of this home write to: $MLCORE_STORE, a postgresql:// home,
  // or <home>/mlcore.db.
  stores->home = options_.home.empty() ? home_ : options_.home;
  stores->location = store::StoreLocation(stores->home);
  struct stat st;
  if (!store::IsDatabaseUrl(stores->location) && ::stat(stores->location.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no mlcore store at ", stores->location,
        ": nothing has been recorded in this home yet (run a pipeline, a study or a training "
        "there, or start the dashboard with --home DIR)"));
  }
  store::SqlDatabaseOptions db_options;
  db_options.create_if_missing = false;
  db_options.busy_timeout = options_.busy_timeout;
  StatusOr<std::shared_ptr<store::SqlDatabase>> db =
      store::OpenSqlDatabase(stores->location, db_options);
  if (!db.ok()) return internal::Friendly(db.status());
  stores->db = *std::move(db);
  store::ArtifactStoreOptions artifact_options;
  artifact_options.root = home_ + "/artifacts";
  MLCORE_ASSIGN_OR_RETURN(stores->artifacts, store::ArtifactStore::Open(artifact_options));
  stores_ = std::move(stores);
  return stores_.get();
}

}  // namespace mlcore::ui
