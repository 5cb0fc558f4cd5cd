// Conv2d on the CPU: each sample's receptive fields are unfolded (im2col) into a
// [C*kh*kw, OH*OW] matrix so the convolution is one GEMM per channel group with that group's
// [F/G, C/G*kh*kw] kernel block (a group's rows of the column matrix are contiguous). The batch
// is the parallel dimension: every pool thread owns whole samples and its own kernel-gradient
// accumulator, merged once at the end, so no GEMM is split into slivers. On CUDA the layer hands
// the geometry to its CUDA twin (nn/conv2d.h: cuDNN, or im2col + cuBLAS).
//
// padding="same" may pad one more row / column after than before (an even effective kernel).
// The CPU im2col takes that as it is: everything outside the image reads as zero, and the extra
// bottom / right padding only shows in the output size. cuDNN takes one padding per axis, so on
// CUDA the layer pads the input explicitly by the difference (after - before) on the bottom /
// right, runs the symmetric convolution with `before`, and crops the input gradient back. The
// explicit pad rather than symmetric padding + cropping the output: cropping works only when
// the difference is a multiple of the stride, and Keras' "same" allows any stride.
#include "nn/conv2d.h"

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

#include "core/cpu_math.h"
#include "core/cuda_libs.h"
#include "core/device_dispatch.h"
#include "mlcore/nn/layers.h"
#include "nn/bf16.h"
#include "nn/graph_model.h"
#include "nn/im2col.h"
#include "nn/layer_util.h"

namespace mlcore::nn {

namespace internal {
namespace {
// -1: no override; otherwise a cuda::ConvBackend.
std::atomic<int> conv_backend_override{-1};
}  // namespace

bool ConvCudaHasCudnn() {
#if defined(MLCORE_WITH_CUDA) && defined(MLCORE_HAVE_CUDNN)
  // cuDNN is loaded on first use (core/cuda_libs.h); im2col + cuBLAS when it cannot be.
  return mlcore::internal::CudaLibraryAvailable(mlcore::internal::kCudnn);
#else
  return false;
#endif
}

cuda::ConvBackend ConvCudaBackend() {
  const int o = conv_backend_override.load();
  if (o >= 0) return static_cast<cuda::ConvBackend>(o);
  return ConvCudaHasCudnn() ? cuda::ConvBackend::kCudnn : cuda::ConvBackend::kIm2col;
}

void SetConvCudaBackendForTesting(std::optional<cuda::ConvBackend> backend) {
  conv_backend_override.store(backend ? static_cast<int>(*backend) : -1);
}
}  // namespace internal

namespace {

// `rows` rows of `width` floats from src (rows src_pitch floats apart) to dst (dst_pitch apart)
// on the device of `on`; a build without CUDA never gets here (no tensor is on a GPU there).
Status CopyRows(const Tensor& on, float* dst, int64_t dst_pitch, const float* src,
                int64_t src_pitch, int64_t width, int64_t rows) {
  constexpr size_t kF = sizeof(float);
  return MLCORE_CUDA_TWIN(cuda::CopyRows(on.device().index, dst, dst_pitch * kF, src,
                                         src_pitch * kF, width * kF, rows));
}

// x [n, c, h, w] on a CUDA device -> [n, c, h + extra_h, w + extra_w], zeros on the bottom and
// right, with pitched device copies (one per padded axis).
StatusOr<Tensor> PadBottomRightCuda(const Tensor& x, int64_t extra_h, int64_t extra_w) {
  const Shape& s = x.shape();
  const int64_t planes = s[0] * s[1], h = s[2], w = s[3], wp = w + extra_w;
  Tensor wide = x;
  if (extra_w > 0) {
    MLCORE_ASSIGN_OR_RETURN(wide, Tensor::Zeros({s[0], s[1], h, wp}, DType::kFloat32, x.device()));
    MLCORE_RETURN_IF_ERROR(CopyRows(x, wide.data<float>(), wp, x.data<float>(), w, w, planes * h));
  }
  if (extra_h == 0) return wide;
  MLCORE_ASSIGN_OR_RETURN(
      Tensor out, Tensor::Zeros({s[0], s[1], h + extra_h, wp}, DType::kFloat32, x.device()));
  MLCORE_RETURN_IF_ERROR(CopyRows(x, out.data<float>(), (h + extra_h) * wp, wide.data<float>(),
                                  h * wp, h * wp, planes));
  return out;
}

// The inverse: the top-left [h, w] of every plane of padded [n, c, h + extra_h, w + extra_w].
StatusOr<Tensor> CropBottomRightCuda(const Tensor& padded, int64_t extra_h, int64_t extra_w) {
  const Shape& s = padded.shape();
  const int64_t planes = s[0] * s[1], h = s[2] - extra_h, wp = s[3], w = wp - extra_w;
  Tensor narrow = padded;
  if (extra_h > 0) {
    MLCORE_ASSIGN_OR_RETURN(narrow,
                            Tensor::Empty({s[0], s[1], h, wp}, DType::kFloat32, padded.device()));
    MLCORE_RETURN_IF_ERROR(CopyRows(padded, narrow.data<float>(), h * wp, padded.data<float>(),
                                    s[2] * wp, h * wp, planes));
  }
  if (extra_w == 0) return narrow;
  MLCORE_ASSIGN_OR_RETURN(Tensor out,
                          Tensor::Empty({s[0], s[1], h, w}, DType::kFloat32, padded.device()));
  MLCORE_RETURN_IF_ERROR(
      CopyRows(padded, out.data<float>(), w, narrow.data<float>(), wp, w, planes * h));
  return out;
}

class Conv2dLayer : public Layer {
 public:
  // options' per-axis values must already be resolved (ResolveAxes).
  Conv2dLayer(int64_t filters, int64_t kh, int64_t kw, Conv2dOptions options)
      : filters_(filters), kh_(kh), kw_(kw), options_(options) {}
  std::string type() const override { return "conv2d"; }
  // kernel_size, stride, padding and dilation stay the height values so that readers of older
  // checkpoints see a number there; the *_h / *_w keys and groups are what this version reads.
  LayerConfig config() const override {
    return {{"filters", static_cast<double>(filters_)},
            {"kernel_size", static_cast<double>(kh_)},
            {"kernel_h", static_cast<double>(kh_)},
            {"kernel_w", static_cast<double>(kw_)},
            {"stride", static_cast<double>(Stride()[0])},
            {"stride_h", static_cast<double>(Stride()[0])},
            {"stride_w", static_cast<double>(Stride()[1])},
            {"padding", static_cast<double>(Padding()[0])},
            {"padding_h", static_cast<double>(Padding()[0])},
            {"padding_w", static_cast<double>(Padding()[1])},
            {"dilation", static_cast<double>(Dilation()[0])},
            {"dilation_h", static_cast<double>(Dilation()[0])},
            {"dilation_w", static_cast<double>(Dilation()[1])},
            {"groups", static_cast<double>(options_.groups)},
            {"use_bias", options_.use_bias ? 1.0 : 0.0},
            {"padding_mode", static_cast<double>(static_cast<int>(options_.padding_mode))}};
  }
  bool SupportsCuda() const override { return kCudaTwinsBuilt; }
  std::vector<Parameter*> parameters() override {
    return internal::DefinedParameters({&kernel_, &bias_});
  }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t seed) override {
    internal::WindowSpec window;
    window.noun = "kernel";
    window.kernel = {kh_, kw_};
    window.stride = Stride();
    window.dilation = Dilation();
    window.padding = Padding();  // {0, 0} for "valid"
    window.mode = options_.padding_mode;
    MLCORE_ASSIGN_OR_RETURN(g_, internal::WindowGeometry(Describe(), input_shape, window));
    if (g_.channels % options_.groups != 0) {
      return absl::InvalidArgumentError(
          Describe() + ": " + std::to_string(g_.channels) + " input channels (input " +
          ShapeToString(input_shape) +
          ") are not divisible by groups=" + std::to_string(options_.groups));
    }
    const int64_t fan_in = GroupRows();
    MLCORE_ASSIGN_OR_RETURN(
        kernel_, internal::MakeParameter(name() + ".kernel",
                                         {filters_, g_.channels / options_.groups, kh_, kw_}));
    // He uniform: keeps the activation variance steady through ReLU layers.
    const float limit = std::sqrt(6.0f / static_cast<float>(fan_in));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(-limit, limit);
    float* w = kernel_.value.data<float>();
    for (int64_t i = 0; i < filters_ * fan_in; ++i) w[i] = dist(rng);
    if (options_.use_bias) {
      MLCORE_ASSIGN_OR_RETURN(bias_, internal::MakeParameter(name() + ".bias", {filters_}));
    }
    return Shape{filters_, g_.out_height, g_.out_width};
  }

  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t batch = x.shape()[0];
    const int64_t rows = g_.ColRows(), cols = g_.ColCols();
    const bool bf16 = internal::ComputePrecision() == internal::Precision::kBFloat16;
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty({batch, filters_, g_.out_height, g_.out_width},
                                                    DType::kFloat32, x.device()));
    if (x.device().is_cuda()) {
      cuda::ConvArgs args = CudaArgs(x.device().index, batch, bf16);
      Tensor col_store;
      if (args.backend == cuda::ConvBackend::kIm2col) {
        MLCORE_ASSIGN_OR_RETURN(
            col_store, Tensor::Empty({batch, args.ColRows(), cols}, DType::kFloat32, x.device()));
      }
      Tensor xin = x;
      if (ExtraH() > 0 || ExtraW() > 0) {
        MLCORE_ASSIGN_OR_RETURN(xin, PadBottomRightCuda(x, ExtraH(), ExtraW()));
      }
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::ConvForward(
          args, xin.data<float>(), kernel_.value.data<float>(),
          bias_.value.defined() ? bias_.value.data<float>() : nullptr,
          col_store.defined() ? col_store.data<float>() : nullptr, y.data<float>())));
      if (training) {
        input_ = xin;
        cols_ = col_store;
        backend_ = args.backend;
        bf16_ = bf16;
        w16_.Release();  // the CUDA twins convert the float32 kernel themselves
      }
      return y;
    }
    Tensor col_store;
    if (training) {
      MLCORE_ASSIGN_OR_RETURN(col_store,
                              Tensor::Empty({batch, rows, cols}, DType::kFloat32, x.device()));
      cols_ = col_store;
      input_ = Tensor();
      bf16_ = bf16;
      // The kernel's bf16 copy for this step's GEMMs (this forward and the backward's dx).
      if (bf16) {
        MLCORE_RETURN_IF_ERROR(w16_.Refresh(kernel_.value));
      } else {
        w16_.Release();
      }
    }
    const float* in = x.data<float>();
    // Only a training forward reads the step's copy (it has just made it); an inference forward
    // rounds on its own, whatever was written to the weights since the last training step.
    const bool cached = training && bf16 && w16_.Holds(kernel_.value);
    const internal::Bf16Operand w_op(kernel_.value.data<float>(), kernel_.value.numel(),
                                     bf16 && !cached);
    const float* w = cached ? w16_.host() : w_op.get();
    const float* b = bias_.value.defined() ? bias_.value.data<float>() : nullptr;
    float* out = y.data<float>();
    float* stored = training ? col_store.data<float>() : nullptr;
    const int64_t in_size = g_.channels * g_.height * g_.width;
    const int64_t groups = options_.groups, rg = GroupRows(), fg = filters_ / groups;
    cpu::ParallelFor(batch, filters_ * rows * cols / groups, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch(stored ? 0 : rows * cols);
      for (int64_t n = begin; n < end; ++n) {
        float* col = stored ? stored + n * rows * cols : scratch.data();
        internal::Im2Col(g_, in + n * in_size, col);
        // The stored columns are only GEMM operands (here and in Backward): round in place.
        if (bf16) internal::RoundToBf16(col, col, rows * cols);
        float* yn = out + n * filters_ * cols;
        if (b != nullptr) {
          for (int64_t f = 0; f < filters_; ++f)
            std::fill(yn + f * cols, yn + (f + 1) * cols, b[f]);
        }
        for (int64_t g = 0; g < groups; ++g) {
          internal::GemmSerial(w + g * fg * rg, rg, 1, col + g * rg * cols, cols,
                               yn + g * fg * cols, cols, fg, cols, rg, b != nullptr);
        }
      }
    });
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& grad_output) override {
    const int64_t batch = grad_output.shape()[0];
    const int64_t rows = g_.ColRows(), cols = g_.ColCols();
    const bool need_dx = input_grad_needed();
    Tensor dx;
    if (need_dx) {
      // On CUDA with asymmetric padding, the gradient of the explicitly padded input first.
      const int64_t eh = grad_output.device().is_cuda() ? ExtraH() : 0;
      const int64_t ew = grad_output.device().is_cuda() ? ExtraW() : 0;
      MLCORE_ASSIGN_OR_RETURN(dx, Tensor::Empty({batch, g_.channels, g_.height + eh, g_.width + ew},
                                                DType::kFloat32, grad_output.device()));
    }
    if (grad_output.device().is_cuda()) return BackwardCuda(grad_output, std::move(dx));
    // The forward's rounded copy of the kernel when it still holds (the same values RoundToBf16
    // gives now: the weights do not change between a forward and its backward). Only dx reads it.
    const bool cached = bf16_ && w16_.Holds(kernel_.value);
    const internal::Bf16Operand w_op(kernel_.value.data<float>(), kernel_.value.numel(),
                                     bf16_ && need_dx && !cached);
    const float* w = cached ? w16_.host() : w_op.get();
    const float* stored = cols_.data<float>();
    const bool bias = bias_.value.defined();
    const int64_t in_size = g_.channels * g_.height * g_.width;
    const int64_t groups = options_.groups, rg = GroupRows(), fg = filters_ / groups;
    // Kernel gradient accumulated transposed, one [rg, fg] block per group: dW_g^T += col_g *
    // dy_g^T keeps both GEMM operands row-major (dy^T is a small per-sample transpose).
    std::vector<float> dwt(rg * filters_, 0.0f);
    std::vector<double> db(filters_, 0.0);
    std::mutex mu;
    cpu::ParallelFor(batch, 3 * filters_ * rows * cols / groups, [&](int64_t begin, int64_t end) {
      std::vector<float> local_dwt(rg * filters_, 0.0f);
      std::vector<double> local_db(filters_, 0.0);
      std::vector<float> dyt(cols * filters_);
      std::vector<float> dcol(need_dx ? rows * cols : 0);
      for (int64_t n = begin; n < end; ++n) {
        const float* dyn = grad_output.data<float>() + n * filters_ * cols;
        for (int64_t f = 0; f < filters_; ++f) {
          double s = 0.0;
          for (int64_t p = 0; p < cols; ++p) s += dyn[f * cols + p];
          local_db[f] += s;
        }
        // The bias gradient is a plain sum; only the GEMM operands are rounded.
        const internal::Bf16Operand dy_op(dyn, filters_ * cols, bf16_);
        dyn = dy_op.get();
        for (int64_t f = 0; f < filters_; ++f) {
          for (int64_t p = 0; p < cols; ++p) dyt[p * filters_ + f] = dyn[f * cols + p];
        }
        for (int64_t g = 0; g < groups; ++g) {
          internal::GemmSerial(stored + n * rows * cols + g * rg * cols, cols, 1,
                               dyt.data() + g * fg, filters_, local_dwt.data() + g * rg * fg, fg,
                               rg, fg, cols, true);
        }
        if (need_dx) {
          // dcol_g = W_g^T dy_g: W_g^T(r, f) = w[(g * fg + f) * rg + r].
          for (int64_t g = 0; g < groups; ++g) {
            internal::GemmSerial(w + g * fg * rg, 1, rg, dyn + g * fg * cols, cols,
                                 dcol.data() + g * rg * cols, cols, rg, cols, fg, false);
          }
          float* dxn = dx.data<float>() + n * in_size;
          std::memset(dxn, 0, sizeof(float) * in_size);
          internal::Col2Im(g_, dcol.data(), dxn);
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      for (size_t i = 0; i < dwt.size(); ++i) dwt[i] += local_dwt[i];
      for (int64_t f = 0; f < filters_; ++f) db[f] += local_db[f];
    });
    float* dw = kernel_.grad.data<float>();
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t f = 0; f < fg; ++f) {
        for (int64_t r = 0; r < rg; ++r) {
          dw[(g * fg + f) * rg + r] = dwt[g * rg * fg + r * fg + f];
        }
      }
    }
    if (bias) {
      for (int64_t f = 0; f < filters_; ++f)
        bias_.grad.data<float>()[f] = static_cast<float>(db[f]);
    }
    w16_.Release();  // the step's copy is spent: the optimiser writes the weights next
    return dx;
  }

 private:
  // DoBackward on CUDA: the kernel and bias gradients, and `dx` (allocated by the caller with
  // the explicit padding's extra rows; undefined when the input needs no gradient).
  StatusOr<Tensor> BackwardCuda(const Tensor& grad_output, Tensor dx) {
    cuda::ConvArgs args = CudaArgs(grad_output.device().index, grad_output.shape()[0], bf16_);
    args.backend = backend_;
    Tensor scratch;
    if (dx.defined() && backend_ == cuda::ConvBackend::kIm2col) {
      MLCORE_ASSIGN_OR_RETURN(scratch,
                              Tensor::Empty(cols_.shape(), DType::kFloat32, grad_output.device()));
    }
    MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::ConvBackward(
        args, grad_output.data<float>(), input_.data<float>(), kernel_.value.data<float>(),
        cols_.defined() ? cols_.data<float>() : nullptr, kernel_.grad.data<float>(),
        bias_.value.defined() ? bias_.grad.data<float>() : nullptr,
        scratch.defined() ? scratch.data<float>() : nullptr,
        dx.defined() ? dx.data<float>() : nullptr)));
    w16_.Release();
    if (dx.defined() && (ExtraH() > 0 || ExtraW() > 0)) {
      return CropBottomRightCuda(dx, ExtraH(), ExtraW());
    }
    return dx;
  }

  HW Stride() const { return *options_.stride_hw; }
  HW Padding() const { return *options_.padding_hw; }
  HW Dilation() const { return *options_.dilation_hw; }
  // How much more "same" pads after than before (0 otherwise); CUDA pads that explicitly.
  int64_t ExtraH() const { return g_.PadBottom() - g_.pad_h; }
  int64_t ExtraW() const { return g_.PadRight() - g_.pad_w; }

  // Rows of one group's block of the column matrix: (C / groups) * kh * kw.
  int64_t GroupRows() const { return g_.ColRows() / options_.groups; }

  cuda::ConvArgs CudaArgs(int device, int64_t batch, bool bf16) const {
    cuda::ConvArgs a;
    a.device = device;
    a.backend = internal::ConvCudaBackend();
    a.batch = batch;
    a.filters = filters_;
    a.channels = g_.channels;
    internal::SetWindow(g_, a);
    a.height += ExtraH();  // the explicitly padded input (see ExtraH)
    a.width += ExtraW();
    a.groups = options_.groups;
    a.bf16 = bf16;
    return a;
  }

  int64_t filters_;
  int64_t kh_, kw_;
  Conv2dOptions options_;
  internal::ConvGeometry g_;
  Parameter kernel_;
  Parameter bias_;
  // From the last training Forward: the input (cuDNN's backward reads it) and, for im2col, the
  // column matrices [batch, C*kh*kw, OH*OW] (bf16-rounded when bf16_ was on).
  Tensor input_;
  Tensor cols_;
  cuda::ConvBackend backend_ = cuda::ConvBackend::kIm2col;
  bool bf16_ = false;
  // The kernel's bf16 copy for the CPU GEMMs of one training step (see Bf16WeightCache).
  internal::Bf16WeightCache w16_;
};

}  // namespace

StatusOr<std::shared_ptr<Layer>> Conv2d(int64_t filters, std::array<int64_t, 2> kernel_hw,
                                        Conv2dOptions options) {
  const int64_t kh = kernel_hw[0], kw = kernel_hw[1];
  if (filters <= 0 || kh <= 0 || kw <= 0 || options.groups <= 0) {
    return absl::InvalidArgumentError(
        "Conv2d: filters, kernel_size and groups must be positive; got filters=" +
        std::to_string(filters) + " kernel_size=(" + std::to_string(kh) + ", " +
        std::to_string(kw) + ") groups=" + std::to_string(options.groups));
  }
  MLCORE_ASSIGN_OR_RETURN(
      options.stride_hw,
      internal::ResolveAxes("Conv2d", "stride", options.stride, options.stride_hw, 1));
  const int mode = static_cast<int>(options.padding_mode);
  if (mode < 0 || mode > 2) {
    return absl::InvalidArgumentError("Conv2d: unknown padding mode " + std::to_string(mode));
  }
  if (options.padding_mode == PaddingMode::kExplicit) {
    MLCORE_ASSIGN_OR_RETURN(
        options.padding_hw,
        internal::ResolveAxes("Conv2d", "padding", options.padding, options.padding_hw, 0));
  } else {
    options.padding_hw = HW{0, 0};  // "same" computes its padding when built
  }
  MLCORE_ASSIGN_OR_RETURN(
      options.dilation_hw,
      internal::ResolveAxes("Conv2d", "dilation", options.dilation, options.dilation_hw, 1));
  if (filters % options.groups != 0) {
    return absl::InvalidArgumentError(
        "Conv2d: filters=" + std::to_string(filters) +
        " is not divisible by groups=" + std::to_string(options.groups));
  }
  return std::shared_ptr<Layer>(std::make_shared<Conv2dLayer>(filters, kh, kw, options));
}

StatusOr<std::shared_ptr<Layer>> Conv2d(int64_t filters, int64_t kernel_size,
                                        Conv2dOptions options) {
  return Conv2d(filters, std::array<int64_t, 2>{kernel_size, kernel_size}, options);
}

StatusOr<PaddingMode> ParsePaddingMode(const std::string& layer, const std::string& mode) {
  std::string lower = mode;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "valid") return PaddingMode::kValid;
  if (lower == "same") return PaddingMode::kSame;
  return absl::InvalidArgumentError(layer +
                                    ": padding must be a number, an (h, w) pair, \"valid\" "
                                    "or \"same\", got \"" +
                                    mode + "\"");
}

const char* PaddingModeName(PaddingMode mode) {
  switch (mode) {
    case PaddingMode::kValid:
      return "valid";
    case PaddingMode::kSame:
      return "same";
    case PaddingMode::kExplicit:
      break;
  }
  return "explicit";
}

// Checkpoints written before rectangular kernels, groups and per-axis values carry only
// kernel_size / stride / padding / dilation: they load as square, ungrouped convolutions with the
// same value on both axes.
static LayerRegistration conv2d_registration(
    "conv2d", [](const LayerConfig& config) -> StatusOr<std::shared_ptr<Layer>> {
      auto key = [&](const std::string& k, std::optional<int64_t> fallback) {
        return internal::ConfigInt(config, "conv2d", k, fallback);
      };
      MLCORE_ASSIGN_OR_RETURN(const int64_t filters, key("filters", std::nullopt));
      MLCORE_ASSIGN_OR_RETURN(const int64_t k, key("kernel_size", std::nullopt));
      Conv2dOptions options;
      MLCORE_ASSIGN_OR_RETURN(const int64_t use_bias, key("use_bias", 1));
      options.use_bias = use_bias != 0;
      MLCORE_ASSIGN_OR_RETURN(options.groups, key("groups", 1));
      MLCORE_ASSIGN_OR_RETURN(const int64_t stride, key("stride", 1));
      MLCORE_ASSIGN_OR_RETURN(const int64_t padding, key("padding", 0));
      MLCORE_ASSIGN_OR_RETURN(const int64_t dilation, key("dilation", 1));
      std::array<int64_t, 2> kernel{}, s{}, p{}, d{};
      const char* axis[2] = {"_h", "_w"};
      for (int a = 0; a < 2; ++a) {
        MLCORE_ASSIGN_OR_RETURN(kernel[a], key(std::string("kernel") + axis[a], k));
        MLCORE_ASSIGN_OR_RETURN(s[a], key(std::string("stride") + axis[a], stride));
        MLCORE_ASSIGN_OR_RETURN(p[a], key(std::string("padding") + axis[a], padding));
        MLCORE_ASSIGN_OR_RETURN(d[a], key(std::string("dilation") + axis[a], dilation));
      }
      options.stride_hw = HW{s[0], s[1]};
      options.padding_hw = HW{p[0], p[1]};
      options.dilation_hw = HW{d[0], d[1]};
      // Absent before padding modes: explicit numbers.
      MLCORE_ASSIGN_OR_RETURN(const int64_t mode, key("padding_mode", 0));
      options.padding_mode = static_cast<PaddingMode>(mode);
      return Conv2d(filters, kernel, options);
    });

}  // namespace mlcore::nn
