// Heartbeats and arrival counters in the group's store, so that a rank whose collective failed
// can say which peers are missing instead of only "timed out". Each rank's thread posts
// "hb/<rank>" = "<beat> <collectives entered>" every interval. Diagnose() reads them twice, three
// intervals apart: a rank whose beat did not move is gone (dead or frozen), a live rank that
// entered fewer collectives than this one is late (still computing, or waiting elsewhere).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/dist/store.h"

namespace mlcore::dist::internal {

struct Diagnosis {
  std::vector<int> gone;  // no heartbeat (or the store host itself is gone)
  std::vector<int> late;  // alive, but behind in the collective count
  std::string detail;     // "rank 2 is gone (its heartbeat stopped); rank 1 is late (...)"
};

class HealthMonitor {
 public:
  HealthMonitor(std::shared_ptr<Store> store, int rank, int world_size, absl::Duration interval);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Called as collective number `seq` (counting from 1) starts on this rank.
  void Entered(int64_t seq) { entered_.store(seq, std::memory_order_relaxed); }
  // Which peers are missing from collective `seq`; takes about three heartbeat intervals.
  Diagnosis Diagnose(int64_t seq);

 private:
  void Run();
  // Each rank's "<beat> <seq>", or nullopt-like {-1, -1} when absent; false when the store is
  // gone.
  bool Snapshot(std::vector<std::pair<int64_t, int64_t>>* out);

  std::shared_ptr<Store> store_;
  int rank_;
  int world_size_;
  absl::Duration interval_;
  std::atomic<int64_t> entered_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// "[1, 3]".
std::string RankList(const std::vector<int>& ranks);

}  // namespace mlcore::dist::internal
