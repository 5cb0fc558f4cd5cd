// ServerRecord: a server's row in serve_servers and its heartbeat thread.
#include "serve/server_record.h"

#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mlcore/core/logging.h"

namespace mlcore::serve {

// One list for SQLite and PostgreSQL: these types mean the same on both (SQLite reads DOUBLE
// PRECISION as REAL, which the stores created before this wrote).
const std::vector<store::Migration>& ServeMigrations() {
  static const auto* migrations = new std::vector<store::Migration>{
      {1, "create_serve_servers",
       "CREATE TABLE serve_servers("
       "  id TEXT PRIMARY KEY, url TEXT NOT NULL, grpc_port INTEGER NOT NULL, host TEXT NOT NULL,"
       "  pid INTEGER NOT NULL, started_at DOUBLE PRECISION NOT NULL,"
       "  heartbeat_at DOUBLE PRECISION NOT NULL, stopped_at DOUBLE PRECISION,"
       "  snapshot TEXT NOT NULL DEFAULT '{}');"}};
  return *migrations;
}

namespace {

double Now() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

std::string HostName() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

}  // namespace

StatusOr<std::unique_ptr<ServerRecord>> ServerRecord::Start(const std::string& home,
                                                            const Server& server) {
  // The home's store, as pipelines and studies open it ($MLCORE_STORE, a postgresql:// home, or
  // <home>/mlcore.db), so the dashboard of that store lists this server.
  store::SqlDatabaseOptions options;
  // A heartbeat that waits long for the lock only delays the next one; it never blocks serving.
  options.busy_timeout = absl::Seconds(5);
  MLCORE_ASSIGN_OR_RETURN(store::HomeStore opened, store::OpenHomeStore(home, options));
  std::shared_ptr<store::SqlDatabase> store = std::move(opened.db);
  MLCORE_RETURN_IF_ERROR(store->Migrate("serve", ServeMigrations()));
  const double now = Now();
  std::string id = absl::StrCat(HostName(), ":", getpid(), ":", server.http_port(), ":",
                                static_cast<int64_t>(now * 1000));
  MLCORE_RETURN_IF_ERROR(
      store
          ->Query("INSERT INTO serve_servers(id, url, grpc_port, host, pid, started_at, "
                  "heartbeat_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                  {id, server.url(), static_cast<int64_t>(server.grpc_port()), HostName(),
                   static_cast<int64_t>(getpid()), now})
          .status());
  std::unique_ptr<ServerRecord> record(new ServerRecord(std::move(store), server, std::move(id)));
  record->Beat();
  record->thread_ = std::thread([r = record.get()] {
    std::unique_lock lock(r->mu_);
    while (!r->cv_.wait_for(lock, std::chrono::duration<double>(kServerHeartbeatSeconds),
                            [r] { return r->stop_; })) {
      lock.unlock();
      r->Beat();
      lock.lock();
    }
  });
  return record;
}

ServerRecord::~ServerRecord() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  Status s = store_
                 ->Query(
                     "UPDATE serve_servers SET stopped_at = ?2, heartbeat_at = ?2, "
                     "snapshot = ?3 WHERE id = ?1",
                     {id_, Now(), Snapshot()})
                 .status();
  if (!s.ok()) {
    MLCORE_LOG(Warning) << "server record: " << StatusText(s);
  }
}

std::string ServerRecord::Snapshot() {
  ModelManager& models = const_cast<Server&>(server_).models();
  nlohmann::json prev = previous_.empty() ? nlohmann::json::object()
                                          : nlohmann::json::parse(previous_, nullptr, false);
  nlohmann::json doc = {{"sampled_at", Now()}, {"models", nlohmann::json::array()}};
  if (prev.is_object() && prev.contains("sampled_at")) doc["prev_sampled_at"] = prev["sampled_at"];
  auto stats = models.Statistics();
  nlohmann::json counters = nlohmann::json::object();
  for (const RepositoryEntry& e : models.RepositoryIndex()) {
    nlohmann::json m = {{"name", e.name},
                        {"version", e.version},
                        {"state", ModelStateName(e.state)},
                        {"reason", e.reason}};
    if (auto config = models.Config(e.name); config.ok()) {
      m["backend"] = config->backend;
      m["device"] = config->device.ToString();
      m["instances"] = config->instance_count;
    }
    if (auto source = models.Source(e.name); source.ok()) m["source"] = *source;
    uint64_t count = 0, ns = 0, failed = 0;
    if (stats.ok()) {
      for (const ModelStatistics& s : *stats) {
        if (s.name != e.name || s.version != e.version) continue;
        count = s.success.count;
        ns = s.success.ns;
        failed = s.fail.count;
      }
    }
    std::string key = e.name + "/" + e.version;
    m["requests"] = count;
    m["failures"] = failed;
    m["latency_ns"] = ns;
    if (prev.is_object() && prev.contains("counters") && prev["counters"].contains(key)) {
      m["prev_requests"] = prev["counters"][key][0];
      m["prev_latency_ns"] = prev["counters"][key][1];
    }
    counters[key] = {count, ns};
    doc["models"].push_back(std::move(m));
  }
  previous_ = nlohmann::json{{"sampled_at", doc["sampled_at"]}, {"counters", counters}}.dump();
  return doc.dump();
}

void ServerRecord::Beat() {
  Status s = store_
                 ->Query("UPDATE serve_servers SET heartbeat_at = ?2, snapshot = ?3 WHERE id = ?1",
                         {id_, Now(), Snapshot()})
                 .status();
  if (!s.ok()) {
    MLCORE_LOG(Warning) << "server record heartbeat: " << StatusText(s);
  }
}

}  // namespace mlcore::serve
