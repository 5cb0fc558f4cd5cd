// LayerNorm over the last dimension (Ba et al.): per sample and position, subtract the mean,
// divide by the standard deviation, then scale by gamma and shift by beta. Statistics are
// computed in double so that large offsets do not cancel catastrophically. The CUDA twin
// (cuda::LayerNormForward/Backward) does the same with one warp per row.
#include "nn/layer_norm.h"

#include <cmath>

#include "core/device_dispatch.h"
#include "mlcore/nn/layers.h"
#include "nn/layer_util.h"

namespace mlcore::nn {
namespace {

class LayerNormLayer : public Layer {
 public:
  explicit LayerNormLayer(double eps) : eps_(eps) {}
  std::string type() const override { return "layer_norm"; }
  LayerConfig config() const override { return {{"eps", eps_}}; }
  bool SupportsCuda() const override { return kCudaTwinsBuilt; }
  std::vector<Parameter*> parameters() override {
    if (!gamma_.value.defined()) return {};
    return {&gamma_, &beta_};
  }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override {
    if (input_shape.empty() || input_shape.back() <= 0) {
      return absl::InvalidArgumentError(Describe() + " needs a non-empty last dimension, got " +
                                        ShapeToString(input_shape));
    }
    d_ = input_shape.back();
    MLCORE_ASSIGN_OR_RETURN(gamma_, internal::MakeParameter(name() + ".gamma", {d_}));
    MLCORE_ASSIGN_OR_RETURN(beta_, internal::MakeParameter(name() + ".beta", {d_}));
    float* g = gamma_.value.data<float>();
    for (int64_t i = 0; i < d_; ++i) g[i] = 1.0f;
    return input_shape;
  }

  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t rows = x.numel() / d_;
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32, x.device()));
    MLCORE_ASSIGN_OR_RETURN(Tensor xhat, Tensor::Empty(x.shape(), DType::kFloat32, x.device()));
    MLCORE_ASSIGN_OR_RETURN(Tensor rstd, Tensor::Empty({rows}, DType::kFloat32, x.device()));
    if (x.device().is_cuda()) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::LayerNormForward(
          x.device().index, x.data<float>(), gamma_.value.data<float>(), beta_.value.data<float>(),
          y.data<float>(), xhat.data<float>(), rstd.data<float>(), rows, d_, eps_)));
      if (training) {
        xhat_ = xhat;
        rstd_ = rstd;
      }
      return y;
    }
    const float* in = x.data<float>();
    const float* g = gamma_.value.data<float>();
    const float* b = beta_.value.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = in + r * d_;
      double mean = 0.0, var = 0.0;
      for (int64_t j = 0; j < d_; ++j) mean += xr[j];
      mean /= static_cast<double>(d_);
      for (int64_t j = 0; j < d_; ++j) var += (xr[j] - mean) * (xr[j] - mean);
      var /= static_cast<double>(d_);
      const float rs = static_cast<float>(1.0 / std::sqrt(var + eps_));
      rstd.data<float>()[r] = rs;
      for (int64_t j = 0; j < d_; ++j) {
        const float h = static_cast<float>(xr[j] - mean) * rs;
        xhat.data<float>()[r * d_ + j] = h;
        y.data<float>()[r * d_ + j] = h * g[j] + b[j];
      }
    }
    if (training) {
      xhat_ = xhat;
      rstd_ = rstd;
    }
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    const int64_t rows = dy.numel() / d_;
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(dy.shape(), DType::kFloat32, dy.device()));
    if (dy.device().is_cuda()) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
          cuda::LayerNormBackward(dy.device().index, dy.data<float>(), xhat_.data<float>(),
                                  rstd_.data<float>(), gamma_.value.data<float>(), dx.data<float>(),
                                  gamma_.grad.data<float>(), beta_.grad.data<float>(), rows, d_)));
      return dx;
    }
    float* dg = gamma_.grad.data<float>();
    float* db = beta_.grad.data<float>();
    std::fill(dg, dg + d_, 0.0f);
    std::fill(db, db + d_, 0.0f);
    const float* g = gamma_.value.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      const float* dyr = dy.data<float>() + r * d_;
      const float* hr = xhat_.data<float>() + r * d_;
      double mean_dh = 0.0, mean_dh_h = 0.0;
      for (int64_t j = 0; j < d_; ++j) {
        dg[j] += dyr[j] * hr[j];
        db[j] += dyr[j];
        const double dh = static_cast<double>(dyr[j]) * g[j];
        mean_dh += dh;
        mean_dh_h += dh * hr[j];
      }
      mean_dh /= static_cast<double>(d_);
      mean_dh_h /= static_cast<double>(d_);
      const double rs = rstd_.data<float>()[r];
      for (int64_t j = 0; j < d_; ++j) {
        const double dh = static_cast<double>(dyr[j]) * g[j];
        dx.data<float>()[r * d_ + j] = static_cast<float>(rs * (dh - mean_dh - hr[j] * mean_dh_h));
      }
    }
    return dx;
  }

 private:
  double eps_;
  int64_t d_ = 0;
  Parameter gamma_;
  Parameter beta_;
  Tensor xhat_;
  Tensor rstd_;
};

static LayerRegistration layer_norm_reg(
    "layer_norm", [](const LayerConfig& config) -> StatusOr<std::shared_ptr<Layer>> {
      auto it = config.find("eps");
      return LayerNorm(it == config.end() ? 1e-5 : it->second);
    });

}  // namespace

StatusOr<std::shared_ptr<Layer>> LayerNorm(double eps) {
  if (!(eps > 0)) return absl::InvalidArgumentError("LayerNorm: eps must be > 0");
  return std::shared_ptr<Layer>(std::make_shared<LayerNormLayer>(eps));
}

}  // namespace mlcore::nn
