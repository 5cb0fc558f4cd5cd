// Conv2d (conv2d.cc) and its CUDA twin (kernels/nn/conv2d.cu, with cudnn_conv.cu and
// im2col.cu). The rules both obey:
// - NCHW input, kernel [F, C/groups, kh, kw], output [N, F, OH, OW]; each channel group is its
//   own convolution of C/groups channels into F/groups filters.
// - float32: the CPU runs im2col + its GEMM per sample; CUDA runs cuDNN (in FMA math, never TF32)
//   or im2col + cuBLAS. Both sum in float32 in their own order: they agree to float32 rounding.
// - bf16 (nn/bf16.h): both round the GEMM operands (x or its columns, the kernel, and dy in the
//   backward) to bf16, nearest even, and accumulate in float32.
// - padding="same" with more padding after than before: the CPU pads implicitly, CUDA pads the
//   input explicitly on the bottom / right, convolves symmetrically and crops dx back.
// - The bias gradient is the sum of dy over samples and positions, in double on both (in its own
//   order on each), rounded to float32 once; it is never bf16-rounded.
#pragma once

#include <cstdint>
#include <optional>

#include "mlcore/core/status.h"
#include "nn/im2col.h"

namespace mlcore::nn::internal {

// The backend Conv2d layers use on CUDA: cuDNN when the build links it, im2col + cuBLAS
// otherwise, or whatever the last SetConvCudaBackendForTesting chose (nullopt: the default
// again). Tests use the override to check each backend against the CPU twin. Defined in
// conv2d.cc.
cuda::ConvBackend ConvCudaBackend();
void SetConvCudaBackendForTesting(std::optional<cuda::ConvBackend> backend);
// Whether libmlcore was built with CUDA and cuDNN (a function, not a macro test: code outside
// libmlcore, tests included, is compiled without libmlcore's CUDA definitions).
bool ConvCudaHasCudnn();

}  // namespace mlcore::nn::internal

namespace mlcore::nn::cuda {

// y = conv(x, w) (+ bias), w [F, C/groups, kh, kw]. kIm2col: cols (required) receives the im2col
// matrices [batch, C*kh*kw, OH*OW] that Backward reuses; kCudnn: cols is unused (may be null).
Status ConvForward(const ConvArgs& a, const float* x, const float* w, const float* bias,
                   float* cols, float* y);
// dw (overwritten), db (may be null), dx (may be null) from dy. kIm2col reads the stored cols
// and needs scratch (as large as cols) with dx; kCudnn reads the forward input x instead.
Status ConvBackward(const ConvArgs& a, const float* dy, const float* x, const float* w,
                    const float* cols, float* dw, float* db, float* scratch, float* dx);

// The bias kernels both backends use. y[n, f, :] = bias[f] for every sample n and filter f
// (p = OH * OW).
Status ConvFillBias(int device, const float* bias, float* y, int64_t batch, int64_t filters,
                    int64_t p);
// db[f] = sum over samples and positions of dy[n, f, :], in a fixed order.
Status ConvBiasGrad(int device, const float* dy, float* db, int64_t batch, int64_t filters,
                    int64_t p);

}  // namespace mlcore::nn::cuda
