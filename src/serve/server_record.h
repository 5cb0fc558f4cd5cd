// A running server's entry in a store (table serve_servers), so the dashboard can list the
// servers of a home: url, pid, start time and a heartbeat with its models and request counters.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/serve/server.h"
#include "mlcore/store/metadata_store.h"
#include "mlcore/store/sql_database.h"

namespace mlcore::serve {

// The serve module's tables (migrations module "serve").
const std::vector<store::Migration>& ServeMigrations();

// Seconds between heartbeats. A reader takes a server whose heartbeat is older than three
// intervals for gone (killed without Stop).
inline constexpr double kServerHeartbeatSeconds = 2.0;

class ServerRecord {
 public:
  // Inserts the server's row and starts the heartbeat thread.
  static StatusOr<std::unique_ptr<ServerRecord>> Start(const std::string& home,
                                                       const Server& server);
  // Stops the heartbeat and marks the row stopped.
  ~ServerRecord();

 private:
  ServerRecord(std::shared_ptr<store::SqlDatabase> store, const Server& server, std::string id)
      : store_(std::move(store)), server_(server), id_(std::move(id)) {}
  // The models' state and counters as JSON, with the previous sample's for rates.
  std::string Snapshot();
  void Beat();

  std::shared_ptr<store::SqlDatabase> store_;
  const Server& server_;
  std::string id_;
  std::string previous_;  // the last snapshot's counters, carried into the next as "prev"
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mlcore::serve
