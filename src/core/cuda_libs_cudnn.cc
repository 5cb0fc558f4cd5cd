// The cuDNN entry points the kernels call (kernels/nn/cudnn_conv.cu), defined here as forwarders
// into libcudnn, which is dlopen'ed on the first call (see cuda_libs.h). Hidden like the cuBLAS
// forwarders (cuda_libs_cublas.cc), and like them listed from `nm -u` of kernels/*/*.o.
#if defined(MLCORE_WITH_CUDA) && defined(MLCORE_HAVE_CUDNN)

#include <cudnn.h>

#include <atomic>

#include "cuda_libs.h"

namespace {

using mlcore::internal::CudaLibraries;
using mlcore::internal::ForwardOr;
using mlcore::internal::kCudnn;

}  // namespace

// A forwarder returning CUDNN_STATUS_NOT_INITIALIZED when cuDNN cannot be loaded.
#define MLCORE_CUDNN_FORWARD(name, params, ...)                                        \
  cudnnStatus_t CUDNNWINAPI name params {                                              \
    static std::atomic<void*> slot{nullptr};                                           \
    return ForwardOr<cudnnStatus_t params>(CudaLibraries(), kCudnn, slot, #name,       \
                                           CUDNN_STATUS_NOT_INITIALIZED, __VA_ARGS__); \
  }

extern "C" {

MLCORE_CUDNN_FORWARD(cudnnCreate, (cudnnHandle_t * handle), handle)
MLCORE_CUDNN_FORWARD(cudnnDestroy, (cudnnHandle_t handle), handle)
MLCORE_CUDNN_FORWARD(cudnnSetStream, (cudnnHandle_t handle, cudaStream_t streamId), handle,
                     streamId)

MLCORE_CUDNN_FORWARD(cudnnCreateTensorDescriptor, (cudnnTensorDescriptor_t * tensorDesc),
                     tensorDesc)
MLCORE_CUDNN_FORWARD(cudnnDestroyTensorDescriptor, (cudnnTensorDescriptor_t tensorDesc), tensorDesc)
MLCORE_CUDNN_FORWARD(cudnnSetTensor4dDescriptor,
                     (cudnnTensorDescriptor_t tensorDesc, cudnnTensorFormat_t format,
                      cudnnDataType_t dataType, int n, int c, int h, int w),
                     tensorDesc, format, dataType, n, c, h, w)

MLCORE_CUDNN_FORWARD(cudnnCreateFilterDescriptor, (cudnnFilterDescriptor_t * filterDesc),
                     filterDesc)
MLCORE_CUDNN_FORWARD(cudnnDestroyFilterDescriptor, (cudnnFilterDescriptor_t filterDesc), filterDesc)
MLCORE_CUDNN_FORWARD(cudnnSetFilter4dDescriptor,
                     (cudnnFilterDescriptor_t filterDesc, cudnnDataType_t dataType,
                      cudnnTensorFormat_t format, int k, int c, int h, int w),
                     filterDesc, dataType, format, k, c, h, w)

MLCORE_CUDNN_FORWARD(cudnnCreateConvolutionDescriptor, (cudnnConvolutionDescriptor_t * convDesc),
                     convDesc)
MLCORE_CUDNN_FORWARD(cudnnDestroyConvolutionDescriptor, (cudnnConvolutionDescriptor_t convDesc),
                     convDesc)
MLCORE_CUDNN_FORWARD(cudnnSetConvolution2dDescriptor,
                     (cudnnConvolutionDescriptor_t convDesc, int pad_h, int pad_w, int u, int v,
                      int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                      cudnnDataType_t computeType),
                     convDesc, pad_h, pad_w, u, v, dilation_h, dilation_w, mode, computeType)
MLCORE_CUDNN_FORWARD(cudnnSetConvolutionGroupCount,
                     (cudnnConvolutionDescriptor_t convDesc, int groupCount), convDesc, groupCount)
MLCORE_CUDNN_FORWARD(cudnnSetConvolutionMathType,
                     (cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t mathType), convDesc,
                     mathType)

MLCORE_CUDNN_FORWARD(cudnnGetConvolutionForwardAlgorithm_v7,
                     (cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
                      const cudnnFilterDescriptor_t filterDesc,
                      const cudnnConvolutionDescriptor_t convDesc,
                      const cudnnTensorDescriptor_t destDesc, const int requestedAlgoCount,
                      int* returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t* perfResults),
                     handle, srcDesc, filterDesc, convDesc, destDesc, requestedAlgoCount,
                     returnedAlgoCount, perfResults)
MLCORE_CUDNN_FORWARD(cudnnGetConvolutionBackwardDataAlgorithm_v7,
                     (cudnnHandle_t handle, const cudnnFilterDescriptor_t filterDesc,
                      const cudnnTensorDescriptor_t diffDesc,
                      const cudnnConvolutionDescriptor_t convDesc,
                      const cudnnTensorDescriptor_t gradDesc, const int requestedAlgoCount,
                      int* returnedAlgoCount, cudnnConvolutionBwdDataAlgoPerf_t* perfResults),
                     handle, filterDesc, diffDesc, convDesc, gradDesc, requestedAlgoCount,
                     returnedAlgoCount, perfResults)
MLCORE_CUDNN_FORWARD(cudnnGetConvolutionBackwardFilterAlgorithm_v7,
                     (cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
                      const cudnnTensorDescriptor_t diffDesc,
                      const cudnnConvolutionDescriptor_t convDesc,
                      const cudnnFilterDescriptor_t gradDesc, const int requestedAlgoCount,
                      int* returnedAlgoCount, cudnnConvolutionBwdFilterAlgoPerf_t* perfResults),
                     handle, srcDesc, diffDesc, convDesc, gradDesc, requestedAlgoCount,
                     returnedAlgoCount, perfResults)

MLCORE_CUDNN_FORWARD(cudnnConvolutionForward,
                     (cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xDesc,
                      const void* x, const cudnnFilterDescriptor_t wDesc, const void* w,
                      const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo,
                      void* workSpace, size_t workSpaceSizeInBytes, const void* beta,
                      const cudnnTensorDescriptor_t yDesc, void* y),
                     handle, alpha, xDesc, x, wDesc, w, convDesc, algo, workSpace,
                     workSpaceSizeInBytes, beta, yDesc, y)
MLCORE_CUDNN_FORWARD(cudnnConvolutionBackwardData,
                     (cudnnHandle_t handle, const void* alpha, const cudnnFilterDescriptor_t wDesc,
                      const void* w, const cudnnTensorDescriptor_t dyDesc, const void* dy,
                      const cudnnConvolutionDescriptor_t convDesc,
                      cudnnConvolutionBwdDataAlgo_t algo, void* workSpace,
                      size_t workSpaceSizeInBytes, const void* beta,
                      const cudnnTensorDescriptor_t dxDesc, void* dx),
                     handle, alpha, wDesc, w, dyDesc, dy, convDesc, algo, workSpace,
                     workSpaceSizeInBytes, beta, dxDesc, dx)
MLCORE_CUDNN_FORWARD(cudnnConvolutionBackwardFilter,
                     (cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xDesc,
                      const void* x, const cudnnTensorDescriptor_t dyDesc, const void* dy,
                      const cudnnConvolutionDescriptor_t convDesc,
                      cudnnConvolutionBwdFilterAlgo_t algo, void* workSpace,
                      size_t workSpaceSizeInBytes, const void* beta,
                      const cudnnFilterDescriptor_t dwDesc, void* dw),
                     handle, alpha, xDesc, x, dyDesc, dy, convDesc, algo, workSpace,
                     workSpaceSizeInBytes, beta, dwDesc, dw)

// The kernels put this text in their errors, so when cuDNN could not be loaded it is the
// loader's message (which library, where it looked) rather than "not initialized".
const char* CUDNNWINAPI cudnnGetErrorString(cudnnStatus_t status) {
  static std::atomic<void*> slot{nullptr};
  if (status == CUDNN_STATUS_NOT_INITIALIZED) {
    if (const char* why = CudaLibraries().FirstError(kCudnn)) return why;
  }
  return ForwardOr<decltype(cudnnGetErrorString)>(
      CudaLibraries(), kCudnn, slot, "cudnnGetErrorString",
      "cuDNN error (cuDNN could not be loaded)", status);
}

}  // extern "C"

#endif  // MLCORE_WITH_CUDA && MLCORE_HAVE_CUDNN
