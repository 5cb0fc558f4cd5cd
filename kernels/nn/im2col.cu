// CUDA twins of im2col and col2im (src/nn/im2col.cc; rules in src/nn/im2col.h) for Conv2d's
// cuBLAS path: one thread per column entry, and col2im as a gather (no atomics).
#include <cuda_runtime.h>

#include "../core/cuda_common.cuh"
#include "nn/im2col.h"

namespace mlcore::nn::cuda {
namespace {

namespace cu = ::mlcore::cuda;

// cols[n, (c, kh, kw), (oh, ow)], one thread per entry.
__global__ void Im2ColKernel(ConvArgs a, const float* x, float* cols) {
  const int64_t kk = a.kernel_h * a.kernel_w, p = a.out_height * a.out_width;
  const int64_t rows = a.channels * kk;
  MLCORE_GRID_STRIDE(i, a.batch * rows * p) {
    const int64_t col = i % p, r = (i / p) % rows, n = i / (p * rows);
    const int64_t c = r / kk, kh = (r % kk) / a.kernel_w, kw = r % a.kernel_w;
    const int64_t ih = (col / a.out_width) * a.stride_h - a.pad_h + kh * a.dil_h;
    const int64_t iw = (col % a.out_width) * a.stride_w - a.pad_w + kw * a.dil_w;
    const bool inside = ih >= 0 && ih < a.height && iw >= 0 && iw < a.width;
    cols[i] = inside ? x[((n * a.channels + c) * a.height + ih) * a.width + iw] : 0.0f;
  }
}

// dx[n, c, ih, iw] = sum of the column entries Im2Col read from there (a gather: no atomics).
__global__ void Col2ImKernel(ConvArgs a, const float* dcols, float* dx) {
  const int64_t kk = a.kernel_h * a.kernel_w, p = a.out_height * a.out_width;
  const int64_t rows = a.channels * kk;
  MLCORE_GRID_STRIDE(i, a.batch * a.channels * a.height * a.width) {
    const int64_t iw = i % a.width, ih = (i / a.width) % a.height;
    const int64_t c = (i / (a.width * a.height)) % a.channels;
    const int64_t n = i / (a.width * a.height * a.channels);
    float s = 0.0f;
    for (int64_t kh = 0; kh < a.kernel_h; ++kh) {
      const int64_t th = ih + a.pad_h - kh * a.dil_h;
      if (th < 0 || th % a.stride_h != 0 || th / a.stride_h >= a.out_height) continue;
      for (int64_t kw = 0; kw < a.kernel_w; ++kw) {
        const int64_t tw = iw + a.pad_w - kw * a.dil_w;
        if (tw < 0 || tw % a.stride_w != 0 || tw / a.stride_w >= a.out_width) continue;
        const int64_t r = (c * a.kernel_h + kh) * a.kernel_w + kw;
        s += dcols[(n * rows + r) * p + (th / a.stride_h) * a.out_width + tw / a.stride_w];
      }
    }
    dx[i] = s;
  }
}

}  // namespace

// Queued on the device Conv2d has made current.
Status Im2Col(const ConvArgs& a, const float* x, float* cols) {
  Im2ColKernel<<<cu::Blocks(a.batch * a.ColRows() * a.out_height * a.out_width), cu::kThreads>>>(
      a, x, cols);
  return cu::CheckLaunch("Im2Col");
}

Status Col2Im(const ConvArgs& a, const float* dcols, float* dx) {
  Col2ImKernel<<<cu::Blocks(a.batch * a.channels * a.height * a.width), cu::kThreads>>>(a, dcols,
                                                                                        dx);
  return cu::CheckLaunch("Col2Im");
}

}  // namespace mlcore::nn::cuda
