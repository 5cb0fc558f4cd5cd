// Elementwise activations. Each keeps the tensor its derivative is cheapest from: ReLU and GELU
// the input, Tanh and Sigmoid their output.
#include "nn/activations.h"

#include <cmath>

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "mlcore/nn/layers.h"

namespace mlcore::nn {
namespace {

struct ReluOp {
  static constexpr const char* kName = "relu";
  static constexpr cuda::Activation kKind = cuda::Activation::kRelu;
  static constexpr bool kFromOutput = false;
  static float F(float x) { return x < 0.0f ? 0.0f : x; }  // NaN passes through
  static float D(float x, float) { return x > 0.0f ? 1.0f : 0.0f; }
  // g * D(x) as a select: GCC turns the product into a data-dependent branch that it cannot
  // vectorise (a quarter of a conv net's CPU step, mispredicted on random signs). A blocked
  // gradient is +0 even for an infinite or NaN g, as PyTorch's threshold_backward gives.
  static float Grad(float x, float, float g) { return x > 0.0f ? g : 0.0f; }
};
struct GeluOp {
  static constexpr const char* kName = "gelu";
  static constexpr cuda::Activation kKind = cuda::Activation::kGelu;
  static constexpr bool kFromOutput = false;
  static float F(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
  static float D(float x, float) {
    const float cdf = 0.5f * (1.0f + std::erf(x * 0.70710678118654752f));
    const float pdf = 0.39894228040143268f * std::exp(-0.5f * x * x);
    return cdf + x * pdf;
  }
};
struct TanhOp {
  static constexpr const char* kName = "tanh";
  static constexpr cuda::Activation kKind = cuda::Activation::kTanh;
  static constexpr bool kFromOutput = true;
  static float F(float x) { return std::tanh(x); }
  static float D(float, float y) { return 1.0f - y * y; }
};
struct SigmoidOp {
  static constexpr const char* kName = "sigmoid";
  static constexpr cuda::Activation kKind = cuda::Activation::kSigmoid;
  static constexpr bool kFromOutput = true;
  static float F(float x) {
    // Two forms so that exp never overflows.
    if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
    const float e = std::exp(x);
    return e / (1.0f + e);
  }
  static float D(float, float y) { return y * (1.0f - y); }
};

// The loops on non-aliasing arrays so that they vectorise (ReLU, Tanh and Sigmoid derivatives).
template <typename Op>
void ForwardRange(const float* __restrict in, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = Op::F(in[i]);
}
// Op::Grad(s, s, g) when the op has one (see ReluOp), else g * Op::D(s, s).
template <typename Op>
float GradOf(float s, float g) {
  if constexpr (requires { Op::Grad(s, s, g); }) {
    return Op::Grad(s, s, g);
  } else {
    return g * Op::D(s, s);
  }
}
template <typename Op>
void BackwardRange(const float* __restrict s, const float* __restrict g, float* __restrict out,
                   int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = GradOf<Op>(s[i], g[i]);
}

template <typename Op>
class Activation : public Layer {
 public:
  std::string type() const override { return Op::kName; }
  bool SupportsCuda() const override { return true; }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override { return input_shape; }
  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32, x.device()));
    if (training) saved_ = Op::kFromOutput ? y : x;
    if (x.device().is_cuda()) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::ActivationForward(
          x.device().index, Op::kKind, x.data<float>(), y.data<float>(), x.numel())));
      return y;
    }
    const float* in = x.data<float>();
    float* out = y.data<float>();
    cpu::ParallelFor(x.numel(), 8,
                     [&](int64_t b, int64_t e) { ForwardRange<Op>(in + b, out + b, e - b); });
    return y;
  }
  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(dy.shape(), DType::kFloat32, dy.device()));
    if (dy.device().is_cuda()) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
          cuda::ActivationBackward(dy.device().index, Op::kKind, saved_.data<float>(),
                                   dy.data<float>(), dx.data<float>(), dy.numel())));
      return dx;
    }
    const float* s = saved_.data<float>();
    const float* g = dy.data<float>();
    float* out = dx.data<float>();
    cpu::ParallelFor(dy.numel(), 8, [&](int64_t b, int64_t e) {
      BackwardRange<Op>(s + b, g + b, out + b, e - b);
    });
    return dx;
  }

 private:
  Tensor saved_;
};

class SoftmaxLayer : public Layer {
 public:
  std::string type() const override { return "softmax"; }
  bool SupportsCuda() const override { return kCudaTwinsBuilt; }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override {
    if (input_shape.empty()) {
      return absl::InvalidArgumentError(Describe() + " needs at least [batch, classes]");
    }
    return input_shape;
  }
  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t c = x.shape().back();
    const int64_t rows = x.numel() / c;
    if (x.device().is_cuda()) {
      MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32, x.device()));
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
          cuda::SoftmaxForward(x.device().index, x.data<float>(), y.data<float>(), rows, c)));
      if (training) saved_ = y;
      return y;
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32));
    const float* in = x.data<float>();
    float* out = y.data<float>();
    cpu::ParallelFor(rows, c * 4, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* xr = in + r * c;
        float* yr = out + r * c;
        float m = xr[0];
        for (int64_t j = 1; j < c; ++j) m = std::max(m, xr[j]);
        float sum = 0.0f;
        for (int64_t j = 0; j < c; ++j) sum += (yr[j] = std::exp(xr[j] - m));
        for (int64_t j = 0; j < c; ++j) yr[j] /= sum;
      }
    });
    if (training) saved_ = y;
    return y;
  }
  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    const int64_t c = dy.shape().back();
    const int64_t rows = dy.numel() / c;
    if (dy.device().is_cuda()) {
      MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(dy.shape(), DType::kFloat32, dy.device()));
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::SoftmaxBackward(
          dy.device().index, saved_.data<float>(), dy.data<float>(), dx.data<float>(), rows, c)));
      return dx;
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(dy.shape(), DType::kFloat32));
    const float* y = saved_.data<float>();
    const float* g = dy.data<float>();
    float* out = dx.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      float dot = 0.0f;
      for (int64_t j = 0; j < c; ++j) dot += g[r * c + j] * y[r * c + j];
      for (int64_t j = 0; j < c; ++j) out[r * c + j] = y[r * c + j] * (g[r * c + j] - dot);
    }
    return dx;
  }

 private:
  Tensor saved_;
};

class FlattenLayer : public Layer {
 public:
  std::string type() const override { return "flatten"; }
  bool SupportsCuda() const override { return true; }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override {
    MLCORE_ASSIGN_OR_RETURN(int64_t n, NumElements(input_shape));
    return Shape{n};
  }
  StatusOr<Tensor> DoForward(const Tensor& x, bool) override {
    return x.Reshape({x.shape()[0], output_shape()[0]});
  }
  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    Shape shape = input_shape();
    shape.insert(shape.begin(), dy.shape()[0]);
    return dy.Reshape(shape);
  }
};

template <typename L>
LayerRegistration Register(const char* name) {
  return LayerRegistration(name, [](const LayerConfig&) -> StatusOr<std::shared_ptr<Layer>> {
    return std::shared_ptr<Layer>(std::make_shared<L>());
  });
}

static LayerRegistration relu_reg = Register<Activation<ReluOp>>("relu");
static LayerRegistration gelu_reg = Register<Activation<GeluOp>>("gelu");
static LayerRegistration tanh_reg = Register<Activation<TanhOp>>("tanh");
static LayerRegistration sigmoid_reg = Register<Activation<SigmoidOp>>("sigmoid");
static LayerRegistration softmax_reg = Register<SoftmaxLayer>("softmax");
static LayerRegistration flatten_reg = Register<FlattenLayer>("flatten");

}  // namespace

std::shared_ptr<Layer> ReLU() { return std::make_shared<Activation<ReluOp>>(); }
std::shared_ptr<Layer> GELU() { return std::make_shared<Activation<GeluOp>>(); }
std::shared_ptr<Layer> Tanh() { return std::make_shared<Activation<TanhOp>>(); }
std::shared_ptr<Layer> Sigmoid() { return std::make_shared<Activation<SigmoidOp>>(); }
std::shared_ptr<Layer> Softmax() { return std::make_shared<SoftmaxLayer>(); }
std::shared_ptr<Layer> Flatten() { return std::make_shared<FlattenLayer>(); }

}  // namespace mlcore::nn
