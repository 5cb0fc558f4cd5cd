#include <algorithm>
#include <cstdlib>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "mlcore/core/cuda.h"
#include "mlcore/hpo/resources.h"

namespace mlcore::hpo {

StatusOr<std::unique_ptr<ResourcePool>> ResourcePool::Create(const TrialResources& resources) {
  TrialResources r = resources;
  if (r.gpus_per_trial < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpus_per_trial must be >= 0, got ", r.gpus_per_trial));
  }
  if (r.cpus_per_trial < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpus_per_trial must be >= 0, got ", r.cpus_per_trial));
  }
  if (r.cpus < 0)
    return absl::InvalidArgumentError(absl::StrCat("cpus must be >= 0, got ", r.cpus));
  std::set<int> seen;
  for (int g : r.gpus) {
    if (g < 0) {
      return absl::InvalidArgumentError(absl::StrCat("gpus: device ordinal ", g, " is negative"));
    }
    if (!seen.insert(g).second) {
      return absl::InvalidArgumentError(absl::StrCat("gpus: device ", g, " is listed twice"));
    }
  }
  if (r.gpus.empty() && r.gpus_per_trial > 0) {
    const int n = cuda::DeviceCount();
    for (int i = 0; i < n; ++i) r.gpus.push_back(i);
  }
  if (r.gpus_per_trial > static_cast<int>(r.gpus.size())) {
    std::string have = r.gpus.empty() && resources.gpus.empty()
                           ? absl::StrCat("no GPU (", cuda::UnavailableReason(), ")")
                           : absl::StrCat(r.gpus.size(), " GPU(s): ", absl::StrJoin(r.gpus, ","));
    return absl::InvalidArgumentError(absl::StrCat("each trial asks for ", r.gpus_per_trial,
                                                   " GPU(s) (gpus_per_trial) but there is ", have));
  }
  if (r.cpus == 0) r.cpus = std::max(1u, std::thread::hardware_concurrency());
  if (r.cpus_per_trial > r.cpus) {
    return absl::InvalidArgumentError(absl::StrCat("each trial asks for ", r.cpus_per_trial,
                                                   " CPU(s) (cpus_per_trial) but there are ",
                                                   r.cpus));
  }
  // Subprocesses see devices by the names this process was given, not by its ordinals.
  std::vector<std::string> visible;
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  std::vector<std::string> entries;
  if (env != nullptr) entries = absl::StrSplit(env, ',', absl::SkipWhitespace());
  for (int g : r.gpus) {
    if (env == nullptr) {
      visible.push_back(absl::StrCat(g));
    } else if (g < static_cast<int>(entries.size())) {
      visible.push_back(entries[g]);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("gpus: device ", g,
                                                     " is not among CUDA_VISIBLE_DEVICES=", env,
                                                     " (", entries.size(), " device(s))"));
    }
  }
  return std::unique_ptr<ResourcePool>(new ResourcePool(std::move(r), std::move(visible)));
}

ResourcePool::ResourcePool(TrialResources resources, std::vector<std::string> visible_names)
    : resources_(std::move(resources)),
      visible_names_(std::move(visible_names)),
      gpu_busy_(resources_.gpus.size(), false),
      cpus_free_(resources_.cpus) {}

std::optional<ResourceLease> ResourcePool::Acquire(const std::function<bool()>& cancelled) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    const int gpus_free = static_cast<int>(std::count(gpu_busy_.begin(), gpu_busy_.end(), false));
    if (gpus_free >= resources_.gpus_per_trial && cpus_free_ >= resources_.cpus_per_trial) break;
    if (cancelled && cancelled()) return std::nullopt;
    freed_.wait_for(lock, std::chrono::milliseconds(20));
  }
  if (cancelled && cancelled()) return std::nullopt;
  ResourceLease lease;
  std::vector<std::string> names;
  // Lowest free ordinals first, so a lease is predictable in logs.
  for (size_t i = 0;
       i < gpu_busy_.size() && static_cast<int>(lease.gpus.size()) < resources_.gpus_per_trial;
       ++i) {
    if (gpu_busy_[i]) continue;
    gpu_busy_[i] = true;
    lease.gpus.push_back(resources_.gpus[i]);
    names.push_back(visible_names_[i]);
  }
  lease.cuda_visible_devices = absl::StrJoin(names, ",");
  lease.cpus = resources_.cpus_per_trial;
  cpus_free_ -= lease.cpus;
  return lease;
}

void ResourcePool::Release(const ResourceLease& lease) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int g : lease.gpus) {
      for (size_t i = 0; i < resources_.gpus.size(); ++i) {
        if (resources_.gpus[i] == g) gpu_busy_[i] = false;
      }
    }
    cpus_free_ += lease.cpus;
  }
  freed_.notify_all();
}

int ResourcePool::free_gpus() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count(gpu_busy_.begin(), gpu_busy_.end(), false));
}

int ResourcePool::free_cpus() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cpus_free_;
}

}  // namespace mlcore::hpo
