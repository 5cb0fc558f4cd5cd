// One loaded version of one model: its backend instances, each with a worker thread, and the
// dynamic batcher in front of them. Requests are checked against the signature on arrival,
// queued (bounded), gathered into batches of one shape (non-batch axes and datatypes equal),
// executed, and each answered with its own rows.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mlcore/serve/backend.h"
#include "mlcore/serve/model_manager.h"
#include "serve/stats.h"

namespace mlcore::serve::internal {

using Clock = std::chrono::steady_clock;

class ServedVersion {
 public:
  ServedVersion(std::string model, int64_t version, ModelConfig config);
  ~ServedVersion();  // Stop()

  // Builds config.instance_count backends through `factory` and starts their workers.
  Status Load(const BackendFactory& factory, BackendContext context);
  // Checks `request` against the signature and queues it; `done` runs later on a worker. An
  // error is returned (and `done` not called) when the request is refused at once.
  Status Enqueue(InferRequest request, InferCallback done, Clock::time_point arrival);
  // Refuses new requests, answers the queued ones, joins the workers. Idempotent.
  void Stop();

  const std::string& model() const { return model_; }
  int64_t version() const { return version_; }
  const ModelConfig& config() const { return config_; }
  const Signature& signature() const { return signature_; }
  std::string platform() const { return platform_; }
  int64_t device_memory_bytes() const { return device_bytes_; }
  VersionStats& stats() { return stats_; }

 private:
  struct Pending {
    InferRequest request;
    InferCallback done;
    Clock::time_point arrival;
    int64_t rows = 1;
    std::string shape_key;
  };

  // Reorders and checks the inputs; sets rows and shape_key.
  Status Prepare(InferRequest& request, Pending& pending) const;
  void WorkerLoop(Backend* backend);
  // Waits for a batch per the batching rules and takes it off the queue; empty when stopping
  // with nothing queued.
  std::vector<Pending> NextBatch();
  void RunBatch(Backend* backend, std::vector<Pending>& batch);
  StatusOr<InferResponse> Answer(const Pending& pending, std::vector<InferTensor>& outputs,
                                 int64_t row0, int64_t rows, bool whole) const;

  const std::string model_;
  const int64_t version_;
  const std::string version_text_;
  const ModelConfig config_;
  bool batching_ = false;
  Signature signature_;
  std::string platform_;
  int64_t device_bytes_ = 0;
  VersionStats stats_;

  std::vector<std::unique_ptr<Backend>> backends_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool stopped_ = false;
};

}  // namespace mlcore::serve::internal
