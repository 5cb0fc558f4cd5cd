// The built-in layers. Each constructor returns a layer that is not built yet: its input size is
// learnt from the first batch (or Sequential::Build), as in Keras, so a model is written as
// Dense(256), ReLU(), Dense(10) without repeating sizes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mlcore/nn/layer.h"

namespace mlcore::nn {

struct DenseOptions {
  bool use_bias = true;
};
// y = x W + b with W of shape [in, units] (Glorot-uniform initialised) and b of shape [units]
// (zeros). Input must be [batch, in]; put a Flatten before it for images.
StatusOr<std::shared_ptr<Layer>> Dense(int64_t units, DenseOptions options = {});

std::shared_ptr<Layer> ReLU();
// The exact GELU, x * Phi(x) with Phi the normal CDF (PyTorch's default), not the tanh form.
std::shared_ptr<Layer> GELU();
std::shared_ptr<Layer> Tanh();
std::shared_ptr<Layer> Sigmoid();
// Over the last dimension. For training a classifier use the fused cross-entropy loss on logits
// instead: it is numerically stable where Softmax followed by a log is not.
std::shared_ptr<Layer> Softmax();
// [batch, d1, d2, ...] -> [batch, d1 * d2 * ...], a view without copying.
std::shared_ptr<Layer> Flatten();
// Inverted dropout: in training zeroes each element with probability `rate` and scales the rest
// by 1 / (1 - rate); identity in inference. The mask stream is seeded, so runs repeat exactly.
StatusOr<std::shared_ptr<Layer>> Dropout(double rate, uint64_t seed = 0);

// Normalises over the last dimension, then y = gamma * xhat + beta (gamma ones, beta zeros,
// both of the last dimension's size). CPU and CUDA.
StatusOr<std::shared_ptr<Layer>> LayerNorm(double eps = 1e-5);

// --- Convolutional layers. Images are NCHW: per-sample input [channels, height, width]. ---

// A per-axis {height, width} pair, e.g. PyTorch's stride=(2, 1).
using HW = std::array<int64_t, 2>;

// How Conv2d and the pooling layers pad their input (Keras' and PyTorch's padding="valid" /
// "same" strings, or explicit numbers).
//   kExplicit: the padding / padding_hw values, the same on both sides of an axis.
//   kValid: no padding at all, whatever padding says.
//   kSame: output size ceil(in / stride) on each axis (Keras' and TensorFlow's rule, any stride),
//     from total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - in, 0) zeros of which
//     total / 2 go before (top, left) and the rest after (bottom, right). At stride 1 that is
//     PyTorch's padding="same" (out == in; an even effective kernel pads one more on the
//     bottom/right); PyTorch refuses "same" with a stride above 1, mlcore follows Keras there.
//     The padding is computed from the input size when the layer is built.
enum class PaddingMode : int { kExplicit = 0, kValid = 1, kSame = 2 };
// "valid" or "same" (any case); InvalidArgument naming `layer` and the string otherwise.
StatusOr<PaddingMode> ParsePaddingMode(const std::string& layer, const std::string& mode);
// "explicit", "valid" or "same".
const char* PaddingModeName(PaddingMode mode);

struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;  // zeros on every side
  int64_t dilation = 1;
  bool use_bias = true;
  // Channel groups: input and output channels are split into `groups` blocks and output block g
  // sees only input block g (groups == in_channels is a depthwise convolution). Both channel
  // counts must be divisible by it.
  int64_t groups = 1;
  // Per-axis {height, width} values. When set they replace the scalar of the same name for both
  // axes (the scalars stay so that existing callers and aggregate initialisers keep working);
  // unset (the default) means the scalar applies to both axes.
  std::optional<HW> stride_hw;
  std::optional<HW> padding_hw;
  std::optional<HW> dilation_hw;
  // kSame / kValid ignore padding and padding_hw (see PaddingMode).
  PaddingMode padding_mode = PaddingMode::kExplicit;
};
// 2-D cross-correlation with `filters` output channels and a kernel_size x kernel_size window.
// Kernel [filters, in_channels / groups, kh, kw] He-uniform initialised (suits ReLU nets), bias
// [filters] zeros. Output [filters, OH, OW] with OH = (H + 2ph - dh(kh-1) - 1) / sh + 1 and OW the
// same with W, kw, pw, dw, sw (padding_mode kSame: OH = ceil(H / sh), see PaddingMode).
// CPU: im2col + the AVX2 GEMM per group, parallel over the batch. CUDA: cuDNN when the build
// links it, else im2col kernels + cuBLAS. In bf16 compute precision (FitOptions::precision) the
// products take bf16-rounded operands with float32 sums. A stride or dilation below 1, or a
// negative padding, on either axis is InvalidArgument naming the axis.
StatusOr<std::shared_ptr<Layer>> Conv2d(int64_t filters, int64_t kernel_size,
                                        Conv2dOptions options = {});
// The same with a rectangular {kh, kw} window, e.g. Conv2d(32, {3, 5}).
StatusOr<std::shared_ptr<Layer>> Conv2d(int64_t filters, std::array<int64_t, 2> kernel_hw,
                                        Conv2dOptions options = {});

struct Pool2dOptions {
  int64_t stride = 0;  // 0: the kernel size (non-overlapping windows)
  int64_t padding = 0;
  // Per-axis {height, width} values replacing the scalar of the same name when set (each entry
  // then must be >= 1 for the stride, >= 0 for the padding); unset: the scalar for both axes.
  std::optional<HW> stride_hw;
  std::optional<HW> padding_hw;
  // MaxPool2d only: taps `dilation` apart, as in PyTorch (AvgPool2d refuses anything but 1).
  int64_t dilation = 1;
  std::optional<HW> dilation_hw;
  // PyTorch's ceil_mode: the output size rounds up, so a last, partial window is kept as long
  // as it starts inside the input or its left/top padding.
  bool ceil_mode = false;
  // AvgPool2d only. Whether padded zeros count in the divisor (PyTorch's default, and mlcore's
  // behaviour before the option existed). Either way, the part of a ceil_mode window beyond the
  // bottom/right padding never counts (PyTorch's rule).
  bool count_include_pad = true;
  // AvgPool2d only: when > 0 every window divides by this instead (PyTorch's divisor_override).
  int64_t divisor_override = 0;
  // kSame / kValid ignore padding and padding_hw (see PaddingMode).
  PaddingMode padding_mode = PaddingMode::kExplicit;
};
// Maximum over kernel_size x kernel_size windows of each channel; padding counts as -infinity.
// The gradient goes to the first maximum of each window. Output size on each axis, as PyTorch:
// (in + pad_before + pad_after - dilation * (kernel - 1) - 1 [+ stride - 1 with ceil_mode]) /
// stride + 1, minus one when ceil_mode would start the last window in the bottom/right padding.
// Explicit padding on an axis may be at most half of the effective window dilation * (kernel -
// 1) + 1 on that axis (PyTorch halves the kernel size, so it refuses a few dilated paddings
// that mlcore takes); InvalidArgument naming the layer and the values otherwise.
StatusOr<std::shared_ptr<Layer>> MaxPool2d(int64_t kernel_size, Pool2dOptions options = {});
// The same with a rectangular {kh, kw} window, e.g. MaxPool2d({2, 3}).
StatusOr<std::shared_ptr<Layer>> MaxPool2d(std::array<int64_t, 2> kernel_hw,
                                           Pool2dOptions options = {});
// Mean over kernel_size x kernel_size windows, divided as PyTorch does: by divisor_override
// when set, else by the window clipped to the padded input (count_include_pad, the default: kh *
// kw except for ceil_mode's partial windows) or clipped to the input (count_include_pad false,
// what Keras' "same" average pooling does).
StatusOr<std::shared_ptr<Layer>> AvgPool2d(int64_t kernel_size, Pool2dOptions options = {});
StatusOr<std::shared_ptr<Layer>> AvgPool2d(std::array<int64_t, 2> kernel_hw,
                                           Pool2dOptions options = {});

// Keras' global pooling: the mean (or maximum) of each channel's whole [H, W] plane, [batch, C,
// H, W] -> [batch, C]. No options, no parameters; CPU and CUDA. The max gradient goes to the
// first maximum of each plane (a NaN wins, as in MaxPool2d).
std::shared_ptr<Layer> GlobalAveragePooling2D();
std::shared_ptr<Layer> GlobalMaxPooling2D();

struct BatchNormOptions {
  double momentum = 0.1;  // running = (1 - momentum) * running + momentum * batch statistic
  double eps = 1e-5;
};
// Batch normalisation (Ioffe & Szegedy) per channel: in training normalises with the batch's
// mean and (biased) variance and updates the running mean and unbiased variance; in inference
// uses the running statistics, which are buffers (saved in checkpoints, never trained). Then
// y = gamma * xhat + beta. BatchNorm1d takes [batch, C]; BatchNorm2d takes [batch, C, H, W].
StatusOr<std::shared_ptr<Layer>> BatchNorm1d(BatchNormOptions options = {});
StatusOr<std::shared_ptr<Layer>> BatchNorm2d(BatchNormOptions options = {});

// A lookup table [num_embeddings, dim] (standard-normal initialised): integer indices of any
// per-sample shape S (int32, int64, or float32 holding whole numbers, which is what Fit feeds)
// become vectors, output S + [dim]. An index outside [0, num_embeddings) is InvalidArgument
// naming the layer, the index and the vocabulary size. Indices get no gradient.
StatusOr<std::shared_ptr<Layer>> Embedding(int64_t num_embeddings, int64_t dim);

}  // namespace mlcore::nn
