// The CUDA twins of Conv2d, the pooling layers, BatchNorm and Embedding, on raw device
// pointers, queued on the legacy default stream like the other nn kernels (src/nn/cuda_kernels.h).
// Defined in kernels/nn/conv_kernels.cu (and cudnn_conv.cu). Without CUDA they are inline stubs
// that fail, and the layers report SupportsCuda() == false, so Sequential::To refuses before any
// is reached. Conv2d runs through cuDNN when the build has it and through im2col kernels around
// cuBLAS otherwise (or when a test asks for that backend).
#pragma once

#include <cstdint>
#include <optional>

#include "mlcore/core/status.h"
#include "nn/im2col.h"

namespace mlcore::nn::internal {

enum class ConvBackend : int {
  kCudnn,   // cudnnConvolution{Forward,BackwardData,BackwardFilter}; reads the input x
  kIm2col,  // im2col kernels + cuBLAS; reads the stored column matrices
};

struct ConvCudaArgs {
  int device = 0;
  ConvBackend backend = ConvBackend::kIm2col;
  int64_t batch = 0, filters = 0, channels = 0, height = 0, width = 0;
  int64_t kernel_h = 1, kernel_w = 1, groups = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t out_height = 0, out_width = 0;
  // Multiply bf16-rounded inputs with float32 accumulation (see nn/bf16.h); the result is the
  // CPU emulation's up to the order of the sums.
  bool bf16 = false;
  int64_t ColRows() const { return channels * kernel_h * kernel_w; }
};

// Copies the window of `g` (input size, kernel, stride, top/left padding, dilation, output size)
// into ConvCudaArgs or PoolCudaArgs, which name those fields alike; each layer sets the rest.
template <typename CudaArgs>
void SetWindow(const ConvGeometry& g, CudaArgs& a) {
  a.height = g.height;
  a.width = g.width;
  a.kernel_h = g.kernel_h;
  a.kernel_w = g.kernel_w;
  a.stride_h = g.stride_h;
  a.stride_w = g.stride_w;
  a.pad_h = g.pad_h;
  a.pad_w = g.pad_w;
  a.dil_h = g.dil_h;
  a.dil_w = g.dil_w;
  a.out_height = g.out_height;
  a.out_width = g.out_width;
}

// The backend Conv2d layers use on CUDA: cuDNN when the build links it, im2col + cuBLAS
// otherwise, or whatever the last SetConvCudaBackendForTesting chose (nullopt: the default
// again). Tests use the override to check each backend against the CPU twin. Defined in
// src/nn/conv2d.cc.
ConvBackend ConvCudaBackend();
void SetConvCudaBackendForTesting(std::optional<ConvBackend> backend);
// Whether libmlcore was built with CUDA and cuDNN (a function, not a macro test: code outside
// libmlcore, tests included, is compiled without libmlcore's CUDA definitions).
bool ConvCudaHasCudnn();

#if defined(__CUDACC__)
#define MLCORE_POOL_HOST_DEVICE __host__ __device__
#else
#define MLCORE_POOL_HOST_DEVICE
#endif
// pad_h / pad_w are the top / left padding; the bottom / right padding only matters to the
// average's divisor (count_include_pad clips a ceil_mode window to the padded input there).
struct PoolCudaArgs {
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
#undef MLCORE_POOL_HOST_DEVICE

struct BatchNormCudaArgs {
  int device = 0;
  int64_t batch = 0, channels = 0, spatial = 1;  // x is [batch, channels, spatial]
  float eps = 1e-5f, momentum = 0.1f;
};

enum class IndexKind : int { kInt32, kInt64, kFloat32 };

#if defined(MLCORE_WITH_CUDA)
inline constexpr bool kConvCudaBuilt = true;
#define MLCORE_NN_TWIN(decl) decl;
#else
inline constexpr bool kConvCudaBuilt = false;
#define MLCORE_NN_TWIN(decl)                                                            \
  inline decl {                                                                         \
    return ::absl::FailedPreconditionError("this build of mlcore has no CUDA kernels"); \
  }
#endif

// y = conv(x, w) (+ bias), w [F, C/groups, kh, kw]. kIm2col: cols (required) receives the im2col
// matrices [batch, C*kh*kw, OH*OW] that Backward reuses; kCudnn: cols is unused (may be null).
MLCORE_NN_TWIN(Status ConvForwardCuda(const ConvCudaArgs& a, const float* x, const float* w,
                                      const float* bias, float* cols, float* y))
// dw (overwritten), db (may be null), dx (may be null) from dy. kIm2col reads the stored cols
// and needs scratch (as large as cols) with dx; kCudnn reads the forward input x instead.
MLCORE_NN_TWIN(Status ConvBackwardCuda(const ConvCudaArgs& a, const float* dy, const float* x,
                                       const float* w, const float* cols, float* dw, float* db,
                                       float* scratch, float* dx))
// argmax (may be null) receives each output's source offset within its plane.
MLCORE_NN_TWIN(Status MaxPoolForwardCuda(const PoolCudaArgs& a, const float* x, float* y,
                                         int32_t* argmax))
MLCORE_NN_TWIN(Status MaxPoolBackwardCuda(const PoolCudaArgs& a, const float* dy,
                                          const int32_t* argmax, float* dx))
MLCORE_NN_TWIN(Status AvgPoolForwardCuda(const PoolCudaArgs& a, const float* x, float* y))
MLCORE_NN_TWIN(Status AvgPoolBackwardCuda(const PoolCudaArgs& a, const float* dy, float* dx))
// Training forward: batch statistics, xhat and per-channel rstd saved, running stats updated.
MLCORE_NN_TWIN(Status BatchNormTrainCuda(const BatchNormCudaArgs& a, const float* x,
                                         const float* gamma, const float* beta, float* running_mean,
                                         float* running_var, float* y, float* xhat, float* rstd))
MLCORE_NN_TWIN(Status BatchNormInferCuda(const BatchNormCudaArgs& a, const float* x,
                                         const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var,
                                         float* y))
MLCORE_NN_TWIN(Status BatchNormBackwardCuda(const BatchNormCudaArgs& a, const float* dy,
                                            const float* xhat, const float* rstd,
                                            const float* gamma, float* dgamma, float* dbeta,
                                            float* dx))
// Indices are already range-checked by the caller.
MLCORE_NN_TWIN(Status EmbeddingForwardCuda(int device, const void* indices, IndexKind kind,
                                           int64_t count, const float* table, int64_t dim,
                                           float* out))
// dtable is zeroed, then every row of dy is added to its index's row.
MLCORE_NN_TWIN(Status EmbeddingBackwardCuda(int device, const void* indices, IndexKind kind,
                                            int64_t count, const float* dy, int64_t dim,
                                            int64_t vocab, float* dtable))

#undef MLCORE_NN_TWIN

}  // namespace mlcore::nn::internal
