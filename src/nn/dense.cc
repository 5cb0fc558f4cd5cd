// Dense: y = x W + b on Eigen GEMMs split over the thread pool.
#include "nn/dense.h"

#include <cmath>
#include <random>

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "mlcore/nn/layers.h"
#include "nn/bf16.h"
#include "nn/layer_util.h"

namespace mlcore::nn {
namespace {

class DenseLayer : public Layer {
 public:
  DenseLayer(int64_t units, DenseOptions options) : units_(units), options_(options) {}
  std::string type() const override { return "dense"; }
  LayerConfig config() const override {
    return {{"units", static_cast<double>(units_)}, {"use_bias", options_.use_bias ? 1.0 : 0.0}};
  }
  bool SupportsCuda() const override { return true; }
  std::vector<Parameter*> parameters() override {
    return internal::DefinedParameters({&kernel_, &bias_});
  }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t seed) override {
    if (input_shape.size() != 1 || input_shape[0] <= 0) {
      return absl::InvalidArgumentError(Describe() + " needs input [batch, features], got [-1" +
                                        (input_shape.empty() ? "" : ", ") +
                                        ShapeToString(input_shape).substr(1) +
                                        "; add a Flatten layer before it");
    }
    in_ = input_shape[0];
    MLCORE_ASSIGN_OR_RETURN(kernel_, internal::MakeParameter(name() + ".kernel", {in_, units_}));
    // Glorot uniform, as Keras: keeps activation variance steady through the layer.
    const float limit = std::sqrt(6.0f / static_cast<float>(in_ + units_));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(-limit, limit);
    float* w = kernel_.value.data<float>();
    for (int64_t i = 0; i < in_ * units_; ++i) w[i] = dist(rng);
    if (options_.use_bias) {
      MLCORE_ASSIGN_OR_RETURN(bias_, internal::MakeParameter(name() + ".bias", {units_}));
    }
    return Shape{units_};
  }

  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t batch = x.shape()[0];
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty({batch, units_}, DType::kFloat32, x.device()));
    const bool bf16 = internal::ComputePrecision() == internal::Precision::kBFloat16;
    if (training) {
      input_ = x;
      // The kernel's bf16 copy for this step's GEMMs (this forward and the backward's dx).
      if (bf16) {
        MLCORE_RETURN_IF_ERROR(w16_.Refresh(kernel_.value));
      } else {
        w16_.Release();
      }
    }
    if (x.device().is_cuda()) {
      const int dev = x.device().index;
      const bool bias = bias_.value.defined();
      if (bias) {
        MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
            cuda::BroadcastRows(dev, bias_.value.data<float>(), y.data<float>(), batch, units_)));
      }
      if (bf16) {
        MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
            cuda::GemmBf16(dev, false, false, batch, units_, in_, {x.data<float>(), nullptr},
                           WeightOperand(training), y.data<float>(), bias)));
        return y;
      }
      MLCORE_RETURN_IF_ERROR(
          MLCORE_CUDA_TWIN(cuda::Gemm(dev, false, false, batch, units_, in_, x.data<float>(),
                                      kernel_.value.data<float>(), y.data<float>(), bias)));
      return y;
    }
    float* out = y.data<float>();
    if (bias_.value.defined()) {
      const float* b = bias_.value.data<float>();
      for (int64_t r = 0; r < batch; ++r) std::copy(b, b + units_, out + r * units_);
    }
    // bf16 compute precision on the CPU: the emulation (rounded operands, float32 sums).
    const internal::Bf16Operand x_op(x.data<float>(), x.numel(), bf16);
    // Only a training forward reads the step's copy (it has just made it); an inference forward
    // rounds on its own, whatever was written to the weights since the last training step.
    const bool cached = training && bf16 && w16_.Holds(kernel_.value);
    const internal::Bf16Operand w_op(kernel_.value.data<float>(), kernel_.value.numel(),
                                     bf16 && !cached);
    cpu::MatMul(x_op.get(), cached ? w16_.host() : w_op.get(), out, batch, in_, units_,
                /*accumulate=*/bias_.value.defined());
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& grad_output) override {
    const int64_t batch = grad_output.shape()[0];
    const float* dy = grad_output.data<float>();
    if (grad_output.device().is_cuda()) {
      auto dx = BackwardCuda(grad_output);
      w16_.Release();  // the step's copy is spent: the optimiser writes the weights next
      return dx;
    }
    const bool bf16 = internal::ComputePrecision() == internal::Precision::kBFloat16;
    const internal::Bf16Operand x_op(input_.data<float>(), input_.numel(), bf16);
    const internal::Bf16Operand dy_op(dy, grad_output.numel(), bf16);
    cpu::MatMulTN(x_op.get(), dy_op.get(), kernel_.grad.data<float>(), batch, in_, units_);
    if (bias_.value.defined()) {
      float* db = bias_.grad.data<float>();
      std::fill(db, db + units_, 0.0f);
      for (int64_t r = 0; r < batch; ++r) {
        for (int64_t j = 0; j < units_; ++j) db[j] += dy[r * units_ + j];
      }
    }
    if (!input_grad_needed()) {
      w16_.Release();
      return Tensor();
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty({batch, in_}, DType::kFloat32));
    // The forward's rounded copy of the kernel when it still holds (the same values RoundToBf16
    // gives now: the weights do not change between a forward and its backward).
    const bool cached = bf16 && w16_.Holds(kernel_.value);
    const internal::Bf16Operand w_op(kernel_.value.data<float>(), kernel_.value.numel(),
                                     bf16 && !cached);
    cpu::MatMulNT(dy_op.get(), cached ? w16_.host() : w_op.get(), dx.data<float>(), batch, units_,
                  in_);
    w16_.Release();
    return dx;
  }

 private:
  // The kernel as a bf16 GEMM operand on the GPU: within a training step (its forward, which
  // has just made the copy, and its backward) the step's converted copy when it holds; otherwise
  // the float32 values, converted by the GEMM.
  cuda::GemmOperand WeightOperand(bool in_step) const {
    const bool cached = in_step && w16_.Holds(kernel_.value);
    return {kernel_.value.data<float>(), cached ? w16_.device_bits() : nullptr};
  }

  // The CUDA backward in either precision: dW = x^T dy, db = the row sums of dy (float32 in
  // both, as on the CPU), dx = dy W^T. Only the products differ: in bf16 they run on tensor
  // cores, with dy converted once for both and the kernel's copy from the forward.
  StatusOr<Tensor> BackwardCuda(const Tensor& grad_output) {
    const int dev = grad_output.device().index;
    const int64_t batch = grad_output.shape()[0];
    const float* dy = grad_output.data<float>();
    const bool bf16 = internal::ComputePrecision() == internal::Precision::kBFloat16;
    auto gemm = [&](bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                    cuda::GemmOperand a, cuda::GemmOperand b, float* c) -> Status {
      if (bf16) {
        return MLCORE_CUDA_TWIN(cuda::GemmBf16(dev, trans_a, trans_b, m, n, k, a, b, c, false));
      }
      return MLCORE_CUDA_TWIN(
          cuda::Gemm(dev, trans_a, trans_b, m, n, k, a.values, b.values, c, false));
    };
    cuda::GemmOperand dy_op{dy, nullptr};
    Tensor dy16;
    if (bf16) {
      MLCORE_ASSIGN_OR_RETURN(
          dy16, Tensor::Empty({grad_output.numel()}, DType::kBFloat16, grad_output.device()));
      dy_op.bits = static_cast<const uint16_t*>(dy16.data());
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
          cuda::ToBf16(dev, dy, static_cast<uint16_t*>(dy16.data()), grad_output.numel())));
    }
    MLCORE_RETURN_IF_ERROR(gemm(true, false, in_, units_, batch, {input_.data<float>(), nullptr},
                                dy_op, kernel_.grad.data<float>()));
    if (bias_.value.defined()) {
      MLCORE_RETURN_IF_ERROR(
          MLCORE_CUDA_TWIN(cuda::SumRows(dev, dy, bias_.grad.data<float>(), batch, units_)));
    }
    if (!input_grad_needed()) return Tensor();
    MLCORE_ASSIGN_OR_RETURN(Tensor dx,
                            Tensor::Empty({batch, in_}, DType::kFloat32, grad_output.device()));
    // The float32 product reads only the operands' values: the float32 kernel.
    MLCORE_RETURN_IF_ERROR(
        gemm(false, true, batch, in_, units_, dy_op, WeightOperand(true), dx.data<float>()));
    return dx;
  }

  int64_t units_;
  DenseOptions options_;
  int64_t in_ = 0;
  Parameter kernel_;
  Parameter bias_;
  Tensor input_;
  // The kernel's bf16 copy for the GEMMs of one training step (see Bf16WeightCache).
  internal::Bf16WeightCache w16_;
};

}  // namespace

StatusOr<std::shared_ptr<Layer>> Dense(int64_t units, DenseOptions options) {
  if (units <= 0) {
    return absl::InvalidArgumentError("Dense: units must be positive, got " +
                                      std::to_string(units));
  }
  return std::shared_ptr<Layer>(std::make_shared<DenseLayer>(units, options));
}

static LayerRegistration dense_registration(
    "dense", [](const LayerConfig& config) -> StatusOr<std::shared_ptr<Layer>> {
      MLCORE_ASSIGN_OR_RETURN(int64_t units, internal::ConfigInt(config, "dense", "units"));
      DenseOptions options;
      auto it = config.find("use_bias");
      if (it != config.end()) options.use_bias = it->second != 0.0;
      return Dense(units, options);
    });

}  // namespace mlcore::nn
