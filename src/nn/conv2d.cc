// Conv2d on the CPU: each sample's receptive fields are unfolded (im2col) into a
// [C*k*k, OH*OW] matrix so the convolution is one GEMM with the [F, C*k*k] kernel. The batch is
// the parallel dimension: every pool thread owns whole samples and its own kernel-gradient
// accumulator, merged once at the end, so no GEMM is split into slivers.
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

#include "mlcore/nn/layers.h"
#include "nn/conv_cuda.h"
#include "nn/cpu_math.h"
#include "nn/im2col.h"
#include "nn/layer_util.h"

namespace mlcore::nn {
namespace {

class Conv2dLayer : public Layer {
 public:
  Conv2dLayer(int64_t filters, int64_t kernel, Conv2dOptions options)
      : filters_(filters), kernel_size_(kernel), options_(options) {}
  std::string type() const override { return "conv2d"; }
  LayerConfig config() const override {
    return {{"filters", static_cast<double>(filters_)},
            {"kernel_size", static_cast<double>(kernel_size_)},
            {"stride", static_cast<double>(options_.stride)},
            {"padding", static_cast<double>(options_.padding)},
            {"dilation", static_cast<double>(options_.dilation)},
            {"use_bias", options_.use_bias ? 1.0 : 0.0}};
  }
  bool SupportsCuda() const override { return internal::kConvCudaBuilt; }
  std::vector<Parameter*> parameters() override {
    std::vector<Parameter*> out;
    if (kernel_.value.defined()) out.push_back(&kernel_);
    if (bias_.value.defined()) out.push_back(&bias_);
    return out;
  }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t seed) override {
    if (input_shape.size() != 3) {
      return absl::InvalidArgumentError(Describe() + " needs input [batch, channels, height, " +
                                        "width], got per-sample shape " +
                                        ShapeToString(input_shape));
    }
    g_.channels = input_shape[0];
    g_.height = input_shape[1];
    g_.width = input_shape[2];
    g_.kernel = kernel_size_;
    g_.stride = options_.stride;
    g_.padding = options_.padding;
    g_.dilation = options_.dilation;
    if (!g_.Resolve()) {
      return absl::InvalidArgumentError(
          Describe() + ": a " + std::to_string(kernel_size_) + "x" + std::to_string(kernel_size_) +
          " kernel (dilation " + std::to_string(options_.dilation) + ", padding " +
          std::to_string(options_.padding) + ") does not fit input " + ShapeToString(input_shape));
    }
    const int64_t fan_in = g_.ColRows();
    MLCORE_ASSIGN_OR_RETURN(
        kernel_, internal::MakeParameter(name() + ".kernel",
                                         {filters_, g_.channels, kernel_size_, kernel_size_}));
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
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty({batch, filters_, g_.out_height, g_.out_width},
                                                    DType::kFloat32, x.device()));
    Tensor col_store;
    if (training || x.device().is_cuda()) {
      MLCORE_ASSIGN_OR_RETURN(col_store,
                              Tensor::Empty({batch, rows, cols}, DType::kFloat32, x.device()));
      cols_ = col_store;
    }
    if (x.device().is_cuda()) {
      internal::ConvCudaArgs args = CudaArgs(x.device().index, batch);
      MLCORE_RETURN_IF_ERROR(
          internal::ConvForwardCuda(args, x.data<float>(), kernel_.value.data<float>(),
                                    bias_.value.defined() ? bias_.value.data<float>() : nullptr,
                                    col_store.data<float>(), y.data<float>()));
      return y;
    }
    const float* in = x.data<float>();
    const float* w = kernel_.value.data<float>();
    const float* b = bias_.value.defined() ? bias_.value.data<float>() : nullptr;
    float* out = y.data<float>();
    float* stored = training ? col_store.data<float>() : nullptr;
    const int64_t in_size = g_.channels * g_.height * g_.width;
    internal::ParallelFor(batch, filters_ * rows * cols, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch(stored ? 0 : rows * cols);
      for (int64_t n = begin; n < end; ++n) {
        float* col = stored ? stored + n * rows * cols : scratch.data();
        internal::Im2Col(g_, in + n * in_size, col);
        float* yn = out + n * filters_ * cols;
        if (b != nullptr) {
          for (int64_t f = 0; f < filters_; ++f)
            std::fill(yn + f * cols, yn + (f + 1) * cols, b[f]);
        }
        internal::GemmSerial(w, rows, 1, col, cols, yn, cols, filters_, cols, rows, b != nullptr);
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
      MLCORE_ASSIGN_OR_RETURN(dx, Tensor::Empty({batch, g_.channels, g_.height, g_.width},
                                                DType::kFloat32, grad_output.device()));
    }
    if (grad_output.device().is_cuda()) {
      internal::ConvCudaArgs args = CudaArgs(grad_output.device().index, batch);
      Tensor scratch;
      if (need_dx) {
        MLCORE_ASSIGN_OR_RETURN(
            scratch, Tensor::Empty(cols_.shape(), DType::kFloat32, grad_output.device()));
      }
      MLCORE_RETURN_IF_ERROR(internal::ConvBackwardCuda(
          args, grad_output.data<float>(), kernel_.value.data<float>(), cols_.data<float>(),
          kernel_.grad.data<float>(), bias_.value.defined() ? bias_.grad.data<float>() : nullptr,
          need_dx ? scratch.data<float>() : nullptr, need_dx ? dx.data<float>() : nullptr));
      return dx;
    }
    const float* dy = grad_output.data<float>();
    const float* w = kernel_.value.data<float>();
    const float* stored = cols_.data<float>();
    const bool bias = bias_.value.defined();
    const int64_t in_size = g_.channels * g_.height * g_.width;
    // Kernel gradient accumulated transposed, [rows, filters]: dW^T += col * dy^T keeps both
    // GEMM operands row-major (dy^T is a small per-sample transpose).
    std::vector<float> dwt(rows * filters_, 0.0f);
    std::vector<double> db(filters_, 0.0);
    std::mutex mu;
    internal::ParallelFor(batch, 3 * filters_ * rows * cols, [&](int64_t begin, int64_t end) {
      std::vector<float> local_dwt(rows * filters_, 0.0f);
      std::vector<double> local_db(filters_, 0.0);
      std::vector<float> dyt(cols * filters_);
      std::vector<float> dcol(need_dx ? rows * cols : 0);
      for (int64_t n = begin; n < end; ++n) {
        const float* dyn = dy + n * filters_ * cols;
        for (int64_t f = 0; f < filters_; ++f) {
          double s = 0.0;
          for (int64_t p = 0; p < cols; ++p) {
            dyt[p * filters_ + f] = dyn[f * cols + p];
            s += dyn[f * cols + p];
          }
          local_db[f] += s;
        }
        internal::GemmSerial(stored + n * rows * cols, cols, 1, dyt.data(), filters_,
                             local_dwt.data(), filters_, rows, filters_, cols, true);
        if (need_dx) {
          // dcol = W^T dy: W^T(r, f) = w[f * rows + r].
          internal::GemmSerial(w, 1, rows, dyn, cols, dcol.data(), cols, rows, cols, filters_,
                               false);
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
    for (int64_t f = 0; f < filters_; ++f) {
      for (int64_t r = 0; r < rows; ++r) dw[f * rows + r] = dwt[r * filters_ + f];
    }
    if (bias) {
      for (int64_t f = 0; f < filters_; ++f)
        bias_.grad.data<float>()[f] = static_cast<float>(db[f]);
    }
    return dx;
  }

 private:
  internal::ConvCudaArgs CudaArgs(int device, int64_t batch) const {
    internal::ConvCudaArgs a;
    a.device = device;
    a.batch = batch;
    a.filters = filters_;
    a.channels = g_.channels;
    a.height = g_.height;
    a.width = g_.width;
    a.kernel = g_.kernel;
    a.stride = g_.stride;
    a.padding = g_.padding;
    a.dilation = g_.dilation;
    a.out_height = g_.out_height;
    a.out_width = g_.out_width;
    return a;
  }

  int64_t filters_;
  int64_t kernel_size_;
  Conv2dOptions options_;
  internal::ConvGeometry g_;
  Parameter kernel_;
  Parameter bias_;
  Tensor cols_;  // [batch, C*k*k, OH*OW] from the last training Forward
};

int64_t Key(const LayerConfig& config, const std::string& key, int64_t fallback) {
  auto it = config.find(key);
  return it == config.end() ? fallback : static_cast<int64_t>(it->second);
}

}  // namespace

StatusOr<std::shared_ptr<Layer>> Conv2d(int64_t filters, int64_t kernel_size,
                                        Conv2dOptions options) {
  if (filters <= 0 || kernel_size <= 0 || options.stride <= 0 || options.padding < 0 ||
      options.dilation <= 0) {
    return absl::InvalidArgumentError(
        "Conv2d: filters, kernel_size, stride and dilation must be positive and padding >= 0; "
        "got filters=" +
        std::to_string(filters) + " kernel_size=" + std::to_string(kernel_size) + " stride=" +
        std::to_string(options.stride) + " padding=" + std::to_string(options.padding) +
        " dilation=" + std::to_string(options.dilation));
  }
  return std::shared_ptr<Layer>(std::make_shared<Conv2dLayer>(filters, kernel_size, options));
}

static LayerRegistration conv2d_registration(
    "conv2d", [](const LayerConfig& config) -> StatusOr<std::shared_ptr<Layer>> {
      MLCORE_ASSIGN_OR_RETURN(double filters, internal::ConfigValue(config, "conv2d", "filters"));
      MLCORE_ASSIGN_OR_RETURN(double kernel,
                              internal::ConfigValue(config, "conv2d", "kernel_size"));
      Conv2dOptions options;
      options.stride = Key(config, "stride", 1);
      options.padding = Key(config, "padding", 0);
      options.dilation = Key(config, "dilation", 1);
      options.use_bias = Key(config, "use_bias", 1) != 0;
      return Conv2d(static_cast<int64_t>(filters), static_cast<int64_t>(kernel), options);
    });

}  // namespace mlcore::nn
