// A fixed set of worker threads shared by the CPU kernels and, later, the schedulers. Parallel
// loops split work into chunks and the calling thread takes chunks too, so a ParallelFor called
// from inside a worker cannot deadlock waiting for itself.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mlcore {

class ThreadPool {
 public:
  // num_threads <= 0 means one per hardware thread.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();  // finishes queued work, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> fn);
  // Calls fn(begin, end) on disjoint ranges covering [0, n), each at least `grain` long (but the
  // last), and returns when all are done. Runs inline when n <= grain or the pool has 1 thread.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  int num_threads() const { return static_cast<int>(workers_.size()); }

  // The process-wide pool: MLCORE_NUM_THREADS threads, else one per hardware thread.
  static ThreadPool& Default();

 private:
  void WorkerLoop();

  std::vector<std::thread> workers_;
  std::deque<std::function<void()>> queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace mlcore
