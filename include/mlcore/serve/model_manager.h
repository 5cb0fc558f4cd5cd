// The serving core: which models and versions are served, their batchers and instances, and
// inference in process (no socket), as Triton's in-process API. HTTP and gRPC are front ends of
// one ModelManager; a C++ program may also call it directly.
//
// Errors (absl codes, and what the HTTP front end answers): NotFound (404) for an unknown model
// or version, InvalidArgument (400) for a request that does not fit the signature, Unavailable
// (503) for a model not ready or a queue that is full (then with a retry hint), OutOfRange (413)
// for a request over a size limit. Every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/serve/backend.h"
#include "mlcore/serve/model_config.h"
#include "mlcore/serve/model_resolver.h"
#include "mlcore/serve/tensor.h"

namespace mlcore::serve {

enum class ModelState { kUnavailable, kLoading, kReady, kUnloading };
// "UNAVAILABLE", "LOADING", "READY", "UNLOADING" (Triton's repository index words).
const char* ModelStateName(ModelState state);

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;  // ready versions, ascending
  std::string platform;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
};

// One row of the repository index: a model (and version, when loaded) and its state.
struct RepositoryEntry {
  std::string name;
  std::string version;  // empty for a model with no loaded version
  ModelState state = ModelState::kUnavailable;
  std::string reason;  // why it is unavailable (a load error), else empty
};

struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;
};

struct BatchStat {
  int64_t batch_size = 0;
  DurationStat compute;
};

// Triton's statistics extension, per model version.
struct ModelStatistics {
  std::string name;
  std::string version;
  uint64_t last_inference_ms = 0;  // Unix time of the last request, ms
  uint64_t inference_count = 0;    // requests answered (a batch of 8 counts 8)
  uint64_t execution_count = 0;    // backend executions (a batch of 8 counts 1)
  DurationStat success, fail, queue, compute_input, compute_infer, compute_output;
  std::vector<BatchStat> batch_stats;  // by batch size, ascending
};

struct ManagerOptions {
  // A file-system repository <repo>/<model>/<version>/ (+ <repo>/<model>/config.json); empty:
  // none, models are added through the API.
  std::string model_repository;
  // Load every repository model at Start (Triton's "none" control mode); false: only on
  // LoadModel (Triton's "explicit").
  bool load_all = true;
  // Rescan the repository (new, changed, removed versions) and re-resolve registry references
  // every poll_interval_ms; 0: no polling (PollRepository does it on demand).
  int64_t poll_interval_ms = 0;
  // With poll_interval_ms 0, registry references (only) are re-resolved this often, so a server
  // follows an alias move without rescanning a repository; 0: never (PollRepository on demand).
  int64_t registry_poll_interval_ms = 1000;
  // Resolves registry references for AddRegistryModel; null: none.
  std::shared_ptr<ModelResolver> resolver;
};

using InferCallback = std::function<void(StatusOr<InferResponse>)>;

class ModelManager {
 public:
  explicit ModelManager(ManagerOptions options = {});
  // Unloads every model after the requests already queued are answered.
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Loads the repository (when load_all) and starts the poll thread (when polling).
  Status Start();
  // Stops polling and unloads everything, answering what is queued first.
  void Stop();

  // Serves the checkpoint (or backend input) at `path` as `name`, version 1, and loads it.
  // InvalidArgument for a name with '/', "..", or characters outside [A-Za-z0-9_.-].
  Status AddModel(const std::string& name, const std::string& path, ModelConfig config = {});
  // Serves what `factory` builds (one backend per instance) as `name`, version 1.
  Status AddModel(const std::string& name, ModelConfig config, BackendFactory factory);
  // Serves a registry model: `reference` is `name`, `name/version` or `name@alias`, resolved
  // through `resolver` (null: options.resolver) now and again on every poll; FailedPrecondition
  // when neither is set. Several registries (homes) may serve through one manager this way.
  Status AddRegistryModel(const std::string& name, const std::string& reference,
                          ModelConfig config = {},
                          std::shared_ptr<ModelResolver> resolver = nullptr);
  // Loads `name` (from the repository, or the source it was added with); a loaded model is
  // reloaded: new versions load and become ready before the old ones are unloaded, so requests
  // never fail across a reload. NotFound when no such model is known.
  Status LoadModel(const std::string& name);
  // Stops new requests to `name`, answers the queued ones, then unloads it.
  Status UnloadModel(const std::string& name);
  // Rescans the repository and re-resolves registry references once.
  Status PollRepository();

  // Blocking inference in process.
  StatusOr<InferResponse> Infer(const InferRequest& request);
  // Queues `request`; `done` runs once, on a worker thread, with the response or the error.
  // Errors known at once (unknown model, bad shape, full queue) call `done` before returning.
  void AsyncInfer(InferRequest request, InferCallback done);

  // Health: live while not stopped; ready when every model that should be loaded is ready.
  bool IsLive() const;
  bool IsReady() const;
  // `version` empty: the served (highest ready) version.
  bool IsModelReady(const std::string& name, const std::string& version = "") const;
  StatusOr<ModelMetadata> Metadata(const std::string& name, const std::string& version = "") const;
  StatusOr<ModelConfig> Config(const std::string& name) const;
  std::vector<RepositoryEntry> RepositoryIndex() const;
  // Where `name` is served from, for people: its directory, "registry:<ref>",
  // "repository:<dir>" or "function". NotFound for an unknown model.
  StatusOr<std::string> Source(const std::string& name) const;
  // `name` empty: every model; `version` empty: every version of it.
  StatusOr<std::vector<ModelStatistics>> Statistics(const std::string& name = "",
                                                    const std::string& version = "") const;
  // Prometheus text exposition of the serving metrics (request outcomes, latency and queue-time
  // histograms, batch sizes, model states, device memory); the HTTP /metrics body.
  std::string PrometheusMetrics() const;
  // Counts a request a front end refused before it reached a model (bad JSON, auth), so the
  // metrics see every outcome: `protocol` "http"/"grpc", `code` the HTTP status answered.
  void RecordFrontendOutcome(const std::string& protocol, int code);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlcore::serve
