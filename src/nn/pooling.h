// MaxPool2d and AvgPool2d (pooling.cc) and their CUDA twins (kernels/nn/pooling.cu), which the
// global pooling layers (global_pool.cc) also run with the whole plane as the window. The rules
// both twins obey:
// - Planes of NCHW inputs, each independent; windows of kernel_h x kernel_w taps dil apart,
//   moved by the stride over an input padded by pad_h / pad_w on the top / left. Taps in the
//   padding are skipped.
// - Max: the first maximum in tap order wins ties and a NaN wins; the winner's offset in its plane
//   is saved (argmax) and the backward adds dy there. A window without any input gives -inf and
//   no gradient.
// - Average: the taps summed in float32 in tap order, divided by PoolArgs::AvgDivisor (PyTorch's
//   count_include_pad / divisor_override rule, one function for both twins); the backward
//   spreads dy / divisor over the window's inputs. CUDA adds overlapping windows' gradients with
//   atomics in any order: the twins agree to float32 rounding.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"

#if defined(__CUDACC__)
#define MLCORE_POOL_HOST_DEVICE __host__ __device__
#else
#define MLCORE_POOL_HOST_DEVICE
#endif

namespace mlcore::nn::cuda {

// Raw device pointers of device `device`, the legacy default stream (see nn/dense.h).
// pad_h / pad_w are the top / left padding; the bottom / right padding only matters to the
// average's divisor (count_include_pad clips a ceil_mode window to the padded input there).
struct PoolArgs {
  int device = 0;
  int64_t planes = 0;  // batch * channels
  int64_t height = 0, width = 0, out_height = 0, out_width = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1, pad_bottom = 0, pad_right = 0;
  bool count_include_pad = true;
  int64_t divisor_override = 0;  // > 0: every average divides by it

  // The average's divisor for the window whose top-left tap is (h, w) (may lie in the padding),
  // PyTorch's rule; shared by the CPU loop (src/nn/pooling.cc) and the kernels. 0 only for a
  // window without any input under it, which the caller outputs as 0.
  MLCORE_POOL_HOST_DEVICE int64_t AvgDivisor(int64_t h, int64_t w) const {
    if (divisor_override > 0) return divisor_override;
    const int64_t h1 = h + kernel_h < height + pad_bottom ? h + kernel_h : height + pad_bottom;
    const int64_t w1 = w + kernel_w < width + pad_right ? w + kernel_w : width + pad_right;
    if (count_include_pad) return (h1 - h) * (w1 - w);
    const int64_t rows = (h1 < height ? h1 : height) - (h > 0 ? h : 0);
    const int64_t cols = (w1 < width ? w1 : width) - (w > 0 ? w : 0);
    return rows > 0 && cols > 0 ? rows * cols : 0;
  }
};

// argmax (may be null) receives each output's source offset within its plane.
Status MaxPoolForward(const PoolArgs& a, const float* x, float* y, int32_t* argmax);
Status MaxPoolBackward(const PoolArgs& a, const float* dy, const int32_t* argmax, float* dx);
Status AvgPoolForward(const PoolArgs& a, const float* x, float* y);
Status AvgPoolBackward(const PoolArgs& a, const float* dy, float* dx);

}  // namespace mlcore::nn::cuda

#undef MLCORE_POOL_HOST_DEVICE
