#include "mlcore/core/allocator.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cuda_internal.h"
#include "mlcore/core/cuda.h"

namespace mlcore {
namespace {

constexpr size_t kCpuAlignment = 64;
// Large blocks are aligned to a huge page and advised as such, as numpy does: first touching a
// 40 MB block then takes 20 page faults instead of 10,000, which is most of the cost of an
// operation that allocates its output.
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugePageThreshold = size_t{4} << 20;

class CpuAllocator final : public Allocator {
 public:
  StatusOr<void*> Allocate(size_t nbytes) override {
    const size_t alignment = nbytes >= kHugePageThreshold ? kHugePage : kCpuAlignment;
    size_t rounded = (nbytes + alignment - 1) / alignment * alignment;
    void* ptr = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
    if (ptr == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("out of host memory allocating ", nbytes, " bytes"));
    }
#ifdef MADV_HUGEPAGE
    if (alignment == kHugePage) madvise(ptr, rounded, MADV_HUGEPAGE);  // advice only: may fail
#endif
    uint64_t now = allocated_.fetch_add(nbytes) + nbytes;
    uint64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    allocations_.fetch_add(1);
    return ptr;
  }
  void Deallocate(void* ptr, size_t nbytes) override {
    std::free(ptr);
    allocated_.fetch_sub(nbytes);
  }
  Device device() const override { return Device::CPU(); }
  AllocatorStats stats() const {
    AllocatorStats s;
    s.allocated_bytes = allocated_.load();
    s.peak_allocated_bytes = peak_.load();
    s.num_allocations = allocations_.load();
    return s;
  }

 private:
  std::atomic<uint64_t> allocated_{0};
  std::atomic<uint64_t> peak_{0};
  std::atomic<uint64_t> allocations_{0};
};

// Rounds sizes to 512 bytes (small) or 2 MiB (large) so freed blocks fit later requests of
// nearby sizes; a cached block is reused only if it wastes at most a quarter of itself.
size_t RoundCudaSize(size_t nbytes) {
  constexpr size_t kSmall = 512, kLarge = 2 << 20;
  if (nbytes < (1 << 20)) return (std::max<size_t>(nbytes, 1) + kSmall - 1) / kSmall * kSmall;
  return (nbytes + kLarge - 1) / kLarge * kLarge;
}

class CudaCachingAllocator final : public Allocator {
 public:
  explicit CudaCachingAllocator(int device) : device_(device) {}

  StatusOr<void*> Allocate(size_t nbytes) override {
    size_t size = RoundCudaSize(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    void* ptr = nullptr;
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first - size <= it->first / 4) {
      ptr = it->second;
      size = it->first;
      free_.erase(it);
      stats_.cached_bytes -= size;
      ++stats_.num_cache_hits;
    } else {
      auto fresh = internal::CudaMalloc(device_, size);
      if (!fresh.ok() && absl::IsResourceExhausted(fresh.status()) && !free_.empty()) {
        ReleaseCacheLocked();  // the cache may be what fills the device: give it back, retry
        fresh = internal::CudaMalloc(device_, size);
      }
      if (!fresh.ok()) return fresh.status();
      ptr = *fresh;
      ++stats_.num_device_mallocs;
    }
    sizes_[ptr] = size;
    stats_.allocated_bytes += size;
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    ++stats_.num_allocations;
    return ptr;
  }

  void Deallocate(void* ptr, size_t) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(ptr);
    if (it == sizes_.end()) return;
    size_t size = it->second;
    sizes_.erase(it);
    stats_.allocated_bytes -= size;
    stats_.cached_bytes += size;
    free_.emplace(size, ptr);
  }

  Device device() const override { return Device::CUDA(device_); }

  void EmptyCache() {
    std::lock_guard<std::mutex> lock(mu_);
    ReleaseCacheLocked();
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  void ReleaseCacheLocked() {
    for (auto& [size, ptr] : free_) internal::CudaFree(device_, ptr);
    free_.clear();
    stats_.cached_bytes = 0;
  }

  const int device_;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  std::map<void*, size_t> sizes_;
  AllocatorStats stats_;
};

CpuAllocator& TheCpuAllocator() {
  static CpuAllocator* allocator = new CpuAllocator();
  return *allocator;
}

// One caching allocator per device, created on first use and never destroyed: tensors held in
// static objects may be freed after static destructors would have run.
std::vector<CudaCachingAllocator*>& CudaAllocators() {
  static auto* allocators = [] {
    auto* v = new std::vector<CudaCachingAllocator*>();
    for (int i = 0; i < cuda::DeviceCount(); ++i) v->push_back(new CudaCachingAllocator(i));
    return v;
  }();
  return *allocators;
}

}  // namespace

StatusOr<Allocator*> GetAllocator(Device device) {
  if (device.is_cpu()) return &TheCpuAllocator();
  MLCORE_RETURN_IF_ERROR(internal::CheckCudaDevice(device));
  return CudaAllocators()[device.index];
}

StatusOr<AllocatorStats> GetAllocatorStats(Device device) {
  if (device.is_cpu()) return TheCpuAllocator().stats();
  MLCORE_RETURN_IF_ERROR(internal::CheckCudaDevice(device));
  return CudaAllocators()[device.index]->stats();
}

void EmptyCudaCache() {
  if (cuda::DeviceCount() == 0) return;
  for (auto* a : CudaAllocators()) a->EmptyCache();
}

}  // namespace mlcore
