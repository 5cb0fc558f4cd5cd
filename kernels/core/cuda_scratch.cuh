// Temporary device memory for one kernel sequence (cuDNN workspaces, bf16 copies of GEMM
// operands, the clip norm's accumulator), from mlcore's caching CUDA allocator. Freed blocks may
// be handed out again at once: every nn and optim kernel is queued on the legacy default stream,
// so a later user is ordered after the work that is still reading this block. Included by
// kernels/{nn,optim}/*.cu only.
#pragma once

#include <cstddef>
#include <string>

#include "mlcore/core/allocator.h"
#include "mlcore/core/status.h"

namespace mlcore::cuda {

class CudaScratch {
 public:
  CudaScratch() = default;
  ~CudaScratch() { Release(); }
  CudaScratch(const CudaScratch&) = delete;
  CudaScratch& operator=(const CudaScratch&) = delete;

  // Replaces any previous block with one of at least nbytes on `device`.
  Status Allocate(int device, size_t nbytes) {
    Release();
    MLCORE_ASSIGN_OR_RETURN(allocator_, GetAllocator(Device::CUDA(device)));
    auto p = allocator_->Allocate(nbytes);
    if (!p.ok()) {
      return Status(p.status().code(),
                    "nn: " + std::to_string(nbytes) +
                        " bytes of CUDA scratch: " + std::string(p.status().message()));
    }
    ptr_ = *p;
    nbytes_ = nbytes;
    return absl::OkStatus();
  }
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  size_t size() const { return nbytes_; }

 private:
  void Release() {
    if (ptr_ != nullptr) allocator_->Deallocate(ptr_, nbytes_);
    ptr_ = nullptr;
    nbytes_ = 0;
  }
  Allocator* allocator_ = nullptr;
  void* ptr_ = nullptr;
  size_t nbytes_ = 0;
};

}  // namespace mlcore::cuda
