// Mixed precision for training: which precision the matrix products of Dense and Conv2d use on
// the current thread. Fit sets it for its duration (FitOptions::precision); layers read it when
// they multiply. In bf16 the GEMM inputs are rounded to bfloat16 (round to nearest even) and the
// products accumulate in float32; weights, gradients, optimiser state, activations and losses
// stay float32. On the GPU that runs on tensor cores (cuBLAS/cuDNN bf16); on the CPU it is an
// emulation (rounded float32 copies), as accurate as the GPU and no faster than float32.
//
// The conversions have CUDA twins (kernels/nn/bf16.cu). The rule both obey: FloatToBFloat16
// (core/half.h) integer op for integer op, round to nearest even, a NaN keeping its sign and
// payload with the quiet bit set; so the twins agree bit for bit, NaNs included.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"

namespace mlcore::nn::internal {

enum class Precision : int { kFloat32, kBFloat16 };

// "float32" (also "fp32"), "bf16" (also "bfloat16"); anything else is InvalidArgument naming it.
StatusOr<Precision> ParsePrecision(std::string_view text);
const char* PrecisionName(Precision p);

// The calling thread's matrix-product precision (kFloat32 unless a scope says otherwise).
Precision ComputePrecision();

// Sets the calling thread's precision until the scope ends (scopes nest).
class ScopedComputePrecision {
 public:
  explicit ScopedComputePrecision(Precision p);
  ~ScopedComputePrecision();
  ScopedComputePrecision(const ScopedComputePrecision&) = delete;
  ScopedComputePrecision& operator=(const ScopedComputePrecision&) = delete;

 private:
  Precision saved_;
};

// out[i] = in[i] rounded to the nearest bfloat16 (ties to even), kept as float32: a GEMM over
// such values with float32 accumulation is exactly what a bf16 tensor-core GEMM computes, up to
// the order of the sums. in == out is allowed.
void RoundToBf16(const float* in, float* out, int64_t n);

// A host GEMM operand under the CPU emulation: a bf16-rounded copy of x[0, n) when `round`,
// otherwise x itself (no copy).
class Bf16Operand {
 public:
  Bf16Operand(const float* x, int64_t n, bool round) : ptr_(x) {
    if (!round) return;
    store_.resize(static_cast<size_t>(n));
    RoundToBf16(x, store_.data(), n);
    ptr_ = store_.data();
  }
  const float* get() const { return ptr_; }

 private:
  std::vector<float> store_;
  const float* ptr_;
};

// The bf16 copy of one weight tensor for the GEMMs of one training step. Dense converts its
// kernel once, in the training forward, and its backward reuses that copy for dx = dy W^T
// instead of converting the same float32 weights a second time (for a 4096 x 4096 layer that
// conversion moves more bytes than the GEMM itself at batch 256). The copy is valid from Refresh
// (each training forward) to Release (the end of that step's backward). No write to the weights
// (an optimiser step, a checkpoint load, set_weights, a move to another device) can fall inside
// that window, so the copy cannot go stale and no write path needs to know about it.
class Bf16WeightCache {
 public:
  // Converts w (float32): on the CPU to a bf16-rounded float32 copy (exactly RoundToBf16's), on a
  // CUDA device to bf16 bits on that device. The storage is kept between refreshes.
  Status Refresh(const Tensor& w);
  // Whether the copy was made from w (same storage, size and device) and not released since.
  bool Holds(const Tensor& w) const;
  // The copy: rounded float32 values (CPU) or bf16 bits (CUDA); null when not Holds.
  const float* host() const { return valid_ && device_.is_cpu() ? store_.data<float>() : nullptr; }
  const uint16_t* device_bits() const {
    return valid_ && device_.is_cuda() ? static_cast<const uint16_t*>(store_.data()) : nullptr;
  }
  void Release() { valid_ = false; }

 private:
  Tensor store_;  // float32 on the CPU, bfloat16 on a CUDA device
  const void* source_ = nullptr;
  int64_t numel_ = 0;
  Device device_ = Device::CPU();
  bool valid_ = false;
};

}  // namespace mlcore::nn::internal

namespace mlcore::nn::cuda {

// Raw device pointers of device `device`, the legacy default stream (see nn/dense.h).
// out[i] = the bf16 bits of in[i].
Status ToBf16(int device, const float* in, uint16_t* out, int64_t n);
// out[i] = in[i] rounded to bf16 and widened back (internal::RoundToBf16's); in == out is allowed.
Status RoundToBf16(int device, const float* in, float* out, int64_t n);

}  // namespace mlcore::nn::cuda
