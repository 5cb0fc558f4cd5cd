#include "dist/health.h"

#include <cstdio>

namespace mlcore::dist::internal {

std::string RankList(const std::vector<int>& ranks) {
  std::string out = "[";
  for (size_t i = 0; i < ranks.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(ranks[i]);
  }
  return out + "]";
}

HealthMonitor::HealthMonitor(std::shared_ptr<Store> store, int rank, int world_size,
                             absl::Duration interval)
    : store_(std::move(store)), rank_(rank), world_size_(world_size), interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

HealthMonitor::~HealthMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void HealthMonitor::Run() {
  int64_t beat = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    std::string value =
        std::to_string(++beat) + " " + std::to_string(entered_.load(std::memory_order_relaxed));
    // A failed post means the store's host is gone; the collectives report that themselves.
    store_->Set("hb/" + std::to_string(rank_), value).IgnoreError();
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [this] { return stop_; });
  }
}

bool HealthMonitor::Snapshot(std::vector<std::pair<int64_t, int64_t>>* out) {
  out->assign(world_size_, {-1, -1});
  std::vector<std::string> keys;
  for (int r = 0; r < world_size_; ++r) keys.push_back("hb/" + std::to_string(r));
  StatusOr<std::vector<bool>> present = store_->Check(keys);
  if (!present.ok()) return false;
  for (int r = 0; r < world_size_; ++r) {
    if (!(*present)[r]) continue;
    StatusOr<std::string> value = store_->Get(keys[r], absl::Seconds(1));
    if (!value.ok()) return false;
    long long beat = -1, seq = -1;
    if (std::sscanf(value->c_str(), "%lld %lld", &beat, &seq) == 2) (*out)[r] = {beat, seq};
  }
  return true;
}

Diagnosis HealthMonitor::Diagnose(int64_t seq) {
  Diagnosis d;
  std::vector<std::pair<int64_t, int64_t>> first, second;
  bool ok = Snapshot(&first);
  if (ok) {
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(interval_ * 3));
    ok = Snapshot(&second);
  }
  if (!ok) {
    d.gone.push_back(0);
    d.detail = "rank 0 is gone (it hosts the store, which no longer answers)";
    return d;
  }
  for (int r = 0; r < world_size_; ++r) {
    if (r == rank_) continue;
    std::string why;
    if (second[r].first < 0) {
      d.gone.push_back(r);
      why = "rank " + std::to_string(r) + " is gone (it never posted a heartbeat)";
    } else if (second[r].first == first[r].first) {
      d.gone.push_back(r);
      why = "rank " + std::to_string(r) + " is gone (its heartbeat stopped)";
    } else if (second[r].second < seq) {
      d.late.push_back(r);
      why = "rank " + std::to_string(r) + " is late (alive, at collective #" +
            std::to_string(second[r].second) + ")";
    }
    if (!why.empty()) d.detail += (d.detail.empty() ? "" : "; ") + why;
  }
  return d;
}

}  // namespace mlcore::dist::internal
