// The twins behind include/mlcore/ops/elementwise.h. src/ops/elementwise.cc validates the
// arguments once and then calls exactly one of these namespaces, so the twins may assume that
// operands are defined, share device, dtype and shape, and that the dtype is one the op supports.
// The rules both twins must apply identically (conversions, which dtype a sum returns) live here
// too, so that a change cannot reach one twin and miss the other.
#pragma once

#include <cstdint>
#include <limits>

#include "mlcore/core/tensor.h"

#if defined(__CUDACC__)
#define MLCORE_HOST_DEVICE __host__ __device__
#else
#define MLCORE_HOST_DEVICE
#endif

namespace mlcore::ops {

// Elements per CPU task. Large enough that scheduling costs little next to streaming 64K
// elements through memory, small enough that a 1M-element tensor still spreads over 16 cores.
inline constexpr int64_t kCpuGrain = int64_t{1} << 16;
// Below this many elements an op runs on the calling thread: waking a pool thread costs about
// 10 us, more than streaming 256K cache-resident elements saves by splitting them (measured on
// 1e5 float32: 26 us split over two threads, 23 us on one).
inline constexpr int64_t kCpuParallelThreshold = int64_t{1} << 18;

// What Sum returns for `dtype`: float64 stays float64, the other floats give float32, integers
// and bool give int64.
inline DType SumDType(DType dtype) {
  if (dtype == DType::kFloat64) return DType::kFloat64;
  return IsFloatingPoint(dtype) ? DType::kFloat32 : DType::kInt64;
}

// Float to integer conversion, truncating toward zero. C++ leaves out-of-range values undefined
// and x86 and CUDA disagree on them, so both twins saturate to the integer's range and map NaN
// to 0 (what CUDA's cvt.rzi does for 32-bit targets).
template <typename Int, typename Float>
MLCORE_HOST_DEVICE inline Int SaturatingFloatToInt(Float v) {
  constexpr Float kLow = static_cast<Float>(std::numeric_limits<Int>::min());
  constexpr Float kHigh = static_cast<Float>(std::numeric_limits<Int>::max());
  if (v != v) return Int{0};
  if (v <= kLow) return std::numeric_limits<Int>::min();
  if (v >= kHigh) return std::numeric_limits<Int>::max();
  return static_cast<Int>(v);
}

namespace cpu {
// The host bytes of `value` converted to `dtype` with the same rules as Cast. Fill on both
// devices writes this pattern, which makes the twins agree bit for bit by construction.
uint64_t FillPattern(DType dtype, double value);

Status Fill(Tensor& tensor, double value);
Status Cast(const Tensor& x, Tensor& out);
Status Add(const Tensor& a, const Tensor& b, Tensor& out);
Status Mul(const Tensor& a, const Tensor& b, Tensor& out);
Status Axpy(double alpha, const Tensor& x, Tensor& y);
// `out` is a 0-d CPU tensor of SumDType(x.dtype()).
Status Sum(const Tensor& x, Tensor& out);
}  // namespace cpu

namespace cuda {
// The same contracts on the tensors' CUDA device, queued on the legacy default stream so that
// they are ordered with the allocator's reuse of blocks and with Tensor copies.
Status Fill(Tensor& tensor, uint64_t pattern);
Status Cast(const Tensor& x, Tensor& out);
Status Add(const Tensor& a, const Tensor& b, Tensor& out);
Status Mul(const Tensor& a, const Tensor& b, Tensor& out);
Status Axpy(double alpha, const Tensor& x, Tensor& y);
Status Sum(const Tensor& x, Tensor& out);
}  // namespace cuda

}  // namespace mlcore::ops
