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
  Pool2dLayer(bool max, int64_t kernel, Pool2dOptions options)
      : max_(max), kernel_(kernel), options_(options) {
    if (options_.stride == 0) options_.stride = kernel;
  }
  std::string type() const override { return max_ ? "max_pool2d" : "avg_pool2d"; }
  LayerConfig config() const override {
    return {{"kernel_size", static_cast<double>(kernel_)},
            {"stride", static_cast<double>(options_.stride)},
            {"padding", static_cast<double>(options_.padding)}};
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
    g_.kernel = kernel_;
    g_.stride = options_.stride;
    g_.padding = options_.padding;
    if (!g_.Resolve()) {
      return absl::InvalidArgumentError(Describe() + ": a " + std::to_string(kernel_) + "x" +
                                        std::to_string(kernel_) + " window (padding " +
                                        std::to_string(options_.padding) + ") does not fit input " +
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
    internal::ParallelFor(planes, out_plane * kernel_ * kernel_, [&](int64_t begin, int64_t end) {
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
    const float inv = 1.0f / static_cast<float>(kernel_ * kernel_);
    internal::ParallelFor(planes, in_plane + out_plane * kernel_, [&](int64_t begin, int64_t end) {
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
          const int64_t h0 = oh * g_.stride - g_.padding;
          for (int64_t ow = 0; ow < g_.out_width; ++ow) {
            const int64_t w0 = ow * g_.stride - g_.padding;
            const float v = dyp[oh * g_.out_width + ow] * inv;
            for (int64_t ih = std::max<int64_t>(h0, 0); ih < std::min(h0 + kernel_, g_.height);
                 ++ih) {
              for (int64_t iw = std::max<int64_t>(w0, 0); iw < std::min(w0 + kernel_, g_.width);
                   ++iw) {
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
    const int64_t h = oh * g_.stride - g_.padding, w = ow * g_.stride - g_.padding;
    *h0 = std::max<int64_t>(h, 0);
    *h1 = std::min(h + kernel_, g_.height);
    *w0 = std::max<int64_t>(w, 0);
    *w1 = std::min(w + kernel_, g_.width);
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
    if (kernel_ == 2 && g_.stride == 2 && g_.padding == 0) {
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
    const float inv = 1.0f / static_cast<float>(kernel_ * kernel_);
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
    a.kernel = g_.kernel;
    a.stride = g_.stride;
    a.padding = g_.padding;
    a.out_height = g_.out_height;
    a.out_width = g_.out_width;
    return a;
  }

  bool max_;
  int64_t kernel_;
  Pool2dOptions options_;
  internal::ConvGeometry g_;
  Tensor argmax_;  // int32 offsets within each plane, from the last training Forward
};

StatusOr<std::shared_ptr<Layer>> MakePool(bool max, int64_t kernel, Pool2dOptions options) {
  const char* what = max ? "MaxPool2d" : "AvgPool2d";
  if (kernel <= 0 || options.stride < 0 || options.padding < 0) {
    return absl::InvalidArgumentError(std::string(what) +
                                      ": kernel_size must be positive and stride, padding >= 0");
  }
  // A window that is mostly padding would pool nothing but padding (PyTorch's rule too).
  if (2 * options.padding > kernel) {
    return absl::InvalidArgumentError(
        std::string(what) + ": padding " + std::to_string(options.padding) +
        " must be at most half of kernel_size " + std::to_string(kernel));
  }
  return std::shared_ptr<Layer>(std::make_shared<Pool2dLayer>(max, kernel, options));
}

StatusOr<std::shared_ptr<Layer>> PoolFromConfig(bool max, const LayerConfig& config) {
  const std::string type = max ? "max_pool2d" : "avg_pool2d";
  MLCORE_ASSIGN_OR_RETURN(double kernel, internal::ConfigValue(config, type, "kernel_size"));
  Pool2dOptions options;
  auto it = config.find("stride");
  if (it != config.end()) options.stride = static_cast<int64_t>(it->second);
  it = config.find("padding");
  if (it != config.end()) options.padding = static_cast<int64_t>(it->second);
  return MakePool(max, static_cast<int64_t>(kernel), options);
}

static LayerRegistration max_pool_registration("max_pool2d", [](const LayerConfig& c) {
  return PoolFromConfig(true, c);
});
static LayerRegistration avg_pool_registration("avg_pool2d", [](const LayerConfig& c) {
  return PoolFromConfig(false, c);
});

}  // namespace

StatusOr<std::shared_ptr<Layer>> MaxPool2d(int64_t kernel_size, Pool2dOptions options) {
  return MakePool(true, kernel_size, options);
}

StatusOr<std::shared_ptr<Layer>> AvgPool2d(int64_t kernel_size, Pool2dOptions options) {
  return MakePool(false, kernel_size, options);
}

}  // namespace mlcore::nn
