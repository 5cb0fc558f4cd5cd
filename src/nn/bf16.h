// Mixed precision for training: which precision the matrix products of Dense and Conv2d use on
// the current thread. Fit sets it for its duration (FitOptions::precision); layers read it when
// they multiply. In bf16 the GEMM inputs are rounded to bfloat16 (round to nearest even) and the
// products accumulate in float32; weights, gradients, optimiser state, activations and losses
// stay float32. On the GPU that runs on tensor cores (cuBLAS/cuDNN bf16); on the CPU it is an
// emulation (rounded float32 copies), as accurate as the GPU and no faster than float32.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"

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

}  // namespace mlcore::nn::internal
