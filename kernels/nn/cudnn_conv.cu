// Conv2d through cuDNN's convolution API (cudnnConvolutionForward, BackwardData, BackwardFilter)
// for builds that link cuDNN: one handle per device on the legacy default stream, descriptors
// made per call (cheap host structs), the algorithm chosen once per geometry by cuDNN's
// heuristics (the *_v7 queries) and cached, its workspace from mlcore's caching allocator.
// float32 runs with CUDNN_FMA_MATH so that no TF32 tensor-core kernel silently drops mantissa
// bits: the result must match the CPU twin to float32 rounding. bf16 (ConvArgs::bf16) feeds
// bf16-rounded copies of the operands to the same float32 convolution, which is the CPU
// emulation's arithmetic (exact products, float32 sums).
#include "nn/cudnn_conv.h"

#if defined(MLCORE_HAVE_CUDNN)

#include <cuda_runtime.h>
#include <cudnn.h>

#include <map>
#include <mutex>
#include <tuple>

#include "../core/cuda_common.cuh"
#include "../core/cuda_scratch.cuh"
#include "absl/strings/str_cat.h"
#include "nn/bf16.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;
// Algorithms needing more workspace than this are passed over for the next one on cuDNN's list.
constexpr size_t kMaxWorkspaceBytes = size_t{1} << 30;

Status CheckDnn(const char* op, cudnnStatus_t st) {
  if (st == CUDNN_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("nn::Conv2d ", op, " (cuDNN): ", cudnnGetErrorString(st)));
}

// One handle per thread and device: cuDNN forbids using a handle from two threads at once, and
// inference runs on many threads (serving). Each is destroyed when its thread ends.
struct ThreadHandles {
  cudnnHandle_t handles[cu::kMaxDevices] = {};
  ~ThreadHandles() {
    for (cudnnHandle_t h : handles) {
      if (h != nullptr) cudnnDestroy(h);
    }
  }
};

StatusOr<cudnnHandle_t> DnnHandle(int device) {
  thread_local ThreadHandles mine;
  if (device < 0 || device >= cu::kMaxDevices) {
    return absl::InvalidArgumentError("nn::Conv2d: CUDA device index out of range");
  }
  MLCORE_RETURN_IF_ERROR(cu::UseDevice("Conv2d (cuDNN)", device));
  if (mine.handles[device] == nullptr) {
    cudnnHandle_t h = nullptr;
    MLCORE_RETURN_IF_ERROR(CheckDnn("cudnnCreate", cudnnCreate(&h)));
    // The legacy default stream, like every other nn kernel and the allocator.
    MLCORE_RETURN_IF_ERROR(CheckDnn("cudnnSetStream", cudnnSetStream(h, nullptr)));
    mine.handles[device] = h;
  }
  return mine.handles[device];
}

// The four descriptors of one convolution, destroyed with the object.
class Descriptors {
 public:
  ~Descriptors() {
    if (x_) cudnnDestroyTensorDescriptor(x_);
    if (y_) cudnnDestroyTensorDescriptor(y_);
    if (w_) cudnnDestroyFilterDescriptor(w_);
    if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
  }
  Status Init(const ConvArgs& a) {
    auto i = [](int64_t v) { return static_cast<int>(v); };
    MLCORE_RETURN_IF_ERROR(CheckDnn("descriptor", cudnnCreateTensorDescriptor(&x_)));
    MLCORE_RETURN_IF_ERROR(CheckDnn("descriptor", cudnnCreateTensorDescriptor(&y_)));
    MLCORE_RETURN_IF_ERROR(CheckDnn("descriptor", cudnnCreateFilterDescriptor(&w_)));
    MLCORE_RETURN_IF_ERROR(CheckDnn("descriptor", cudnnCreateConvolutionDescriptor(&conv_)));
    MLCORE_RETURN_IF_ERROR(
        CheckDnn("input descriptor",
                 cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(a.batch),
                                            i(a.channels), i(a.height), i(a.width))));
    MLCORE_RETURN_IF_ERROR(
        CheckDnn("output descriptor",
                 cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(a.batch),
                                            i(a.filters), i(a.out_height), i(a.out_width))));
    MLCORE_RETURN_IF_ERROR(CheckDnn(
        "filter descriptor",
        cudnnSetFilter4dDescriptor(w_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, i(a.filters),
                                   i(a.channels / a.groups), i(a.kernel_h), i(a.kernel_w))));
    MLCORE_RETURN_IF_ERROR(
        CheckDnn("convolution descriptor",
                 cudnnSetConvolution2dDescriptor(conv_, i(a.pad_h), i(a.pad_w), i(a.stride_h),
                                                 i(a.stride_w), i(a.dil_h), i(a.dil_w),
                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT)));
    MLCORE_RETURN_IF_ERROR(
        CheckDnn("group count", cudnnSetConvolutionGroupCount(conv_, i(a.groups))));
    return CheckDnn("math type", cudnnSetConvolutionMathType(conv_, CUDNN_FMA_MATH));
  }
  cudnnTensorDescriptor_t x() const { return x_; }
  cudnnTensorDescriptor_t y() const { return y_; }
  cudnnFilterDescriptor_t w() const { return w_; }
  cudnnConvolutionDescriptor_t conv() const { return conv_; }

 private:
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
};

enum class Pass : int { kForward, kBackwardData, kBackwardFilter };

struct Choice {
  int algo = 0;
  size_t workspace = 0;
};

using Key = std::tuple<int, int, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

Key KeyOf(const ConvArgs& a, Pass pass) {
  return Key{a.device,   static_cast<int>(pass),
             a.bf16,     a.batch,
             a.filters,  a.channels,
             a.height,   a.width,
             a.kernel_h, a.kernel_w,
             a.stride_h, a.stride_w,
             a.pad_h,    a.pad_w,
             a.dil_h,    a.dil_w,
             a.groups};
}

// The first algorithm on cuDNN's ranked list that it can run in FMA math within the workspace
// limit. Perf is one of the three *AlgoPerf_t structs.
template <typename Perf>
StatusOr<Choice> FirstUsable(const char* op, const Perf* perf, int count) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (perf[i].mathType != CUDNN_FMA_MATH && perf[i].mathType != CUDNN_DEFAULT_MATH) continue;
    if (perf[i].memory > kMaxWorkspaceBytes) continue;
    return Choice{static_cast<int>(perf[i].algo), perf[i].memory};
  }
  return absl::InternalError(absl::StrCat("nn::Conv2d ", op,
                                          " (cuDNN): no algorithm for this geometry within ",
                                          kMaxWorkspaceBytes >> 20, " MiB of workspace"));
}

StatusOr<Choice> Pick(cudnnHandle_t h, const Descriptors& d, const ConvArgs& a, Pass pass) {
  static std::mutex mu;
  static std::map<Key, Choice> cache;
  const Key key = KeyOf(a, pass);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  constexpr int kMax = 16;
  int count = 0;
  Choice choice;
  switch (pass) {
    case Pass::kForward: {
      cudnnConvolutionFwdAlgoPerf_t perf[kMax];
      MLCORE_RETURN_IF_ERROR(
          CheckDnn("forward algorithm", cudnnGetConvolutionForwardAlgorithm_v7(
                                            h, d.x(), d.w(), d.conv(), d.y(), kMax, &count, perf)));
      MLCORE_ASSIGN_OR_RETURN(choice, FirstUsable("forward", perf, count));
      break;
    }
    case Pass::kBackwardData: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
      MLCORE_RETURN_IF_ERROR(CheckDnn("backward-data algorithm",
                                      cudnnGetConvolutionBackwardDataAlgorithm_v7(
                                          h, d.w(), d.y(), d.conv(), d.x(), kMax, &count, perf)));
      MLCORE_ASSIGN_OR_RETURN(choice, FirstUsable("backward data", perf, count));
      break;
    }
    case Pass::kBackwardFilter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
      MLCORE_RETURN_IF_ERROR(CheckDnn("backward-filter algorithm",
                                      cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                                          h, d.x(), d.y(), d.conv(), d.w(), kMax, &count, perf)));
      MLCORE_ASSIGN_OR_RETURN(choice, FirstUsable("backward filter", perf, count));
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu);
  cache[key] = choice;
  return choice;
}

// A bf16-rounded copy of n floats, or `in` itself in float32.
StatusOr<const float*> Operand(const ConvArgs& a, const float* in, int64_t n,
                               cu::CudaScratch& store) {
  if (!a.bf16) return in;
  MLCORE_RETURN_IF_ERROR(store.Allocate(a.device, sizeof(float) * n));
  MLCORE_RETURN_IF_ERROR(RoundToBf16(a.device, in, store.get<float>(), n));
  return static_cast<const float*>(store.get<float>());
}

}  // namespace

Status CudnnConvForward(const ConvArgs& a, const float* x, const float* w, const float* bias,
                        float* y) {
  MLCORE_ASSIGN_OR_RETURN(cudnnHandle_t h, DnnHandle(a.device));
  Descriptors d;
  MLCORE_RETURN_IF_ERROR(d.Init(a));
  MLCORE_ASSIGN_OR_RETURN(Choice c, Pick(h, d, a, Pass::kForward));
  cu::CudaScratch xs, ws, work;
  MLCORE_ASSIGN_OR_RETURN(x, Operand(a, x, a.batch * a.channels * a.height * a.width, xs));
  MLCORE_ASSIGN_OR_RETURN(w, Operand(a, w, a.filters * a.ColRows() / a.groups, ws));
  MLCORE_RETURN_IF_ERROR(work.Allocate(a.device, c.workspace));
  const int64_t p = a.out_height * a.out_width;
  if (bias != nullptr)
    MLCORE_RETURN_IF_ERROR(ConvFillBias(a.device, bias, y, a.batch, a.filters, p));
  const float one = 1.0f, beta = bias != nullptr ? 1.0f : 0.0f;
  return CheckDnn("forward", cudnnConvolutionForward(h, &one, d.x(), x, d.w(), w, d.conv(),
                                                     static_cast<cudnnConvolutionFwdAlgo_t>(c.algo),
                                                     work.get(), c.workspace, &beta, d.y(), y));
}

Status CudnnConvBackward(const ConvArgs& a, const float* dy, const float* x, const float* w,
                         float* dw, float* db, float* dx) {
  MLCORE_ASSIGN_OR_RETURN(cudnnHandle_t h, DnnHandle(a.device));
  Descriptors d;
  MLCORE_RETURN_IF_ERROR(d.Init(a));
  const int64_t p = a.out_height * a.out_width;
  if (db != nullptr) MLCORE_RETURN_IF_ERROR(ConvBiasGrad(a.device, dy, db, a.batch, a.filters, p));
  cu::CudaScratch dys, xs, ws, work;
  MLCORE_ASSIGN_OR_RETURN(dy, Operand(a, dy, a.batch * a.filters * p, dys));
  const float one = 1.0f, zero = 0.0f;
  {
    MLCORE_ASSIGN_OR_RETURN(Choice c, Pick(h, d, a, Pass::kBackwardFilter));
    MLCORE_ASSIGN_OR_RETURN(x, Operand(a, x, a.batch * a.channels * a.height * a.width, xs));
    MLCORE_RETURN_IF_ERROR(work.Allocate(a.device, c.workspace));
    MLCORE_RETURN_IF_ERROR(CheckDnn(
        "backward filter",
        cudnnConvolutionBackwardFilter(h, &one, d.x(), x, d.y(), dy, d.conv(),
                                       static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo),
                                       work.get(), c.workspace, &zero, d.w(), dw)));
  }
  if (dx == nullptr) return absl::OkStatus();
  MLCORE_ASSIGN_OR_RETURN(Choice c, Pick(h, d, a, Pass::kBackwardData));
  MLCORE_ASSIGN_OR_RETURN(w, Operand(a, w, a.filters * a.ColRows() / a.groups, ws));
  MLCORE_RETURN_IF_ERROR(work.Allocate(a.device, c.workspace));
  return CheckDnn("backward data",
                  cudnnConvolutionBackwardData(h, &one, d.w(), w, d.y(), dy, d.conv(),
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo),
                                               work.get(), c.workspace, &zero, d.x(), dx));
}

}  // namespace mlcore::nn::cuda

#endif  // MLCORE_HAVE_CUDNN
