#include "dist/queued_communicator.h"

namespace mlcore::dist::internal {

class QueuedCommunicator::WorkImpl : public Work {
 public:
  explicit WorkImpl(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}

  Status Wait(absl::Duration timeout) override {
    if (!IsCompleted()) {
      std::lock_guard<std::mutex> gate(gate_->mu);
      if (gate_->owner != nullptr) gate_->owner->TryRunInline(this);
    }
    std::unique_lock<std::mutex> lock(mu_);
    auto done = [this] { return done_; };
    if (timeout == absl::InfiniteDuration()) {
      cv_.wait(lock, done);
    } else if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), done)) {
      return absl::DeadlineExceededError("Work.wait: the collective did not finish within " +
                                         absl::FormatDuration(timeout));
    }
    return status_;
  }

  bool IsCompleted() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

  void Finish(Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      status_ = std::move(status);
      done_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::shared_ptr<Gate> gate_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
};

namespace {
thread_local bool caller_waits = false;
}  // namespace

CallerWaitsScope::CallerWaitsScope() : outer_(caller_waits) { caller_waits = true; }
CallerWaitsScope::~CallerWaitsScope() { caller_waits = outer_; }
bool CallerWaitsScope::active() { return caller_waits; }

QueuedCommunicator::QueuedCommunicator(std::shared_ptr<Store> store, CommunicatorOptions options)
    : Communicator(std::move(options)), store_(std::move(store)) {
  health_ = std::make_unique<HealthMonitor>(store_, rank(), world_size(),
                                            this->options().heartbeat_interval);
  gate_ = std::make_shared<Gate>();
  gate_->owner = this;
  worker_ = std::thread([this] { Run(); });
}

QueuedCommunicator::~QueuedCommunicator() { StopWorker(); }

void QueuedCommunicator::StopWorker() {
  {
    std::lock_guard<std::mutex> gate(gate_->mu);
    gate_->owner = nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

StatusOr<std::shared_ptr<Work>> QueuedCommunicator::Enqueue(std::string name, std::string what,
                                                            absl::Duration timeout,
                                                            CollectiveFn fn) {
  auto work = std::make_shared<WorkImpl>(gate_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
    if (stop_) return absl::FailedPreconditionError("the communicator is shut down");
    queue_.push_back(Job{std::move(name), std::move(what), EffectiveTimeout(timeout), std::move(fn),
                         work, ++issued_});
  }
  // A caller that waits at once runs the job itself when it is next; when it is not, the job
  // ahead of it runs (on the worker, woken for it, or inline) and its end wakes the worker.
  if (!CallerWaitsScope::active()) cv_.notify_one();
  return std::shared_ptr<Work>(work);
}

void QueuedCommunicator::Run() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || (!queue_.empty() && !running_); });
      if (queue_.empty()) return;
      job = TakeFrontLocked();
    }
    RunTaken(job);
  }
}

void QueuedCommunicator::TryRunInline(const WorkImpl* work) {
  Job job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ || queue_.empty() || queue_.front().work.get() != work) return;
    job = TakeFrontLocked();
  }
  RunTaken(job);
}

QueuedCommunicator::Job QueuedCommunicator::TakeFrontLocked() {
  Job job = std::move(queue_.front());
  queue_.pop_front();
  running_ = true;
  return job;
}

void QueuedCommunicator::RunTaken(Job& job) {
  Status status = RunJob(job);
  job.work->Finish(std::move(status));
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
  }
  cv_.notify_all();
}

Status QueuedCommunicator::RunJob(Job& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
  }
  health_->Entered(job.seq);
  absl::Time start = absl::Now();
  Status status = job.fn(job.timeout);
  if (status.ok() || IsTypeError(status) || absl::IsInvalidArgument(status)) return status;
  status = Explain(job, status, absl::Now() - start);
  std::lock_guard<std::mutex> lock(mu_);
  broken_ = status;
  return status;
}

Status QueuedCommunicator::Explain(const Job& job, const Status& cause, absl::Duration took) {
  Diagnosis d = health_->Diagnose(job.seq);
  std::vector<int> missing = d.gone;
  missing.insert(missing.end(), d.late.begin(), d.late.end());
  std::sort(missing.begin(), missing.end());
  std::string head = job.name + " (collective #" + std::to_string(job.seq) + ", " + job.what +
                     ") on rank " + std::to_string(rank()) + " failed after " +
                     absl::FormatDuration(absl::Trunc(took, absl::Milliseconds(1))) + " (timeout " +
                     absl::FormatDuration(job.timeout) + "): ";
  std::string message;
  if (missing.empty()) {
    message = head + "every rank is alive and reached it; " + std::string(cause.message());
    return Status(cause.code(), message);
  }
  message = head + "missing rank(s) " + RankList(missing) + ": " + d.detail + " [" +
            std::string(cause.message()) + "]";
  return d.gone.empty() ? absl::DeadlineExceededError(message) : absl::UnavailableError(message);
}

}  // namespace mlcore::dist::internal
