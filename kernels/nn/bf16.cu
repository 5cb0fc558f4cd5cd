// CUDA twins of the bf16 conversions (src/nn/bf16.cc; rules in src/nn/bf16.h): one thread per
// element, integer operations that are FloatToBFloat16's own.
#include <cuda_runtime.h>

#include <cstdint>

#include "../core/cuda_common.cuh"
#include "nn/bf16.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

// mlcore::FloatToBFloat16 (core/half.h) on the device, integer op for integer op: round to
// nearest even, and a NaN keeps its sign and payload with the quiet bit set. (cuda_bf16.h's
// __float2bfloat16_rn returns one canonical NaN, 0x7fff, which the CPU twin does not.)
__device__ __forceinline__ uint16_t Bf16Bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

__global__ void ToBf16Kernel(const float* in, uint16_t* out, int64_t n) {
  MLCORE_GRID_STRIDE(i, n) { out[i] = Bf16Bits(in[i]); }
}

__global__ void RoundToBf16Kernel(const float* in, float* out, int64_t n) {
  MLCORE_GRID_STRIDE(i, n) { out[i] = __uint_as_float(uint32_t{Bf16Bits(in[i])} << 16); }
}

}  // namespace

Status ToBf16(int device, const float* in, uint16_t* out, int64_t n) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("ToBf16", device));
  if (n <= 0) return absl::OkStatus();
  ToBf16Kernel<<<cu::Blocks(n), cu::kThreads>>>(in, out, n);
  return cu::CheckLaunch("ToBf16");
}

Status RoundToBf16(int device, const float* in, float* out, int64_t n) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("RoundToBf16", device));
  if (n <= 0) return absl::OkStatus();
  RoundToBf16Kernel<<<cu::Blocks(n), cu::kThreads>>>(in, out, n);
  return cu::CheckLaunch("RoundToBf16");
}

}  // namespace mlcore::nn::cuda
