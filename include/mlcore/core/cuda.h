// What CUDA this process can use. Every function answers on any build and any machine: a build
// without CUDA, or a machine with no driver or no GPU, reports zero devices and says why.
#pragma once

#include <cstddef>
#include <string>

#include "mlcore/core/status.h"

namespace mlcore::cuda {

// True when the build has CUDA and at least one device answers.
bool IsAvailable();
int DeviceCount();
// Why DeviceCount() is zero ("built without CUDA", the driver's error...); empty when it is not.
std::string UnavailableReason();

struct DeviceProperties {
  int index = 0;
  std::string name;
  int compute_capability_major = 0;
  int compute_capability_minor = 0;
  int multiprocessor_count = 0;
  size_t total_memory = 0;
  size_t free_memory = 0;
};
// NotFound for an index past DeviceCount().
StatusOr<DeviceProperties> GetDeviceProperties(int index);
// Waits for all work queued on device `index`.
Status Synchronize(int index);

}  // namespace mlcore::cuda
