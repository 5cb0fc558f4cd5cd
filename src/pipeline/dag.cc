#include "mlcore/pipeline/dag.h"

#include <cxxabi.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"

namespace mlcore::pipeline {
namespace {

// All mutable state sits behind one mutex: a node's bookkeeping is a few counter updates, so
// one lock held briefly beats finer locking at the per-task costs we aim for (microseconds).
class DagRun {
 public:
  DagRun(const std::vector<DagNode>& nodes, const DagCallbacks& cb, const DagOptions& opt)
      : nodes_(nodes), cb_(cb) {
    workers_ = opt.max_parallelism > 0 ? opt.max_parallelism
                                       : std::max(1u, std::thread::hardware_concurrency());
    cpu_total_ = opt.cpu_slots > 0 ? opt.cpu_slots : workers_;
    cpu_free_ = cpu_total_;
    gpu_total_ = std::max(0, opt.gpu_slots);
    gpu_free_ = gpu_total_;
    for (int d = gpu_total_ - 1; d >= 0; --d) free_devices_.push_back(d);
  }

  Status Prepare() {
    const int32_t n = static_cast<int32_t>(nodes_.size());
    pending_.assign(n, 0);
    bad_.assign(n, 0);
    std::vector<int32_t> out_degree(n + 1, 0);
    for (int32_t i = 0; i < n; ++i) {
      for (int32_t u : nodes_[i].upstream) {
        if (u < 0 || u >= n || u == i) {
          return absl::InvalidArgumentError(
              absl::StrCat("node ", i, " has an invalid upstream index ", u));
        }
        ++out_degree[u + 1];
        ++pending_[i];
      }
    }
    for (int32_t i = 0; i < n; ++i) out_degree[i + 1] += out_degree[i];
    down_start_ = out_degree;
    down_.assign(out_degree[n], 0);
    std::vector<int32_t> fill(out_degree.begin(), out_degree.end() - 1);
    for (int32_t i = 0; i < n; ++i) {
      for (int32_t u : nodes_[i].upstream) down_[fill[u]++] = i;
    }
    // Kahn's algorithm once up front: a cycle would otherwise leave workers waiting forever.
    std::vector<int32_t> deg = pending_;
    std::vector<int32_t> stack;
    for (int32_t i = 0; i < n; ++i) {
      if (deg[i] == 0) stack.push_back(i);
    }
    int32_t seen = 0;
    while (!stack.empty()) {
      int32_t v = stack.back();
      stack.pop_back();
      ++seen;
      for (int32_t k = down_start_[v]; k < down_start_[v + 1]; ++k) {
        if (--deg[down_[k]] == 0) stack.push_back(down_[k]);
      }
    }
    if (seen != n) {
      for (int32_t i = 0; i < n; ++i) {
        if (deg[i] > 0) {
          return absl::InvalidArgumentError(absl::StrCat("the DAG has a cycle through node ", i));
        }
      }
    }
    remaining_ = n;
    std::vector<int32_t> skipped;
    std::lock_guard<std::mutex> lock(mu_);
    for (int32_t i = 0; i < n; ++i) {
      if (pending_[i] == 0) MakeReadyLocked(i, &skipped);
    }
    std::vector<int32_t> initial = unrunnable_;
    for (int32_t u : initial) CompleteLocked(u, NodeOutcome::kFailed, &initial_skipped_);
    return absl::OkStatus();
  }

  DagStats Run() {
    std::vector<std::thread> threads;
    int extra = std::min<int64_t>(workers_ - 1, std::max<int64_t>(0, remaining_ - 1));
    threads.reserve(extra);
    for (int i = 0; i < extra; ++i) threads.emplace_back([this] { WorkerLoop(); });
    WorkerLoop();
    for (std::thread& t : threads) t.join();
    return stats_;
  }

 private:
  void MakeReadyLocked(int32_t i, std::vector<int32_t>* skipped) {
    const DagNode& node = nodes_[i];
    if (bad_[i] && !node.run_always) {
      skipped->push_back(i);
      return;
    }
    if (node.gpu > gpu_total_) {
      unrunnable_.push_back(i);
      return;
    }
    (node.gpu > 0 ? ready_gpu_ : ready_cpu_).push_back(i);
  }

  static bool SkipOk(const DagNode& node, int32_t upstream) {
    return std::find(node.skip_ok.begin(), node.skip_ok.end(), upstream) != node.skip_ok.end();
  }

  double CpuOf(int32_t i) const { return std::min(nodes_[i].cpu, cpu_total_); }

  // The next node whose resources are free: a GPU node when a device is free, else the next CPU
  // node. A waiting GPU node never holds back CPU nodes.
  int32_t PickLocked() {
    if (!ready_gpu_.empty()) {
      int32_t i = ready_gpu_.front();
      if (nodes_[i].gpu <= gpu_free_ && CpuOf(i) <= cpu_free_ + 1e-9) {
        ready_gpu_.pop_front();
        return i;
      }
    }
    if (!ready_cpu_.empty()) {
      int32_t i = ready_cpu_.front();
      if (CpuOf(i) <= cpu_free_ + 1e-9) {
        ready_cpu_.pop_front();
        return i;
      }
    }
    return -1;
  }

  // Records `i`'s outcome, releases dependants; nodes that become skipped or unrunnable are
  // finished here too, their callbacks collected for calling outside the lock.
  void CompleteLocked(int32_t i, NodeOutcome outcome, std::vector<int32_t>* skipped) {
    std::vector<std::pair<int32_t, NodeOutcome>> work = {{i, outcome}};
    while (!work.empty()) {
      auto [v, out] = work.back();
      work.pop_back();
      --remaining_;
      if (out == NodeOutcome::kSucceeded) {
        ++stats_.succeeded;
      } else if (out == NodeOutcome::kFailed) {
        ++stats_.failed;
      } else {
        ++stats_.skipped;
      }
      for (int32_t k = down_start_[v]; k < down_start_[v + 1]; ++k) {
        int32_t d = down_[k];
        if (out == NodeOutcome::kFailed ||
            (out == NodeOutcome::kSkipped && !SkipOk(nodes_[d], v))) {
          bad_[d] = 1;
        }
        if (--pending_[d] == 0) {
          size_t before_skip = skipped->size();
          size_t before_unrunnable = unrunnable_.size();
          MakeReadyLocked(d, skipped);
          if (skipped->size() > before_skip) work.push_back({d, NodeOutcome::kSkipped});
          if (unrunnable_.size() > before_unrunnable) work.push_back({d, NodeOutcome::kFailed});
        }
      }
    }
  }

  void WorkerLoop() {
    std::vector<int32_t> skipped;
    std::vector<int32_t> unrunnable;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      // Unrunnable nodes were finished by CompleteLocked; only their callbacks are left.
      if (!unrunnable_.empty()) unrunnable.swap(unrunnable_);
      if (!initial_skipped_.empty()) skipped.swap(initial_skipped_);
      if (!skipped.empty() || !unrunnable.empty()) {
        std::vector<int32_t> s = std::move(skipped);
        std::vector<int32_t> u = std::move(unrunnable);
        skipped.clear();
        unrunnable.clear();
        if (remaining_ == 0) cv_.notify_all();
        lock.unlock();
        for (int32_t v : u) {
          if (cb_.on_unrunnable) {
            cb_.on_unrunnable(
                v, absl::ResourceExhaustedError(absl::StrCat(
                       "needs ", nodes_[v].gpu, " GPU(s) but only ", gpu_total_, " exist")));
          }
        }
        for (int32_t v : s) {
          if (cb_.on_skip) cb_.on_skip(v);
        }
        lock.lock();
        continue;
      }
      if (remaining_ == 0) break;
      int32_t i = PickLocked();
      if (i < 0) {
        ++idle_;
        cv_.wait(lock);
        --idle_;
        continue;
      }
      const double cpu = CpuOf(i);
      const int gpu = nodes_[i].gpu;
      cpu_free_ -= cpu;
      gpu_free_ -= gpu;
      std::vector<int> devices;
      for (int g = 0; g < gpu; ++g) {
        devices.push_back(free_devices_.back());
        free_devices_.pop_back();
      }
      if (idle_ > 0 && (!ready_cpu_.empty() || !ready_gpu_.empty())) cv_.notify_one();
      lock.unlock();
      NodeOutcome outcome;
      try {
        outcome = cb_.run(i, devices);
      } catch (abi::__forced_unwind&) {
        throw;  // the thread is being ended (pthread_exit): swallowing it aborts the process
      } catch (...) {
        outcome = NodeOutcome::kFailed;
      }
      lock.lock();
      cpu_free_ += cpu;
      gpu_free_ += gpu;
      free_devices_.insert(free_devices_.end(), devices.rbegin(), devices.rend());
      size_t ready_before = ready_cpu_.size() + ready_gpu_.size();
      CompleteLocked(i, outcome, &skipped);
      if (remaining_ == 0) {
        cv_.notify_all();
      } else if (idle_ > 0) {
        // Wake one helper per newly ready node beyond the one this worker takes next, and one
        // more when GPU nodes wait (the freed slots may let one start).
        size_t ready_now = ready_cpu_.size() + ready_gpu_.size();
        size_t extra = ready_now > ready_before ? ready_now - ready_before : 0;
        if (gpu > 0 || !ready_gpu_.empty()) ++extra;
        for (size_t k = 1; k < extra && k <= static_cast<size_t>(idle_); ++k) cv_.notify_one();
      }
    }
  }

  const std::vector<DagNode>& nodes_;
  const DagCallbacks& cb_;
  int workers_ = 1;
  double cpu_total_ = 1;
  int gpu_total_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int32_t> pending_;
  std::vector<uint8_t> bad_;
  std::vector<int32_t> down_start_;
  std::vector<int32_t> down_;
  std::deque<int32_t> ready_cpu_;
  std::deque<int32_t> ready_gpu_;
  std::vector<int32_t> unrunnable_;
  std::vector<int32_t> initial_skipped_;
  double cpu_free_ = 0;
  int gpu_free_ = 0;
  std::vector<int> free_devices_;  // device indices not held by a running node
  int64_t remaining_ = 0;
  int idle_ = 0;
  DagStats stats_;
};

}  // namespace

StatusOr<DagStats> RunDag(const std::vector<DagNode>& nodes, const DagCallbacks& callbacks,
                          const DagOptions& options) {
  if (!callbacks.run) return absl::InvalidArgumentError("RunDag needs a run callback");
  if (options.max_parallelism < 0 || options.cpu_slots < 0 || options.gpu_slots < 0) {
    return absl::InvalidArgumentError("scheduler limits must not be negative");
  }
  DagRun run(nodes, callbacks, options);
  MLCORE_RETURN_IF_ERROR(run.Prepare());
  if (nodes.empty()) return DagStats{};
  return run.Run();
}

}  // namespace mlcore::pipeline
