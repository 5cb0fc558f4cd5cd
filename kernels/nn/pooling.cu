// CUDA twins of MaxPool2d and AvgPool2d (src/nn/pooling.cc; rules in src/nn/pooling.h), also run
// by the global pooling layers (global_pool.cc) with the whole plane as the window: one thread per
// output cell; the backward pass scatters into a zeroed dx with atomics, as windows may overlap.
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "nn/pooling.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

__global__ void PoolForwardKernel(PoolArgs a, bool is_max, const float* x, float* y,
                                  int32_t* argmax) {
  const int64_t out_plane = a.out_height * a.out_width;
  MLCORE_GRID_STRIDE(i, a.planes * out_plane) {
    const int64_t plane = i / out_plane, o = i % out_plane;
    const int64_t h0 = (o / a.out_width) * a.stride_h - a.pad_h;
    const int64_t w0 = (o % a.out_width) * a.stride_w - a.pad_w;
    const float* xp = x + plane * a.height * a.width;
    float best = -INFINITY, sum = 0.0f;
    int32_t where = -1;
    // Taps dil apart (1 for the average); those outside the image are padding.
    for (int64_t kh = 0; kh < a.kernel_h; ++kh) {
      const int64_t ih = h0 + kh * a.dil_h;
      if (ih < 0 || ih >= a.height) continue;
      for (int64_t kw = 0; kw < a.kernel_w; ++kw) {
        const int64_t iw = w0 + kw * a.dil_w;
        if (iw < 0 || iw >= a.width) continue;
        const float v = xp[ih * a.width + iw];
        sum += v;
        if (where < 0 || v > best || v != v) {
          best = v;
          where = static_cast<int32_t>(ih * a.width + iw);
        }
      }
    }
    if (is_max) {
      y[i] = best;
    } else {
      const int64_t divisor = a.AvgDivisor(h0, w0);
      y[i] = divisor > 0 ? sum / static_cast<float>(divisor) : 0.0f;
    }
    if (argmax != nullptr) argmax[i] = where;
  }
}

// One thread per output: scatter into dx (zeroed first) with atomics, as windows may overlap.
__global__ void PoolBackwardKernel(PoolArgs a, bool is_max, const float* dy, const int32_t* argmax,
                                   float* dx) {
  const int64_t out_plane = a.out_height * a.out_width, in_plane = a.height * a.width;
  MLCORE_GRID_STRIDE(i, a.planes * out_plane) {
    const int64_t plane = i / out_plane, o = i % out_plane;
    float* dxp = dx + plane * in_plane;
    if (is_max) {
      if (argmax[i] >= 0) atomicAdd(dxp + argmax[i], dy[i]);
      continue;
    }
    const int64_t h0 = (o / a.out_width) * a.stride_h - a.pad_h;
    const int64_t w0 = (o % a.out_width) * a.stride_w - a.pad_w;
    const int64_t divisor = a.AvgDivisor(h0, w0);
    if (divisor == 0) continue;
    const float v = dy[i] / static_cast<float>(divisor);
    for (int64_t ih = max(h0, int64_t{0}); ih < min(h0 + a.kernel_h, a.height); ++ih) {
      for (int64_t iw = max(w0, int64_t{0}); iw < min(w0 + a.kernel_w, a.width); ++iw) {
        atomicAdd(dxp + ih * a.width + iw, v);
      }
    }
  }
}

}  // namespace

namespace {

Status LaunchForward(const char* op, const PoolArgs& a, bool is_max, const float* x, float* y,
                     int32_t* argmax) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice(op, a.device));
  if (a.planes * a.out_height * a.out_width == 0) return absl::OkStatus();
  PoolForwardKernel<<<cu::Blocks(a.planes * a.out_height * a.out_width), cu::kThreads>>>(
      a, is_max, x, y, argmax);
  return cu::CheckLaunch(op);
}

// dx is zeroed first: the kernel scatters into it.
Status LaunchBackward(const char* op, const PoolArgs& a, bool is_max, const float* dy,
                      const int32_t* argmax, float* dx) {
  MLCORE_RETURN_IF_ERROR(cu::UseDevice(op, a.device));
  const int64_t in = a.planes * a.height * a.width, out = a.planes * a.out_height * a.out_width;
  if (in == 0) return absl::OkStatus();
  MLCORE_RETURN_IF_ERROR(cu::Check(op, cudaMemsetAsync(dx, 0, sizeof(float) * in, 0)));
  if (out == 0) return absl::OkStatus();
  PoolBackwardKernel<<<cu::Blocks(out), cu::kThreads>>>(a, is_max, dy, argmax, dx);
  return cu::CheckLaunch(op);
}

}  // namespace

Status MaxPoolForward(const PoolArgs& a, const float* x, float* y, int32_t* argmax) {
  return LaunchForward("MaxPool2d", a, true, x, y, argmax);
}

Status MaxPoolBackward(const PoolArgs& a, const float* dy, const int32_t* argmax, float* dx) {
  return LaunchBackward("MaxPool2d backward", a, true, dy, argmax, dx);
}

Status AvgPoolForward(const PoolArgs& a, const float* x, float* y) {
  return LaunchForward("AvgPool2d", a, false, x, y, nullptr);
}

Status AvgPoolBackward(const PoolArgs& a, const float* dy, float* dx) {
  return LaunchBackward("AvgPool2d backward", a, false, dy, nullptr, dx);
}

}  // namespace mlcore::nn::cuda
