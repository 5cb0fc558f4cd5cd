// Resource slots for parallel trials: GPU devices and CPU cores that a trial holds for itself
// while it runs. Optimize takes a slot before it asks a trial and returns it when the trial ends
// in any state, so trials that each need a GPU never share one, and more parallel workers than
// slots simply wait (Katib's one-pod-per-GPU model, in one process).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::hpo {

struct TrialResources {
  // GPU devices each trial holds for itself; 0: trials take no GPU slot.
  int gpus_per_trial = 0;
  // The devices to hand out, as CUDA ordinals of this process. Empty: every device CUDA reports
  // (cuda::DeviceCount(), which already honours CUDA_VISIBLE_DEVICES). An explicit list needs no
  // GPU to be present (tests and schedulers of remote work use fake ones).
  std::vector<int> gpus;
  // CPU cores each trial holds; 0: trials take no CPU slot.
  int cpus_per_trial = 0;
  // CPU cores to hand out; 0: std::thread::hardware_concurrency().
  int cpus = 0;

  bool empty() const { return gpus_per_trial == 0 && cpus_per_trial == 0; }
};

// What one trial holds.
struct ResourceLease {
  std::vector<int> gpus;  // CUDA ordinals of this process
  // The same devices as a subprocess must see them in CUDA_VISIBLE_DEVICES: the entries of this
  // process's CUDA_VISIBLE_DEVICES at those ordinals when it is set (ids or GPU-UUIDs), else the
  // ordinals; comma-separated, "" without GPUs.
  std::string cuda_visible_devices;
  int cpus = 0;
};

// A counted pool of GPU devices and CPU cores. Thread-safe.
class ResourcePool {
 public:
  // InvalidArgument for negative counts, a trial asking for more GPUs or CPUs than the pool has
  // (naming both), duplicate or negative device ordinals, or an ordinal past the entries of
  // CUDA_VISIBLE_DEVICES.
  static StatusOr<std::unique_ptr<ResourcePool>> Create(const TrialResources& resources);

  // Blocks until one trial's worth of slots is free and takes it; nullopt when `cancelled`
  // (polled every 20 ms while waiting) returns true first.
  std::optional<ResourceLease> Acquire(const std::function<bool()>& cancelled);
  // Returns a lease's slots to the pool.
  void Release(const ResourceLease& lease);

  int free_gpus() const;
  int free_cpus() const;
  const TrialResources& resources() const { return resources_; }

 private:
  ResourcePool(TrialResources resources, std::vector<std::string> visible_names);

  TrialResources resources_;
  std::vector<std::string> visible_names_;  // per entry of resources_.gpus
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<bool> gpu_busy_;  // per entry of resources_.gpus
  int cpus_free_ = 0;
};

}  // namespace mlcore::hpo
