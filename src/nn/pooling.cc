// MaxPool2d and AvgPool2d over the [H, W] planes of NCHW inputs. Every (sample, channel) plane is
// independent, so planes are the parallel dimension. Max pooling remembers, per output, the
// offset of the input it came from, which makes its backward pass a scatter.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "core/gemm_avx2.h"
#include "mlcore/nn/layers.h"
#include "nn/im2col.h"
#include "nn/layer_util.h"
#include "nn/pooling.h"

namespace mlcore::nn {
namespace {

#if defined(__x86_64__)
// Splits 16 consecutive floats into the 8 at even and the 8 at odd offsets, in order.
__attribute__((target("avx2"))) inline void SplitEvenOdd(const float* p, __m256* even,
                                                         __m256* odd) {
  const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  // Within each 128-bit lane: a0 a2 b0 b2 | a4 a6 b4 b6; the 64-bit permute restores the order.
  *even = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  *odd = _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// Lanes where v is greater than best, or NaN, take v and its offset `at`.
__attribute__((target("avx2"))) inline void TakeLanes(__m256 v, __m256i at, __m256* best,
                                                      __m256i* where) {
  const __m256 mask =
      _mm256_or_ps(_mm256_cmp_ps(v, *best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  *best = _mm256_blendv_ps(*best, v, mask);
  *where = _mm256_castps_si256(
      _mm256_blendv_ps(_mm256_castsi256_ps(*where), _mm256_castsi256_ps(at), mask));
}

// 2x2 / stride 2 max pooling of one output row, 8 outputs per step: even and odd columns of the
// two input rows are separated with shuffles; a value wins when it is greater or NaN (so NaNs
// propagate, as in PyTorch) and the winners' offsets are blended alongside. Returns how many
// outputs it did (a multiple of 8); the caller finishes the row.
__attribute__((target("avx2"))) int64_t MaxRow2x2Avx2(const float* r0, const float* r1,
                                                      int64_t out_width, int32_t row_offset,
                                                      int32_t width, float* y, int32_t* arg) {
  int64_t ow = 0;
  const __m256i step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  for (; ow + 8 <= out_width; ow += 8) {
    const int64_t c = 2 * ow;
    __m256 e0, o0, e1, o1;
    SplitEvenOdd(r0 + c, &e0, &o0);
    SplitEvenOdd(r1 + c, &e1, &o1);
    const __m256i col =
        _mm256_add_epi32(_mm256_set1_epi32(row_offset + static_cast<int32_t>(c)), step);
    __m256 best = e0;
    __m256i where = col;
    TakeLanes(o0, _mm256_add_epi32(col, _mm256_set1_epi32(1)), &best, &where);
    TakeLanes(e1, _mm256_add_epi32(col, _mm256_set1_epi32(width)), &best, &where);
    TakeLanes(o1, _mm256_add_epi32(col, _mm256_set1_epi32(width + 1)), &best, &where);
    _mm256_storeu_ps(y + ow, best);
    if (arg != nullptr) _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg + ow), where);
  }
  return ow;
}
#endif

class Pool2dLayer : public Layer {
 public:
  // options' per-axis values must already be resolved (MakePool): stride_hw, padding_hw and
  // dilation_hw are set.
  Pool2dLayer(bool max, int64_t kh, int64_t kw, Pool2dOptions options)
      : max_(max), kh_(kh), kw_(kw), o_(options) {}
  std::string type() const override { return max_ ? "max_pool2d" : "avg_pool2d"; }
  // kernel_size, stride and padding keep the height values for readers of older checkpoints;
  // this version reads the *_h / *_w keys and the newer options (absent: their defaults).
  LayerConfig config() const override {
    const HW stride = *o_.stride_hw, padding = *o_.padding_hw, dilation = *o_.dilation_hw;
    return {{"kernel_size", static_cast<double>(kh_)},
            {"kernel_h", static_cast<double>(kh_)},
            {"kernel_w", static_cast<double>(kw_)},
            {"stride", static_cast<double>(stride[0])},
            {"stride_h", static_cast<double>(stride[0])},
            {"stride_w", static_cast<double>(stride[1])},
            {"padding", static_cast<double>(padding[0])},
            {"padding_h", static_cast<double>(padding[0])},
            {"padding_w", static_cast<double>(padding[1])},
            {"dilation_h", static_cast<double>(dilation[0])},
            {"dilation_w", static_cast<double>(dilation[1])},
            {"ceil_mode", o_.ceil_mode ? 1.0 : 0.0},
            {"count_include_pad", o_.count_include_pad ? 1.0 : 0.0},
            {"divisor_override", static_cast<double>(o_.divisor_override)},
            {"padding_mode", static_cast<double>(static_cast<int>(o_.padding_mode))}};
  }
  bool SupportsCuda() const override { return kCudaTwinsBuilt; }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override {
    internal::WindowSpec window;
    window.kernel = {kh_, kw_};
    window.stride = *o_.stride_hw;
    window.dilation = *o_.dilation_hw;
    if (o_.padding_hw) window.padding = *o_.padding_hw;
    window.mode = o_.padding_mode;
    window.ceil_mode = o_.ceil_mode;
    MLCORE_ASSIGN_OR_RETURN(g_, internal::WindowGeometry(Describe(), input_shape, window));
    return Shape{g_.channels, g_.out_height, g_.out_width};
  }

  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t planes = x.shape()[0] * g_.channels;
    MLCORE_ASSIGN_OR_RETURN(Tensor y,
                            Tensor::Empty({x.shape()[0], g_.channels, g_.out_height, g_.out_width},
                                          DType::kFloat32, x.device()));
    Tensor argmax;
    if (training && max_) {
      MLCORE_ASSIGN_OR_RETURN(argmax, Tensor::Empty(y.shape(), DType::kInt32, x.device()));
      argmax_ = argmax;
    }
    if (x.device().is_cuda()) {
      const cuda::PoolArgs args = CudaArgs(x.device().index, planes);
      if (max_) {
        MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::MaxPoolForward(
            args, x.data<float>(), y.data<float>(), training ? argmax.data<int32_t>() : nullptr)));
      } else {
        MLCORE_RETURN_IF_ERROR(
            MLCORE_CUDA_TWIN(cuda::AvgPoolForward(args, x.data<float>(), y.data<float>())));
      }
      return y;
    }
    const int64_t out_plane = g_.out_height * g_.out_width;
    const float* in = x.data<float>();
    float* out = y.data<float>();
    int32_t* arg = argmax.defined() ? argmax.data<int32_t>() : nullptr;
    const cuda::PoolArgs div = CudaArgs(0, planes);
    cpu::ParallelFor(planes, out_plane * kh_ * kw_, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        if (max_) {
          MaxPlane(in + p * g_.height * g_.width, out + p * out_plane,
                   arg ? arg + p * out_plane : nullptr);
        } else {
          AvgPlane(div, in + p * g_.height * g_.width, out + p * out_plane);
        }
      }
    });
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& grad_output) override {
    const int64_t batch = grad_output.shape()[0];
    const int64_t planes = batch * g_.channels;
    if (!input_grad_needed()) return Tensor();
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty({batch, g_.channels, g_.height, g_.width},
                                                     DType::kFloat32, grad_output.device()));
    const cuda::PoolArgs args = CudaArgs(grad_output.device().index, planes);
    if (grad_output.device().is_cuda()) {
      if (max_) {
        MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::MaxPoolBackward(
            args, grad_output.data<float>(), argmax_.data<int32_t>(), dx.data<float>())));
      } else {
        MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
            cuda::AvgPoolBackward(args, grad_output.data<float>(), dx.data<float>())));
      }
      return dx;
    }
    const int64_t in_plane = g_.height * g_.width, out_plane = g_.out_height * g_.out_width;
    const float* dy = grad_output.data<float>();
    const int32_t* arg = max_ ? argmax_.data<int32_t>() : nullptr;
    cpu::ParallelFor(planes, in_plane + out_plane * kh_ * kw_, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        float* dxp = dx.data<float>() + p * in_plane;
        std::memset(dxp, 0, sizeof(float) * in_plane);
        const float* dyp = dy + p * out_plane;
        if (max_) {
          const int32_t* ap = arg + p * out_plane;
          for (int64_t o = 0; o < out_plane; ++o) {
            if (ap[o] >= 0) dxp[ap[o]] += dyp[o];
          }
          continue;
        }
        for (int64_t oh = 0; oh < g_.out_height; ++oh) {
          for (int64_t ow = 0; ow < g_.out_width; ++ow) {
            int64_t h, w, h0, h1, w0, w1;
            Window(oh, ow, &h, &w, &h0, &h1, &w0, &w1);
            const int64_t divisor = args.AvgDivisor(h, w);
            if (divisor == 0) continue;
            const float v = dyp[oh * g_.out_width + ow] / static_cast<float>(divisor);
            for (int64_t ih = h0; ih < h1; ++ih) {
              for (int64_t iw = w0; iw < w1; ++iw) dxp[ih * g_.width + iw] += v;
            }
          }
        }
      }
    });
    return dx;
  }

 private:
  // The window of output (oh, ow): its unclipped top-left tap (h, w), and (average pooling,
  // without dilation) its rows [h0, h1) and columns [w0, w1) clipped to the image.
  void Window(int64_t oh, int64_t ow, int64_t* h, int64_t* w, int64_t* h0, int64_t* h1, int64_t* w0,
              int64_t* w1) const {
    *h = oh * g_.stride_h - g_.pad_h;
    *w = ow * g_.stride_w - g_.pad_w;
    *h0 = std::max<int64_t>(*h, 0);
    *h1 = std::min(*h + kh_, g_.height);
    *w0 = std::max<int64_t>(*w, 0);
    *w1 = std::min(*w + kw_, g_.width);
  }

  // The taps [t0, t1) of a window starting at `start` (taps `dil` apart, `k` of them) that land
  // inside [0, size): the loops then need no bounds checks.
  static void Taps(int64_t start, int64_t dil, int64_t k, int64_t size, int64_t* t0, int64_t* t1) {
    *t0 = start >= 0 ? 0 : (-start + dil - 1) / dil;
    *t1 = start > size - 1 ? 0 : std::min(k, (size - 1 - start) / dil + 1);
    *t0 = std::min(*t0, *t1);
  }

  // max that propagates a NaN in either argument (as PyTorch's max pooling does).
  static float Max(float a, float b) { return (b > a || b != b) ? b : a; }
  // Replaces (best, where) by (v, at) when v is larger or NaN; the first maximum wins ties.
  static void Take(float v, int32_t at, float* best, int32_t* where) {
    const bool take = v > *best || v != v;
    *best = take ? v : *best;
    *where = take ? at : *where;
  }

  // The 2x2 / stride 2 windows tile the input exactly, with no padding, dilation or partial
  // ceil_mode window.
  bool Plain2x2() const {
    return kh_ == 2 && kw_ == 2 && g_.stride_h == 2 && g_.stride_w == 2 && g_.pad_h == 0 &&
           g_.pad_w == 0 && g_.dil_h == 1 && g_.dil_w == 1 && 2 * g_.out_height <= g_.height &&
           2 * g_.out_width <= g_.width;
  }

  void MaxPlane(const float* xp, float* yp, int32_t* ap) const {
    const int64_t width = g_.width;
    if (Plain2x2()) {
      for (int64_t oh = 0; oh < g_.out_height; ++oh) {
        const float* r0 = xp + 2 * oh * width;
        const float* r1 = r0 + width;
        float* yo = yp + oh * g_.out_width;
        int64_t done = 0;
#if defined(__x86_64__)
        if (cpu::HasAvx2Fma()) {
          done =
              MaxRow2x2Avx2(r0, r1, g_.out_width, static_cast<int32_t>(2 * oh * width),
                            static_cast<int32_t>(width), yo, ap ? ap + oh * g_.out_width : nullptr);
        }
#endif
        if (ap == nullptr) {
          for (int64_t ow = done; ow < g_.out_width; ++ow) {
            const int64_t c = 2 * ow;
            yo[ow] = Max(Max(r0[c], r0[c + 1]), Max(r1[c], r1[c + 1]));
          }
          continue;
        }
        int32_t* ao = ap + oh * g_.out_width;
        const int32_t base = static_cast<int32_t>(2 * oh * width);
        for (int64_t ow = done; ow < g_.out_width; ++ow) {
          const int32_t c = static_cast<int32_t>(2 * ow);
          // Selects rather than branches: on real activations which input wins is random, and
          // mispredicted branches cost more than the whole window's arithmetic.
          float best = r0[c];
          int32_t where = c;
          Take(r0[c + 1], c + 1, &best, &where);
          Take(r1[c], static_cast<int32_t>(width) + c, &best, &where);
          Take(r1[c + 1], static_cast<int32_t>(width) + c + 1, &best, &where);
          yo[ow] = best;
          ao[ow] = base + where;
        }
      }
      return;
    }
    // Taps dil apart; those outside the image are padding (-infinity). A window with no tap on
    // the image (possible only with dilation) gives -infinity and no gradient, as in PyTorch.
    for (int64_t oh = 0; oh < g_.out_height; ++oh) {
      for (int64_t ow = 0; ow < g_.out_width; ++ow) {
        const int64_t h = oh * g_.stride_h - g_.pad_h, w = ow * g_.stride_w - g_.pad_w;
        float best = -std::numeric_limits<float>::infinity();
        int64_t where = -1;
        int64_t a0, a1, b0, b1;
        Taps(h, g_.dil_h, kh_, g_.height, &a0, &a1);
        Taps(w, g_.dil_w, kw_, width, &b0, &b1);
        for (int64_t kh = a0; kh < a1; ++kh) {
          const int64_t ih = h + kh * g_.dil_h;
          for (int64_t kw = b0; kw < b1; ++kw) {
            const int64_t iw = w + kw * g_.dil_w;
            const float v = xp[ih * width + iw];
            const bool take = where < 0 || v > best || v != v;
            best = take ? v : best;
            where = take ? ih * width + iw : where;
          }
        }
        yp[oh * g_.out_width + ow] = best;
        if (ap != nullptr) ap[oh * g_.out_width + ow] = static_cast<int32_t>(where);
      }
    }
  }

  void AvgPlane(const cuda::PoolArgs& div, const float* xp, float* yp) const {
    for (int64_t oh = 0; oh < g_.out_height; ++oh) {
      for (int64_t ow = 0; ow < g_.out_width; ++ow) {
        int64_t h, w, h0, h1, w0, w1;
        Window(oh, ow, &h, &w, &h0, &h1, &w0, &w1);
        float sum = 0.0f;
        for (int64_t ih = h0; ih < h1; ++ih) {
          for (int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * g_.width + iw];
        }
        const int64_t divisor = div.AvgDivisor(h, w);
        yp[oh * g_.out_width + ow] = divisor > 0 ? sum / static_cast<float>(divisor) : 0.0f;
      }
    }
  }

  // The window geometry as the kernels take it; the CPU loops use it for AvgDivisor too.
  cuda::PoolArgs CudaArgs(int device, int64_t planes) const {
    cuda::PoolArgs a;
    a.device = device;
    a.planes = planes;
    internal::SetWindow(g_, a);
    a.pad_bottom = g_.PadBottom();
    a.pad_right = g_.PadRight();
    a.count_include_pad = o_.count_include_pad;
    a.divisor_override = o_.divisor_override;
    return a;
  }

  bool max_;
  int64_t kh_, kw_;
  Pool2dOptions o_;
  internal::ConvGeometry g_;
  Tensor argmax_;  // int32 offsets within each plane, from the last training Forward
};

StatusOr<std::shared_ptr<Layer>> MakePool(bool max, HW kernel, Pool2dOptions options) {
  const std::string what = max ? "MaxPool2d" : "AvgPool2d";
  if (kernel[0] <= 0 || kernel[1] <= 0) {
    return absl::InvalidArgumentError(what + ": kernel_size must be positive, got " +
                                      internal::PairString(kernel));
  }
  if (options.stride < 0) {
    return absl::InvalidArgumentError(what + ": stride must be >= 0 (0: the window), got " +
                                      std::to_string(options.stride));
  }
  // Scalar stride 0 means "the window", per axis; explicit per-axis strides must be positive.
  const HW scalar_default = options.stride == 0 ? kernel : HW{options.stride, options.stride};
  MLCORE_ASSIGN_OR_RETURN(options.stride_hw,
                          internal::ResolveAxes(what.c_str(), "stride", 0,
                                                options.stride_hw.value_or(scalar_default), 1));
  MLCORE_ASSIGN_OR_RETURN(
      options.padding_hw,
      internal::ResolveAxes(what.c_str(), "padding", options.padding, options.padding_hw, 0));
  MLCORE_ASSIGN_OR_RETURN(
      options.dilation_hw,
      internal::ResolveAxes(what.c_str(), "dilation", options.dilation, options.dilation_hw, 1));
  if (!max && *options.dilation_hw != HW{1, 1}) {
    return absl::InvalidArgumentError(what +
                                      ": dilation must be 1 (PyTorch's AvgPool2d has "
                                      "none), got " +
                                      internal::PairString(*options.dilation_hw));
  }
  if (options.divisor_override < 0) {
    return absl::InvalidArgumentError(what + ": divisor_override must be positive (0: none), got " +
                                      std::to_string(options.divisor_override));
  }
  if (max && (options.divisor_override != 0 || !options.count_include_pad)) {
    return absl::InvalidArgumentError(
        what +
        ": divisor_override and count_include_pad are AvgPool2d options, got "
        "divisor_override=" +
        std::to_string(options.divisor_override) +
        " count_include_pad=" + (options.count_include_pad ? "true" : "false"));
  }
  const int mode = static_cast<int>(options.padding_mode);
  if (mode < 0 || mode > 2) {
    return absl::InvalidArgumentError(what + ": unknown padding mode " + std::to_string(mode));
  }
  if (options.padding_mode != PaddingMode::kExplicit) {
    options.padding_hw = HW{0, 0};
  }
  // A window that is mostly padding would pool nothing but padding (PyTorch's rule too; "same"
  // padding never exceeds it).
  static constexpr const char* kAxis[2] = {"height", "width"};
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t span = (*options.dilation_hw)[axis] * (kernel[axis] - 1) + 1;
    if (2 * (*options.padding_hw)[axis] > span) {
      std::string message = what + ": padding along " + kAxis[axis] + " (" +
                            std::to_string((*options.padding_hw)[axis]) +
                            ") must be at most half of kernel_size " +
                            internal::PairString(kernel) + " along " + kAxis[axis];
      if (span != kernel[axis]) {
        message += " (effective window " + std::to_string(span) + " with dilation " +
                   internal::PairString(*options.dilation_hw) + ")";
      }
      return absl::InvalidArgumentError(message);
    }
  }
  return std::shared_ptr<Layer>(std::make_shared<Pool2dLayer>(max, kernel[0], kernel[1], options));
}

// Checkpoints from before rectangular windows and per-axis values carry only kernel_size, stride
// and padding: they load with the same value on both axes. Those from before dilation,
// ceil_mode, count_include_pad, divisor_override and padding modes load with the defaults, which
// are what those versions computed.
StatusOr<std::shared_ptr<Layer>> PoolFromConfig(bool max, const LayerConfig& config) {
  const std::string type = max ? "max_pool2d" : "avg_pool2d";
  auto key = [&](const std::string& k, std::optional<int64_t> fallback) {
    return internal::ConfigInt(config, type, k, fallback);
  };
  MLCORE_ASSIGN_OR_RETURN(const int64_t k, key("kernel_size", std::nullopt));
  MLCORE_ASSIGN_OR_RETURN(const int64_t kh, key("kernel_h", k));
  MLCORE_ASSIGN_OR_RETURN(const int64_t kw, key("kernel_w", k));
  const HW kernel_hw{kh, kw};
  Pool2dOptions options;
  MLCORE_ASSIGN_OR_RETURN(options.stride, key("stride", 0));
  MLCORE_ASSIGN_OR_RETURN(options.padding, key("padding", 0));
  if (config.count("stride_h") != 0) {
    MLCORE_ASSIGN_OR_RETURN(const int64_t sh, key("stride_h", 1));
    MLCORE_ASSIGN_OR_RETURN(const int64_t sw, key("stride_w", 1));
    options.stride_hw = HW{sh, sw};
  }
  if (config.count("padding_h") != 0) {
    MLCORE_ASSIGN_OR_RETURN(const int64_t ph, key("padding_h", 0));
    MLCORE_ASSIGN_OR_RETURN(const int64_t pw, key("padding_w", 0));
    options.padding_hw = HW{ph, pw};
  }
  MLCORE_ASSIGN_OR_RETURN(const int64_t dh, key("dilation_h", 1));
  MLCORE_ASSIGN_OR_RETURN(const int64_t dw, key("dilation_w", 1));
  options.dilation_hw = HW{dh, dw};
  MLCORE_ASSIGN_OR_RETURN(const int64_t ceil_mode, key("ceil_mode", 0));
  MLCORE_ASSIGN_OR_RETURN(const int64_t count_pad, key("count_include_pad", 1));
  options.ceil_mode = ceil_mode != 0;
  options.count_include_pad = count_pad != 0;
  MLCORE_ASSIGN_OR_RETURN(options.divisor_override, key("divisor_override", 0));
  MLCORE_ASSIGN_OR_RETURN(const int64_t mode, key("padding_mode", 0));
  options.padding_mode = static_cast<PaddingMode>(mode);
  return MakePool(max, kernel_hw, options);
}

static LayerRegistration max_pool_registration("max_pool2d", [](const LayerConfig& c) {
  return PoolFromConfig(true, c);
});
static LayerRegistration avg_pool_registration("avg_pool2d", [](const LayerConfig& c) {
  return PoolFromConfig(false, c);
});

}  // namespace

StatusOr<std::shared_ptr<Layer>> MaxPool2d(int64_t kernel_size, Pool2dOptions options) {
  return MakePool(true, HW{kernel_size, kernel_size}, options);
}

StatusOr<std::shared_ptr<Layer>> MaxPool2d(std::array<int64_t, 2> kernel_hw,
                                           Pool2dOptions options) {
  return MakePool(true, kernel_hw, options);
}

StatusOr<std::shared_ptr<Layer>> AvgPool2d(int64_t kernel_size, Pool2dOptions options) {
  return MakePool(false, HW{kernel_size, kernel_size}, options);
}

StatusOr<std::shared_ptr<Layer>> AvgPool2d(std::array<int64_t, 2> kernel_hw,
                                           Pool2dOptions options) {
  return MakePool(false, kernel_hw, options);
}

}  // namespace mlcore::nn
