// How one model is served: the batcher's limits, the number of instances, the versions loaded,
// the backend and the device. A file-system repository keeps it as <repo>/<model>/config.json
// (see docs/serving.md for the file's keys); the API takes it directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mlcore/core/device.h"
#include "mlcore/core/status.h"

namespace mlcore::serve {

// Which versions of a repository model are loaded (Triton's version_policy).
struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int64_t latest = 1;             // kLatest: the N highest versions
  std::vector<int64_t> specific;  // kSpecific: exactly these
};

struct ModelConfig {
  // Backend name in BackendRegistry(): "mlcore" (nn checkpoints, the default), "python",
  // "sequence" (an ensemble of other served models run one after the other).
  std::string backend = "mlcore";
  // Largest batch the dynamic batcher forms; 0 turns batching off (requests run one by one
  // and their shapes carry no batch axis of the server's making).
  int64_t max_batch_size = 32;
  // Longest a request waits for others to join its batch, in microseconds.
  int64_t max_queue_delay_us = 500;
  // Batch sizes the batcher sends at once when reached, before max_queue_delay_us runs out.
  std::vector<int64_t> preferred_batch_sizes;
  // Requests allowed to wait per model; one more is refused (Unavailable: HTTP 503).
  int64_t max_queue_size = 1024;
  // Model instances (each with its own worker thread) per loaded version.
  int64_t instance_count = 1;
  VersionPolicy version_policy;
  // Where the native backend runs: CPU, or a CUDA device in a CUDA build.
  Device device = Device::CPU();
  // "sequence" backend: the served models run in order, each one's outputs the next one's
  // inputs (matched by name, or position when the names differ and the counts agree).
  std::vector<std::string> steps;
  // "python" backend: "module:Class" of an mlcore.serve.Model subclass (the Python side sets it).
  std::string python_class;

  // InvalidArgument naming the first bad field (negative sizes, no steps for "sequence", ...).
  Status Validate() const;
  // The repository file form: {"backend", "max_batch_size", "max_queue_delay_us",
  // "preferred_batch_sizes", "max_queue_size", "instance_count", "device": "cpu"|"cuda:0",
  // "version_policy": {"latest": N} | {"all": {}} | {"specific": [v...]}, "steps": [...]}.
  // Keys left out keep the defaults above; an unknown key is InvalidArgument.
  static StatusOr<ModelConfig> FromJson(const std::string& text);
  std::string ToJson() const;
};

}  // namespace mlcore::serve
