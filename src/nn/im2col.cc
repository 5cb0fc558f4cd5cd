#include "nn/im2col.h"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <string>

#include "core/gemm_avx2.h"

namespace mlcore::nn::internal {

bool ConvGeometry::Resolve() {
  if (channels <= 0 || kernel_h <= 0 || kernel_w <= 0 || stride_h <= 0 || stride_w <= 0 ||
      pad_h < 0 || pad_w < 0 || dil_h <= 0 || dil_w <= 0) {
    return false;
  }
  if (pad_bottom < -1 || pad_right < -1) return false;
  // PyTorch's pooling_output_shape, per axis.
  const auto out = [this](int64_t size, int64_t before, int64_t after, int64_t span,
                          int64_t stride) -> int64_t {
    // Rounded toward -infinity, as PyTorch's div_rtn: with ceil_mode a window may overhang a
    // padded input smaller than itself and still give one output.
    const int64_t num = size + before + after - span + (ceil_mode ? stride - 1 : 0);
    int64_t n = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
    // ceil_mode: the last window must start inside the input or its left/top padding.
    if (ceil_mode && (n - 1) * stride >= size + before) --n;
    return n;
  };
  out_height = out(height, pad_h, PadBottom(), SpanH(), stride_h);
  out_width = out(width, pad_w, PadRight(), SpanW(), stride_w);
  // Without ceil_mode (convolutions always) that is: the window fits the padded input.
  return out_height > 0 && out_width > 0;
}

std::array<int64_t, 2> SamePadding(int64_t size, int64_t span, int64_t stride) {
  const int64_t out = (size + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + span - size, 0);
  return {total / 2, total - total / 2};
}

StatusOr<std::array<int64_t, 2>> ResolveAxes(const char* layer, const char* option, int64_t scalar,
                                             const std::optional<std::array<int64_t, 2>>& per_axis,
                                             int64_t min) {
  const std::array<int64_t, 2> hw = per_axis.value_or(std::array<int64_t, 2>{scalar, scalar});
  static constexpr const char* kAxis[2] = {"height", "width"};
  for (int axis = 0; axis < 2; ++axis) {
    if (hw[axis] >= min) continue;
    std::string message = std::string(layer) + ": " + option + " along " + kAxis[axis] +
                          " must be >= " + std::to_string(min) + ", got " +
                          std::to_string(hw[axis]);
    if (per_axis) message += std::string(" (") + option + "=" + PairString(hw) + ")";
    return absl::InvalidArgumentError(message);
  }
  return hw;
}

std::string PairString(const std::array<int64_t, 2>& hw) {
  // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "(" + to_string.
  std::string out = "(";
  out += std::to_string(hw[0]);
  out += ", ";
  out += std::to_string(hw[1]);
  out += ")";
  return out;
}

StatusOr<ConvGeometry> WindowGeometry(const std::string& layer, const Shape& input_shape,
                                      const WindowSpec& w) {
  if (input_shape.size() != 3) {
    return absl::InvalidArgumentError(layer + " needs input [batch, channels, height, width], " +
                                      "got per-sample shape " + ShapeToString(input_shape));
  }
  ConvGeometry g;
  g.channels = input_shape[0];
  g.height = input_shape[1];
  g.width = input_shape[2];
  g.kernel_h = w.kernel[0];
  g.kernel_w = w.kernel[1];
  g.stride_h = w.stride[0];
  g.stride_w = w.stride[1];
  g.dil_h = w.dilation[0];
  g.dil_w = w.dilation[1];
  g.ceil_mode = w.ceil_mode;
  std::array<int64_t, 2> before{0, 0}, after{0, 0};
  if (w.mode == PaddingMode::kExplicit) {
    before = after = w.padding;
  } else if (w.mode == PaddingMode::kSame) {
    const auto ph = SamePadding(g.height, g.SpanH(), g.stride_h);
    const auto pw = SamePadding(g.width, g.SpanW(), g.stride_w);
    before = {ph[0], pw[0]};
    after = {ph[1], pw[1]};
  }
  g.pad_h = before[0];
  g.pad_w = before[1];
  g.pad_bottom = after[0];
  g.pad_right = after[1];
  if (!g.Resolve()) {
    const std::string padding = w.mode == PaddingMode::kExplicit
                                    ? PairString(w.padding)
                                    : std::string("\"") + PaddingModeName(w.mode) + "\"";
    return absl::InvalidArgumentError(layer + ": a " + std::to_string(g.kernel_h) + "x" +
                                      std::to_string(g.kernel_w) + " " + w.noun + " (dilation " +
                                      PairString(w.dilation) + ", padding " + padding +
                                      ") does not fit input " + ShapeToString(input_shape));
  }
  return g;
}

namespace {

// The output columns [lo, hi) whose input column ow*s - p + off lies inside [0, width).
void ValidRange(int64_t off, int64_t stride, int64_t padding, int64_t width, int64_t out,
                int64_t* lo, int64_t* hi) {
  // ow*s >= p - off  and  ow*s <= width - 1 + p - off.
  const int64_t a = padding - off;
  *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  const int64_t b = width - 1 + padding - off;
  *hi = b < 0 ? 0 : std::min(out, b / stride + 1);
  *lo = std::min(*lo, *hi);
}

}  // namespace

void Im2Col(const ConvGeometry& g, const float* x, float* col) {
  const int64_t oh_n = g.out_height, ow_n = g.out_width;
  for (int64_t c = 0; c < g.channels; ++c) {
    const float* xc = x + c * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        float* row = col + ((c * g.kernel_h + kh) * g.kernel_w + kw) * oh_n * ow_n;
        const int64_t woff = kw * g.dil_w;
        int64_t lo, hi;
        ValidRange(woff, g.stride_w, g.pad_w, g.width, ow_n, &lo, &hi);
        for (int64_t oh = 0; oh < oh_n; ++oh) {
          float* out = row + oh * ow_n;
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
          if (ih < 0 || ih >= g.height) {
            std::memset(out, 0, sizeof(float) * ow_n);
            continue;
          }
          const float* in = xc + ih * g.width - g.pad_w + woff;
          std::fill(out, out + lo, 0.0f);
          if (g.stride_w == 1) {
            std::memcpy(out + lo, in + lo, sizeof(float) * (hi - lo));
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow * g.stride_w];
          }
          std::fill(out + hi, out + ow_n, 0.0f);
        }
      }
    }
  }
}

void Col2Im(const ConvGeometry& g, const float* col, float* dx) {
  const int64_t oh_n = g.out_height, ow_n = g.out_width;
  for (int64_t c = 0; c < g.channels; ++c) {
    float* xc = dx + c * g.height * g.width;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const float* row = col + ((c * g.kernel_h + kh) * g.kernel_w + kw) * oh_n * ow_n;
        const int64_t woff = kw * g.dil_w;
        int64_t lo, hi;
        ValidRange(woff, g.stride_w, g.pad_w, g.width, ow_n, &lo, &hi);
        for (int64_t oh = 0; oh < oh_n; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
          if (ih < 0 || ih >= g.height) continue;
          const float* in = row + oh * ow_n;
          float* out = xc + ih * g.width - g.pad_w + woff;
          for (int64_t ow = lo; ow < hi; ++ow) out[ow * g.stride_w] += in[ow];
        }
      }
    }
  }
}

void GemmSerial(const float* a, int64_t ars, int64_t acs, const float* b, int64_t ldb, float* c,
                int64_t ldc, int64_t m, int64_t n, int64_t k, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    }
    return;
  }
  if (cpu::HasAvx2Fma()) {
    cpu::GemmAvx2(a, ars, acs, b, ldb, c, ldc, m, n, k, accumulate);
    return;
  }
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Strided = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  Eigen::Map<const Mat, 0, Strided> am(a, m, k, Strided(ars, acs));
  Eigen::Map<const Mat, 0, Strided> bm(b, k, n, Strided(ldb, 1));
  Eigen::Map<Mat, 0, Strided> cm(c, m, n, Strided(ldc, 1));
  if (accumulate) {
    cm.noalias() += am * bm;
  } else {
    cm.noalias() = am * bm;
  }
}

}  // namespace mlcore::nn::internal
