#include "mlcore/core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>

namespace mlcore {

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(num_threads);
  for (int i = 0; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Schedule(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void ThreadPool::WorkerLoop() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int64_t num_chunks = std::min<int64_t>(max_chunks, num_threads());
  if (num_chunks <= 1) {
    fn(0, n);
    return;
  }
  // Chunks are claimed from a shared counter and the caller claims too, and the caller waits for
  // chunks to finish, not for helpers to start: a ParallelFor nested in a busy worker still ends.
  // A helper that starts after every chunk is claimed finds nothing and leaves; the state it
  // touches is shared_ptr-owned so it may outlive this call.
  struct State {
    std::atomic<int64_t> next{0};
    int64_t completed = 0;
    std::mutex mu;
    std::condition_variable cv;
  };
  auto state = std::make_shared<State>();
  const int64_t chunk = (n + num_chunks - 1) / num_chunks;
  const auto* body = &fn;
  auto run_chunks = [state, chunk, n, num_chunks, body] {
    int64_t done = 0;
    for (int64_t c = state->next.fetch_add(1); c < num_chunks; c = state->next.fetch_add(1)) {
      int64_t begin = c * chunk;
      (*body)(begin, std::min(n, begin + chunk));
      ++done;
    }
    if (done == 0) return;
    std::lock_guard<std::mutex> lock(state->mu);
    state->completed += done;
    if (state->completed == num_chunks) state->cv.notify_all();
  };
  for (int64_t i = 0; i < num_chunks - 1; ++i) Schedule(run_chunks);
  run_chunks();
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait(lock, [&] { return state->completed == num_chunks; });
}

ThreadPool& ThreadPool::Default() {
  static ThreadPool* pool = [] {
    int n = 0;
    if (const char* env = std::getenv("MLCORE_NUM_THREADS")) n = std::atoi(env);
    return new ThreadPool(n);  // never destroyed: workers may outlive static destructors
  }();
  return *pool;
}

}  // namespace mlcore
