// Memory for tensors. The CPU allocator hands out 64-byte aligned blocks (a cache line, and the
// widest SIMD load). The CUDA allocator caches freed blocks by size class, since cudaMalloc and
// cudaFree synchronise the device and cost tens of microseconds each; EmptyCache() returns them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mlcore/core/device.h"
#include "mlcore/core/status.h"

namespace mlcore {

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Zero bytes gives a valid, non-null pointer that must still be deallocated.
  virtual StatusOr<void*> Allocate(size_t nbytes) = 0;
  virtual void Deallocate(void* ptr, size_t nbytes) = 0;
  virtual Device device() const = 0;
};

struct AllocatorStats {
  uint64_t allocated_bytes = 0;       // held by live tensors now
  uint64_t peak_allocated_bytes = 0;  // highest allocated_bytes seen
  uint64_t cached_bytes = 0;          // freed by tensors, kept for reuse (CUDA only)
  uint64_t num_allocations = 0;       // Allocate() calls that succeeded
  uint64_t num_cache_hits = 0;        // of those, served from the cache (CUDA only)
  uint64_t num_device_mallocs = 0;    // calls that reached cudaMalloc (CUDA only)
};

// The process-wide allocator for `device`. CUDA devices fail with FailedPrecondition when the
// build has no CUDA or the device does not exist.
StatusOr<Allocator*> GetAllocator(Device device);
StatusOr<AllocatorStats> GetAllocatorStats(Device device);
// Gives cached CUDA blocks back to the driver (all devices). No-op without CUDA.
void EmptyCudaCache();

}  // namespace mlcore
