// The pieces of the CUDA Conv2d that kernels/nn/conv_kernels.cu and kernels/nn/cudnn_conv.cu
// share: the cuDNN passes (only in builds that link cuDNN) and the bias kernels both backends
// use. Only .cu files of a CUDA build include this; layers go through nn/conv_cuda.h.
#pragma once

#include <cstdint>

#include "mlcore/core/status.h"
#include "nn/conv_cuda.h"

namespace mlcore::nn::internal {

#if defined(MLCORE_HAVE_CUDNN)
// y = conv(x, w) (+ bias) with cudnnConvolutionForward.
Status CudnnConvForward(const ConvCudaArgs& a, const float* x, const float* w, const float* bias,
                        float* y);
// dw (overwritten), db and dx (each may be null) with cudnnConvolutionBackward{Filter,Data}.
Status CudnnConvBackward(const ConvCudaArgs& a, const float* dy, const float* x, const float* w,
                         float* dw, float* db, float* dx);
#endif

// y[n, f, :] = bias[f] for every sample n and filter f (p = OH * OW).
Status ConvFillBias(int device, const float* bias, float* y, int64_t batch, int64_t filters,
                    int64_t p);
// db[f] = sum over samples and positions of dy[n, f, :], in a fixed order.
Status ConvBiasGrad(int device, const float* dy, float* db, int64_t batch, int64_t filters,
                    int64_t p);

}  // namespace mlcore::nn::internal
