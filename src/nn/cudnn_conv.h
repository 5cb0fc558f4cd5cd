// Conv2d's cuDNN backend (kernels/nn/cudnn_conv.cu), which conv2d.cu hands ConvBackend::kCudnn
// to in builds that link cuDNN. It obeys Conv2d's rules (nn/conv2d.h); the CPU side has no
// separate twin. Only .cu files of a CUDA build include this; layers go through nn/conv2d.h.
#pragma once

#include "mlcore/core/status.h"
#include "nn/conv2d.h"

namespace mlcore::nn::cuda {

#if defined(MLCORE_HAVE_CUDNN)
// y = conv(x, w) (+ bias) with cudnnConvolutionForward.
Status CudnnConvForward(const ConvArgs& a, const float* x, const float* w, const float* bias,
                        float* y);
// dw (overwritten), db and dx (each may be null) with cudnnConvolutionBackward{Filter,Data}.
Status CudnnConvBackward(const ConvArgs& a, const float* dy, const float* x, const float* w,
                         float* dw, float* db, float* dx);
#endif

}  // namespace mlcore::nn::cuda
