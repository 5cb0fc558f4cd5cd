// MaxPool2d and AvgPool2d over the [H, W] planes of NCHW inputs. Every (sample, channel) plane is
// independent, so planes are the parallel dimension. Max pooling remembers, per output, the
// offset of the input it came from, which makes its backward pass a scatter.
#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "mlcore/nn/layers.h"
#include "nn/conv_cuda.h"
#include "nn/cpu_math.h"
#include "nn/gemm_avx2.h"
#include "nn/im2col.h"
#include "nn/layer_util.h"

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
  // stride and padding are the resolved per-axis values (MakePool).
  Pool2dLayer(bool max, int64_t kh, int64_t kw, HW stride, HW padding)
      : max_(max), kh_(kh), kw_(kw), stride_(stride), padding_(padding) {}
  std::string type() const override { return max_ ? "max_pool2d" : "avg_pool2d"; }
  // kernel_size, stride and padding keep the height values for readers of older checkpoints;
  // this version reads the *_h / *_w keys.
  LayerConfig config() const override {
    return {{"kernel_size", static_cast<double>(kh_)},
            {"kernel_h", static_cast<double>(kh_)},
            {"kernel_w", static_cast<double>(kw_)},
            {"stride", static_cast<double>(stride_[0])},
            {"stride_h", static_cast<double>(stride_[0])},
            {"stride_w", static_cast<double>(stride_[1])},
            {"padding", static_cast<double>(padding_[0])},
            {"padding_h", static_cast<double>(padding_[0])},
            {"padding_w", static_cast<double>(padding_[1])}};
  }
  bool SupportsCuda() const override { return internal::kConvCudaBuilt; }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override {
    if (input_shape.size() != 3) {
      return absl::InvalidArgumentError(Describe() + " needs input [batch, channels, height, " +
                                        "width], got per-sample shape " +
                                        ShapeToString(input_shape));
    }
    g_.channels = input_shape[0];
    g_.height = input_shape[1];
    g_.width = input_shape[2];
    g_.kernel_h = kh_;
    g_.kernel_w = kw_;
    g_.stride_h = stride_[0];
    g_.stride_w = stride_[1];
    g_.pad_h = padding_[0];
    g_.pad_w = padding_[1];
    if (!g_.Resolve()) {
      return absl::InvalidArgumentError(Describe() + ": a " + std::to_string(kh_) + "x" +
                                        std::to_string(kw_) + " window (padding " +
                                        internal::PairString(padding_) + ") does not fit input " +
                                        ShapeToString(input_shape));
    }
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
      const internal::PoolCudaArgs args = CudaArgs(x.device().index, planes);
      if (max_) {
        MLCORE_RETURN_IF_ERROR(internal::MaxPoolForwardCuda(
            args, x.data<float>(), y.data<float>(), training ? argmax.data<int32_t>() : nullptr));
      } else {
        MLCORE_RETURN_IF_ERROR(
            internal::AvgPoolForwardCuda(args, x.data<float>(), y.data<float>()));
      }
      return y;
    }
    const int64_t out_plane = g_.out_height * g_.out_width;
    const float* in = x.data<float>();
    float* out = y.data<float>();
    int32_t* arg = argmax.defined() ? argmax.data<int32_t>() : nullptr;
    internal::ParallelFor(planes, out_plane * kh_ * kw_, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        if (max_) {
          MaxPlane(in + p * g_.height * g_.width, out + p * out_plane,
                   arg ? arg + p * out_plane : nullptr);
        } else {
          AvgPlane(in + p * g_.height * g_.width, out + p * out_plane);
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
    if (grad_output.device().is_cuda()) {
      const internal::PoolCudaArgs args = CudaArgs(grad_output.device().index, planes);
      if (max_) {
        MLCORE_RETURN_IF_ERROR(internal::MaxPoolBackwardCuda(
            args, grad_output.data<float>(), argmax_.data<int32_t>(), dx.data<float>()));
      } else {
        MLCORE_RETURN_IF_ERROR(
            internal::AvgPoolBackwardCuda(args, grad_output.data<float>(), dx.data<float>()));
      }
      return dx;
    }
    const int64_t in_plane = g_.height * g_.width, out_plane = g_.out_height * g_.out_width;
    const float* dy = grad_output.data<float>();
    const int32_t* arg = max_ ? argmax_.data<int32_t>() : nullptr;
    const float inv = 1.0f / static_cast<float>(kh_ * kw_);
    internal::ParallelFor(planes, in_plane + out_plane * kh_ * kw_,
                          [&](int64_t begin, int64_t end) {
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
                                const int64_t h0 = oh * g_.stride_h - g_.pad_h;
                                for (int64_t ow = 0; ow < g_.out_width; ++ow) {
                                  const int64_t w0 = ow * g_.stride_w - g_.pad_w;
                                  const float v = dyp[oh * g_.out_width + ow] * inv;
                                  for (int64_t ih = std::max<int64_t>(h0, 0);
                                       ih < std::min(h0 + kh_, g_.height); ++ih) {
                                    for (int64_t iw = std::max<int64_t>(w0, 0);
                                         iw < std::min(w0 + kw_, g_.width); ++iw) {
                                      dxp[ih * g_.width + iw] += v;
                                    }
                                  }
                                }
                              }
                            }
                          });
    return dx;
  }

 private:
  // The window rows [h0, h1) and columns [w0, w1) of output (oh, ow), clipped to the image.
  void Window(int64_t oh, int64_t ow, int64_t* h0, int64_t* h1, int64_t* w0, int64_t* w1) const {
    const int64_t h = oh * g_.stride_h - g_.pad_h, w = ow * g_.stride_w - g_.pad_w;
    *h0 = std::max<int64_t>(h, 0);
    *h1 = std::min(h + kh_, g_.height);
    *w0 = std::max<int64_t>(w, 0);
    *w1 = std::min(w + kw_, g_.width);
  }

  // max that propagates a NaN in either argument (as PyTorch's max pooling does).
  static float Max(float a, float b) { return (b > a || b != b) ? b : a; }
  // Replaces (best, where) by (v, at) when v is larger or NaN; the first maximum wins ties.
  static void Take(float v, int32_t at, float* best, int32_t* where) {
    const bool take = v > *best || v != v;
    *best = take ? v : *best;
    *where = take ? at : *where;
  }

  void MaxPlane(const float* xp, float* yp, int32_t* ap) const {
    const int64_t width = g_.width;
    if (kh_ == 2 && kw_ == 2 && g_.stride_h == 2 && g_.stride_w == 2 && g_.pad_h == 0 &&
        g_.pad_w == 0) {
      // The common 2x2 / stride 2 case without any clipping or inner loops.
      for (int64_t oh = 0; oh < g_.out_height; ++oh) {
        const float* r0 = xp + 2 * oh * width;
        const float* r1 = r0 + width;
        float* yo = yp + oh * g_.out_width;
        int64_t done = 0;
#if defined(__x86_64__)
        if (internal::HasAvx2Fma()) {
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
    for (int64_t oh = 0; oh < g_.out_height; ++oh) {
      for (int64_t ow = 0; ow < g_.out_width; ++ow) {
        int64_t h0, h1, w0, w1;
        Window(oh, ow, &h0, &h1, &w0, &w1);
        float best = xp[h0 * width + w0];
        int64_t where = h0 * width + w0;
        for (int64_t ih = h0; ih < h1; ++ih) {
          for (int64_t iw = w0; iw < w1; ++iw) {
            const float v = xp[ih * width + iw];
            const bool take = v > best || v != v;
            best = take ? v : best;
            where = take ? ih * width + iw : where;
          }
        }
        yp[oh * g_.out_width + ow] = best;
        if (ap != nullptr) ap[oh * g_.out_width + ow] = static_cast<int32_t>(where);
      }
    }
  }

  void AvgPlane(const float* xp, float* yp) const {
    const float inv = 1.0f / static_cast<float>(kh_ * kw_);
    for (int64_t oh = 0; oh < g_.out_height; ++oh) {
      for (int64_t ow = 0; ow < g_.out_width; ++ow) {
        int64_t h0, h1, w0, w1;
        Window(oh, ow, &h0, &h1, &w0, &w1);
        float sum = 0.0f;
        for (int64_t ih = h0; ih < h1; ++ih) {
          for (int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * g_.width + iw];
        }
        yp[oh * g_.out_width + ow] = sum * inv;
      }
    }
  }

  internal::PoolCudaArgs CudaArgs(int device, int64_t planes) const {
    internal::PoolCudaArgs a;
    a.device = device;
    a.planes = planes;
    a.height = g_.height;
    a.width = g_.width;
    a.kernel_h = g_.kernel_h;
    a.kernel_w = g_.kernel_w;
    a.stride_h = g_.stride_h;
    a.stride_w = g_.stride_w;
    a.pad_h = g_.pad_h;
    a.pad_w = g_.pad_w;
    a.out_height = g_.out_height;
    a.out_width = g_.out_width;
    return a;
  }

  bool max_;
  int64_t kh_, kw_;
  HW stride_, padding_;
  internal::ConvGeometry g_;
  Tensor argmax_;  // int32 offsets within each plane, from the last training Forward
};

StatusOr<std::shared_ptr<Layer>> MakePool(bool max, HW kernel, Pool2dOptions options) {
  const char* what = max ? "MaxPool2d" : "AvgPool2d";
  if (kernel[0] <= 0 || kernel[1] <= 0) {
    return absl::InvalidArgumentError(std::string(what) + ": kernel_size must be positive, got " +
                                      internal::PairString(kernel));
  }
  if (options.stride < 0) {
    return absl::InvalidArgumentError(std::string(what) +
                                      ": stride must be >= 0 (0: the window), " + "got " +
                                      std::to_string(options.stride));
  }
  // Scalar stride 0 means "the window", per axis; explicit per-axis strides must be positive.
  const HW scalar_default = options.stride == 0 ? kernel : HW{options.stride, options.stride};
  MLCORE_ASSIGN_OR_RETURN(
      HW stride,
      internal::ResolveAxes(what, "stride", 0, options.stride_hw.value_or(scalar_default), 1));
  MLCORE_ASSIGN_OR_RETURN(
      HW padding, internal::ResolveAxes(what, "padding", options.padding, options.padding_hw, 0));
  // A window that is mostly padding would pool nothing but padding (PyTorch's rule too).
  static constexpr const char* kAxis[2] = {"height", "width"};
  for (int axis = 0; axis < 2; ++axis) {
    if (2 * padding[axis] > kernel[axis]) {
      return absl::InvalidArgumentError(std::string(what) + ": padding along " + kAxis[axis] +
                                        " (" + std::to_string(padding[axis]) +
                                        ") must be at most half of kernel_size " +
                                        internal::PairString(kernel) + " along " + kAxis[axis]);
    }
  }
  return std::shared_ptr<Layer>(
      std::make_shared<Pool2dLayer>(max, kernel[0], kernel[1], stride, padding));
}

int64_t Key(const LayerConfig& config, const std::string& key, int64_t fallback) {
  auto it = config.find(key);
  return it == config.end() ? fallback : static_cast<int64_t>(it->second);
}

// Checkpoints from before rectangular windows and per-axis values carry only kernel_size, stride
// and padding: they load with the same value on both axes.
StatusOr<std::shared_ptr<Layer>> PoolFromConfig(bool max, const LayerConfig& config) {
  const std::string type = max ? "max_pool2d" : "avg_pool2d";
  MLCORE_ASSIGN_OR_RETURN(double kernel, internal::ConfigValue(config, type, "kernel_size"));
  const int64_t k = static_cast<int64_t>(kernel);
  const HW kernel_hw{Key(config, "kernel_h", k), Key(config, "kernel_w", k)};
  Pool2dOptions options;
  options.stride = Key(config, "stride", 0);
  options.padding = Key(config, "padding", 0);
  if (config.count("stride_h") != 0) {
    options.stride_hw = HW{Key(config, "stride_h", 1), Key(config, "stride_w", 1)};
  }
  if (config.count("padding_h") != 0) {
    options.padding_hw = HW{Key(config, "padding_h", 0), Key(config, "padding_w", 0)};
  }
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
