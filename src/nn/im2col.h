// The pieces the CPU convolution is made of: im2col (unfold every receptive field of one image
// into a column, so a convolution becomes one GEMM), its adjoint col2im, and a single-threaded
// GEMM for use inside a per-sample parallel loop (the batch is the parallel dimension); and
// their CUDA twins (kernels/nn/im2col.cu), which Conv2d's cuBLAS path runs over the whole batch.
// The rules both twins obey:
// - Columns are [(c, kh, kw), (oh, ow)] per image, rows channel-major (a channel group's rows are
//   one block); an entry is the input under that tap, 0 where the tap is in the padding.
// - col2im is the adjoint: each input cell gets the sum of the entries read from it, in float32.
//   The CPU adds into a zeroed dx entry by entry; CUDA gathers each cell's entries in (kh, kw)
//   order. The two agree to float32 rounding where windows overlap, bit for bit elsewhere.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"
#include "mlcore/nn/layers.h"

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

// Copies the window of `g` (input size, kernel, stride, top/left padding, dilation, output size)
// into cuda::ConvArgs or cuda::PoolArgs, which name those fields alike; each layer sets the rest.
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

// The {height, width} values of one window option: `per_axis` when set, else `scalar` on both
// axes. Each must be >= `min`; otherwise InvalidArgument naming the layer, the option and the
// axis, e.g. "Conv2d: stride along width must be >= 1, got 0 (stride=(2, 0))".
StatusOr<std::array<int64_t, 2>> ResolveAxes(const char* layer, const char* option, int64_t scalar,
                                             const std::optional<std::array<int64_t, 2>>& per_axis,
                                             int64_t min);
// "(h, w)".
std::string PairString(const std::array<int64_t, 2>& hw);

// A sliding window (a convolution's kernel, a pooling window) as its layer configured it.
struct WindowSpec {
  const char* noun = "window";  // "kernel" or "window", for messages
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, dilation{1, 1};
  std::array<int64_t, 2> padding{0, 0};  // used by PaddingMode::kExplicit (symmetric)
  PaddingMode mode = PaddingMode::kExplicit;
  bool ceil_mode = false;
};
// The geometry of `w` over a per-sample [channels, height, width] input, its padding resolved
// ("valid": none, "same": SamePadding on each axis). InvalidArgument starting with `layer`
// (the layer's Describe()) when the input is not 3-D or the window does not fit it.
StatusOr<ConvGeometry> WindowGeometry(const std::string& layer, const Shape& input_shape,
                                      const WindowSpec& w);

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

namespace mlcore::nn::cuda {

// How Conv2d runs on CUDA (see nn/conv2d.h for the choice).
enum class ConvBackend : int {
  kCudnn,   // cudnnConvolution{Forward,BackwardData,BackwardFilter}; reads the input x
  kIm2col,  // im2col kernels + cuBLAS; reads the stored column matrices
};

// One CUDA convolution over raw device pointers of `device`, on the legacy default stream.
struct ConvArgs {
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

// cols [batch, C*kh*kw, OH*OW] from x [batch, C, H, W], on the device the caller made current.
Status Im2Col(const ConvArgs& a, const float* x, float* cols);
// dx [batch, C, H, W] (overwritten) from dcols, likewise.
Status Col2Im(const ConvArgs& a, const float* dcols, float* dx);

}  // namespace mlcore::nn::cuda
