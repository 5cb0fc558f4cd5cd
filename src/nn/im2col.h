// The pieces the CPU convolution is made of: im2col (unfold every receptive field of one image
// into a column, so a convolution becomes one GEMM), its adjoint col2im, and a single-threaded
// GEMM for use inside a per-sample parallel loop (the batch is the parallel dimension).
#pragma once

#include <cstdint>

namespace mlcore::nn::internal {

// Geometry of a 2-D convolution or pooling window over one [C, H, W] image. The window is
// kernel x kernel, or kernel x kernel_w when kernel_w is set (rectangular convolutions); pooling
// leaves kernel_w at 0.
struct ConvGeometry {
  int64_t channels = 0, height = 0, width = 0;
  int64_t kernel = 1, stride = 1, padding = 0, dilation = 1;
  int64_t kernel_w = 0;  // 0: the same as kernel (a square window)
  int64_t out_height = 0, out_width = 0;

  // Fills out_height/out_width; false when the window does not fit the padded input.
  bool Resolve();
  int64_t KernelH() const { return kernel; }
  int64_t KernelW() const { return kernel_w > 0 ? kernel_w : kernel; }
  int64_t ColRows() const { return channels * KernelH() * KernelW(); }
  int64_t ColCols() const { return out_height * out_width; }
};

// col[(c, kh, kw), (oh, ow)] = x[c, oh*s - p + kh*d, ow*s - p + kw*d], 0 outside the image.
// Rows are channel-major, so the rows of a channel group are one contiguous block.
void Im2Col(const ConvGeometry& g, const float* x, float* col);
// dx[c, ih, iw] += every col entry that Im2Col read from there. dx must be zeroed first.
void Col2Im(const ConvGeometry& g, const float* col, float* dx);

// C[i, j] (+)= sum_p A(i, p) * B[p * ldb + j], A(i, p) = a[i * ars + p * acs]; on the calling
// thread (the AVX2 kernel when the CPU has it, Eigen otherwise).
void GemmSerial(const float* a, int64_t ars, int64_t acs, const float* b, int64_t ldb, float* c,
                int64_t ldc, int64_t m, int64_t n, int64_t k, bool accumulate);

}  // namespace mlcore::nn::internal
