// Internal glue between the core and the CUDA runtime. Compiles on every build: without CUDA the
// functions report FailedPrecondition instead of touching a device.
#pragma once

#include <cstddef>

#include "mlcore/core/device.h"
#include "mlcore/core/status.h"

namespace mlcore::internal {

// Copies n bytes between any two devices (host<->device, device<->device, host<->host).
Status CopyBytes(void* dst, Device dst_device, const void* src, Device src_device, size_t n);
// OK when `device` is a CUDA device that exists; a clear FailedPrecondition otherwise.
Status CheckCudaDevice(Device device);
// Raw device memory, bypassing the cache (the caching allocator sits on top of these).
StatusOr<void*> CudaMalloc(int device, size_t nbytes);
void CudaFree(int device, void* ptr);

}  // namespace mlcore::internal
