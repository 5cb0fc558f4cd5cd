// BatchNorm1d / BatchNorm2d: per-channel normalisation over the batch (and the spatial
// positions). The running mean and variance are buffers: updated by training passes, used by
// inference passes, saved in checkpoints, never seen by an optimiser. Statistics are summed in
// double so that large offsets do not cancel catastrophically.
#include "nn/batch_norm.h"

#include <cmath>

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "mlcore/nn/layers.h"
#include "nn/layer_util.h"

namespace mlcore::nn {
namespace {

class BatchNormLayer : public Layer {
 public:
  BatchNormLayer(bool spatial, BatchNormOptions options) : spatial_(spatial), options_(options) {}
  std::string type() const override { return spatial_ ? "batch_norm2d" : "batch_norm1d"; }
  LayerConfig config() const override {
    return {{"momentum", options_.momentum}, {"eps", options_.eps}};
  }
  bool SupportsCuda() const override { return kCudaTwinsBuilt; }
  std::vector<Parameter*> parameters() override {
    if (!gamma_.value.defined()) return {};
    return {&gamma_, &beta_};
  }
  std::vector<Parameter*> buffers() override {
    if (!running_mean_.value.defined()) return {};
    return {&running_mean_, &running_var_};
  }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override {
    const size_t want = spatial_ ? 3 : 1;
    if (input_shape.size() != want || input_shape[0] <= 0) {
      return absl::InvalidArgumentError(
          Describe() + " needs input " +
          (spatial_ ? "[batch, channels, height, width]" : "[batch, features]") +
          ", got per-sample shape " + ShapeToString(input_shape));
    }
    c_ = input_shape[0];
    s_ = 1;
    for (size_t i = 1; i < input_shape.size(); ++i) s_ *= input_shape[i];
    MLCORE_ASSIGN_OR_RETURN(gamma_, internal::MakeParameter(name() + ".gamma", {c_}));
    MLCORE_ASSIGN_OR_RETURN(beta_, internal::MakeParameter(name() + ".beta", {c_}));
    MLCORE_ASSIGN_OR_RETURN(running_mean_.value, Tensor::Zeros({c_}, DType::kFloat32));
    MLCORE_ASSIGN_OR_RETURN(running_var_.value, Tensor::Zeros({c_}, DType::kFloat32));
    running_mean_.name = name() + ".running_mean";
    running_var_.name = name() + ".running_var";
    for (int64_t c = 0; c < c_; ++c) {
      gamma_.value.data<float>()[c] = 1.0f;
      running_var_.value.data<float>()[c] = 1.0f;
    }
    return input_shape;
  }

  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t n = x.shape()[0];
    if (training && n * s_ < 2) {
      return absl::InvalidArgumentError(Describe() + " needs more than one value per channel " +
                                        "to train, got input " + ShapeToString(x.shape()));
    }
    // The model moves parameters between devices; the buffers follow the input here.
    for (Parameter* b : buffers()) {
      if (b->value.device() != x.device()) {
        MLCORE_ASSIGN_OR_RETURN(b->value, b->value.To(x.device()));
      }
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32, x.device()));
    if (x.device().is_cuda()) return ForwardCuda(x, y, training);
    const float* in = x.data<float>();
    float* out = y.data<float>();
    const float* g = gamma_.value.data<float>();
    const float* b = beta_.value.data<float>();
    float* rm = running_mean_.value.data<float>();
    float* rv = running_var_.value.data<float>();
    if (!training) {
      cpu::ParallelFor(n * c_, s_, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t c = r % c_;
          const float scale = g[c] / std::sqrt(rv[c] + static_cast<float>(options_.eps));
          const float shift = b[c] - rm[c] * scale;
          for (int64_t i = 0; i < s_; ++i) out[r * s_ + i] = in[r * s_ + i] * scale + shift;
        }
      });
      return y;
    }
    MLCORE_ASSIGN_OR_RETURN(xhat_, Tensor::Empty(x.shape(), DType::kFloat32));
    MLCORE_ASSIGN_OR_RETURN(rstd_, Tensor::Empty({c_}, DType::kFloat32));
    float* h = xhat_.data<float>();
    float* rs = rstd_.data<float>();
    const double m = static_cast<double>(n * s_);
    const double momentum = options_.momentum;
    cpu::ParallelFor(c_, 3 * n * s_, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        double sum = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          const float* xr = in + (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) sum += xr[i];
        }
        const double mean = sum / m;
        double ss = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          const float* xr = in + (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) ss += (xr[i] - mean) * (xr[i] - mean);
        }
        const double var = ss / m;
        const float r = static_cast<float>(1.0 / std::sqrt(var + options_.eps));
        rs[c] = r;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t o = (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) {
            const float hv = static_cast<float>(in[o + i] - mean) * r;
            h[o + i] = hv;
            out[o + i] = hv * g[c] + b[c];
          }
        }
        // The running variance is the unbiased estimate, as in PyTorch.
        rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * mean);
        rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * ss / (m - 1.0));
      }
    });
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    const int64_t n = dy.shape()[0];
    Tensor dx;
    if (input_grad_needed()) {
      MLCORE_ASSIGN_OR_RETURN(dx, Tensor::Empty(dy.shape(), DType::kFloat32, dy.device()));
    }
    if (dy.device().is_cuda()) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::BatchNormBackward(
          CudaArgs(dy.device().index, n), dy.data<float>(), xhat_.data<float>(),
          rstd_.data<float>(), gamma_.value.data<float>(), gamma_.grad.data<float>(),
          beta_.grad.data<float>(), dx.defined() ? dx.data<float>() : nullptr)));
      return dx;
    }
    const float* d = dy.data<float>();
    const float* h = xhat_.data<float>();
    const float* g = gamma_.value.data<float>();
    const float* rs = rstd_.data<float>();
    float* dg = gamma_.grad.data<float>();
    float* db = beta_.grad.data<float>();
    const double m = static_cast<double>(n * s_);
    cpu::ParallelFor(c_, 3 * n * s_, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        double sdy = 0.0, sdyh = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t o = (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) {
            sdy += d[o + i];
            sdyh += static_cast<double>(d[o + i]) * h[o + i];
          }
        }
        dg[c] = static_cast<float>(sdyh);
        db[c] = static_cast<float>(sdy);
        if (!dx.defined()) continue;
        // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)).
        const float scale = g[c] * rs[c];
        const float mdy = static_cast<float>(sdy / m), mdyh = static_cast<float>(sdyh / m);
        float* out = dx.data<float>();
        for (int64_t k = 0; k < n; ++k) {
          const int64_t o = (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) out[o + i] = scale * (d[o + i] - mdy - h[o + i] * mdyh);
        }
      }
    });
    return dx;
  }

 private:
  cuda::BatchNormArgs CudaArgs(int device, int64_t batch) const {
    cuda::BatchNormArgs a;
    a.device = device;
    a.batch = batch;
    a.channels = c_;
    a.spatial = s_;
    a.eps = static_cast<float>(options_.eps);
    a.momentum = static_cast<float>(options_.momentum);
    return a;
  }

  StatusOr<Tensor> ForwardCuda(const Tensor& x, Tensor& y, bool training) {
    const cuda::BatchNormArgs args = CudaArgs(x.device().index, x.shape()[0]);
    if (!training) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::BatchNormInfer(
          args, x.data<float>(), gamma_.value.data<float>(), beta_.value.data<float>(),
          running_mean_.value.data<float>(), running_var_.value.data<float>(), y.data<float>())));
      return y;
    }
    MLCORE_ASSIGN_OR_RETURN(xhat_, Tensor::Empty(x.shape(), DType::kFloat32, x.device()));
    MLCORE_ASSIGN_OR_RETURN(rstd_, Tensor::Empty({c_}, DType::kFloat32, x.device()));
    MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::BatchNormTrain(
        args, x.data<float>(), gamma_.value.data<float>(), beta_.value.data<float>(),
        running_mean_.value.data<float>(), running_var_.value.data<float>(), y.data<float>(),
        xhat_.data<float>(), rstd_.data<float>())));
    return y;
  }

  bool spatial_;
  BatchNormOptions options_;
  int64_t c_ = 0;  // channels
  int64_t s_ = 1;  // values per channel per sample (H * W for BatchNorm2d)
  Parameter gamma_, beta_;
  Parameter running_mean_, running_var_;  // buffers: no gradient
  Tensor xhat_, rstd_;                    // from the last training Forward
};

StatusOr<std::shared_ptr<Layer>> MakeBatchNorm(bool spatial, BatchNormOptions options) {
  if (!(options.eps > 0) || !(options.momentum >= 0 && options.momentum <= 1)) {
    return absl::InvalidArgumentError(
        std::string(spatial ? "BatchNorm2d" : "BatchNorm1d") +
        ": eps must be > 0 and momentum in [0, 1]; got eps=" + std::to_string(options.eps) +
        " momentum=" + std::to_string(options.momentum));
  }
  return std::shared_ptr<Layer>(std::make_shared<BatchNormLayer>(spatial, options));
}

BatchNormOptions FromConfig(const LayerConfig& config) {
  BatchNormOptions o;
  auto it = config.find("momentum");
  if (it != config.end()) o.momentum = it->second;
  it = config.find("eps");
  if (it != config.end()) o.eps = it->second;
  return o;
}

static LayerRegistration bn1_registration("batch_norm1d", [](const LayerConfig& c) {
  return MakeBatchNorm(false, FromConfig(c));
});
static LayerRegistration bn2_registration("batch_norm2d", [](const LayerConfig& c) {
  return MakeBatchNorm(true, FromConfig(c));
});

}  // namespace

StatusOr<std::shared_ptr<Layer>> BatchNorm1d(BatchNormOptions options) {
  return MakeBatchNorm(false, options);
}

StatusOr<std::shared_ptr<Layer>> BatchNorm2d(BatchNormOptions options) {
  return MakeBatchNorm(true, options);
}

}  // namespace mlcore::nn
