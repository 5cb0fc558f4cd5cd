// The pieces the CPU convolution is made of: im2col (unfold every receptive field of one image
// into a column, so a convolution becomes one GEMM), its adjoint col2im, and a single-threaded
// GEMM for use inside a per-sample parallel loop (the batch is the parallel dimension).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "mlcore/core/status.h"

namespace mlcore::nn::internal {

// Geometry of a 2-D convolution or pooling window over one [C, H, W] image, every quantity per
// axis (PyTorch's stride=(2, 1)): the window is kernel_h x kernel_w, moved by stride_h / stride_w,
// over an input padded by pad_h rows on top and pad_w columns on the left, with taps dil_h /
// dil_w apart. The bottom / right padding is pad_bottom / pad_right (-1: the same as the top /
// left); it only shows in the output size, as everything outside the image reads as padding.
struct ConvGeometry {
  int64_t channels = 0, height = 0, width = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t pad_bottom = -1, pad_right = -1;
  // PyTorch pooling's ceil_mode: round the output size up, dropping a last window that would
  // start inside the bottom/right padding.
  bool ceil_mode = false;
  int64_t out_height = 0, out_width = 0;

  // Fills out_height/out_width; false when the window does not fit the padded input.
  bool Resolve();
  int64_t PadBottom() const { return pad_bottom < 0 ? pad_h : pad_bottom; }
  int64_t PadRight() const { return pad_right < 0 ? pad_w : pad_right; }
  int64_t SpanH() const { return dil_h * (kernel_h - 1) + 1; }
  int64_t SpanW() const { return dil_w * (kernel_w - 1) + 1; }
  int64_t ColRows() const { return channels * kernel_h * kernel_w; }
  int64_t ColCols() const { return out_height * out_width; }
};

// The {height, width} values of one window option: `per_axis` when set, else `scalar` on both
// axes. Each must be >= `min`; otherwise InvalidArgument naming the layer, the option and the
// axis, e.g. "Conv2d: stride along width must be >= 1, got 0 (stride=(2, 0))".
StatusOr<std::array<int64_t, 2>> ResolveAxes(const char* layer, const char* option, int64_t scalar,
                                             const std::optional<std::array<int64_t, 2>>& per_axis,
                                             int64_t min);
// "(h, w)".
std::string PairString(const std::array<int64_t, 2>& hw);

// padding="same" along one axis (see PaddingMode::kSame): {before, after} so that the output
// has ceil(size / stride) entries; `span` is the effective window dilation * (kernel - 1) + 1.
std::array<int64_t, 2> SamePadding(int64_t size, int64_t span, int64_t stride);

// col[(c, kh, kw), (oh, ow)] = x[c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw], 0 outside the image.
// Rows are channel-major, so the rows of a channel group are one contiguous block.
void Im2Col(const ConvGeometry& g, const float* x, float* col);
// dx[c, ih, iw] += every col entry that Im2Col read from there. dx must be zeroed first.
void Col2Im(const ConvGeometry& g, const float* col, float* dx);

// C[i, j] (+)= sum_p A(i, p) * B[p * ldb + j], A(i, p) = a[i * ars + p * acs]; on the calling
// thread (the AVX2 kernel when the CPU has it, Eigen otherwise).
void GemmSerial(const float* a, int64_t ars, int64_t acs, const float* b, int64_t ldb, float* c,
                int64_t ldc, int64_t m, int64_t n, int64_t k, bool accumulate);

}  // namespace mlcore::nn::internal
