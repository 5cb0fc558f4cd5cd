// The machinery every backend shares: one worker thread that runs collectives in issue order
// (what lets an async allreduce overlap the caller's compute), Work handles, the heartbeat
// monitor, and the rule that the first failure breaks the communicator with an error naming the
// collective, the missing ranks and the timeout.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dist/health.h"
#include "mlcore/dist/communicator.h"

namespace mlcore::dist::internal {

// The body of one collective; `timeout` is its effective timeout.
using CollectiveFn = std::function<Status(absl::Duration timeout)>;

// Marks the collectives this thread issues while it lives as ones whose issuer waits for them at
// once (the Communicator's blocking forms): Enqueue then leaves the worker asleep, and Wait runs
// the job on the caller's thread. Waking the worker only for the caller to find the job taken
// cost a hand-off there and back (two wake-ups) in about 40% of the blocking allreduces of a
// 2-rank training loop on 2 shared cores.
class CallerWaitsScope {
 public:
  CallerWaitsScope();
  ~CallerWaitsScope();
  CallerWaitsScope(const CallerWaitsScope&) = delete;
  CallerWaitsScope& operator=(const CallerWaitsScope&) = delete;
  static bool active();

 private:
  bool outer_;
};

class QueuedCommunicator : public Communicator {
 public:
  ~QueuedCommunicator() override;

 protected:
  QueuedCommunicator(std::shared_ptr<Store> store, CommunicatorOptions options);
  // Stops the worker; backends call it first in their destructors, before their own state goes.
  void StopWorker();

  // Queues `fn` as collective `name` ("allreduce"); `what` describes its tensor for messages.
  StatusOr<std::shared_ptr<Work>> Enqueue(std::string name, std::string what,
                                          absl::Duration timeout, CollectiveFn fn);
  const std::shared_ptr<Store>& store() const { return store_; }

 private:
  class WorkImpl;
  // What a Work needs to run its own job on the waiting thread: the communicator, or nullptr once
  // it is shut down (the mutex makes shutdown wait for an inline job to end).
  struct Gate {
    std::mutex mu;
    QueuedCommunicator* owner = nullptr;
  };
  struct Job {
    std::string name;
    std::string what;
    absl::Duration timeout;
    CollectiveFn fn;
    std::shared_ptr<WorkImpl> work;
    int64_t seq;
  };

  void Run();
  // Runs `work`'s job on this thread when it is next in line and nothing runs: a blocking call
  // then costs no hand-off to the worker thread and back (two wake-ups, each a scheduling delay
  // on a busy machine), while an async call still overlaps the caller.
  void TryRunInline(const WorkImpl* work);
  // With mu_ held and the queue not empty: pops the next job and marks it running.
  Job TakeFrontLocked();
  // Runs a job taken by TakeFrontLocked (on the worker or inline), completes its Work and lets
  // the next one run.
  void RunTaken(Job& job);
  Status RunJob(Job& job);
  // The error of a failed collective, with the missing ranks found through the store.
  Status Explain(const Job& job, const Status& cause, absl::Duration took);

  std::shared_ptr<Store> store_;
  std::unique_ptr<HealthMonitor> health_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stop_ = false;
  bool running_ = false;  // a job runs (on the worker or inline)
  std::shared_ptr<Gate> gate_;
  int64_t issued_ = 0;
  Status broken_;  // the first failure; every later collective fails with it
  std::thread worker_;
};

}  // namespace mlcore::dist::internal
