// BatchNorm1d / BatchNorm2d: per-channel normalisation over the batch (and the spatial
// positions). The running mean and variance are buffers: updated by training passes, used by
// inference passes, saved in checkpoints, never seen by an optimiser. Statistics are summed in
// double so that large offsets do not cancel catastrophically.
#include "nn/batch_norm.h"

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "mlcore/nn/layers.h"
#include "nn/batch_norm_cpu.h"

namespace mlcore::nn {
namespace {

class BatchNormLayer : public internal::BatchNormLayerBase {
 public:
  using BatchNormLayerBase::BatchNormLayerBase;
  std::string type() const override { return spatial_ ? "batch_norm2d" : "batch_norm1d"; }
  bool SupportsCuda() const override { return kCudaTwinsBuilt; }

 protected:
  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t n = x.shape()[0];
    if (training && n * st_.spatial < 2) {
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
    if (!training) {
      st_.InferCpu(in, n, options_.eps, out);
      return y;
    }
    MLCORE_ASSIGN_OR_RETURN(st_.xhat, Tensor::Empty(x.shape(), DType::kFloat32));
    MLCORE_ASSIGN_OR_RETURN(st_.rstd, Tensor::Empty({st_.channels}, DType::kFloat32));
    const double m = static_cast<double>(n * st_.spatial);
    // One pass per channel: its statistics, then its normalisation while its values are hot.
    cpu::ParallelFor(st_.channels, 3 * n * st_.spatial, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        double mean, m2;
        internal::ChannelMoments(st_, n, c, in, &mean, &m2);
        internal::ChannelNormalize(st_, options_, n, c, in, mean, m2, m, out);
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
          CudaArgs(dy.device().index, n), dy.data<float>(), st_.xhat.data<float>(),
          st_.rstd.data<float>(), st_.gamma.value.data<float>(), st_.gamma.grad.data<float>(),
          st_.beta.grad.data<float>(), dx.defined() ? dx.data<float>() : nullptr)));
      return dx;
    }
    const float* d = dy.data<float>();
    float* dg = st_.gamma.grad.data<float>();
    float* db = st_.beta.grad.data<float>();
    const double m = static_cast<double>(n * st_.spatial);
    cpu::ParallelFor(st_.channels, 3 * n * st_.spatial, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        double sdy, sdyh;
        internal::ChannelGradSums(st_, n, c, d, &sdy, &sdyh);
        dg[c] = static_cast<float>(sdyh);
        db[c] = static_cast<float>(sdy);
        if (dx.defined()) internal::ChannelInputGrad(st_, n, c, d, sdy, sdyh, m, dx.data<float>());
      }
    });
    return dx;
  }

 private:
  cuda::BatchNormArgs CudaArgs(int device, int64_t batch) const {
    cuda::BatchNormArgs a;
    a.device = device;
    a.batch = batch;
    a.channels = st_.channels;
    a.spatial = st_.spatial;
    a.eps = static_cast<float>(options_.eps);
    a.momentum = static_cast<float>(options_.momentum);
    return a;
  }

  StatusOr<Tensor> ForwardCuda(const Tensor& x, Tensor& y, bool training) {
    const cuda::BatchNormArgs args = CudaArgs(x.device().index, x.shape()[0]);
    if (!training) {
      MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
          cuda::BatchNormInfer(args, x.data<float>(), st_.gamma.value.data<float>(),
                               st_.beta.value.data<float>(), st_.running_mean.value.data<float>(),
                               st_.running_var.value.data<float>(), y.data<float>())));
      return y;
    }
    MLCORE_ASSIGN_OR_RETURN(st_.xhat, Tensor::Empty(x.shape(), DType::kFloat32, x.device()));
    MLCORE_ASSIGN_OR_RETURN(st_.rstd, Tensor::Empty({st_.channels}, DType::kFloat32, x.device()));
    MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::BatchNormTrain(
        args, x.data<float>(), st_.gamma.value.data<float>(), st_.beta.value.data<float>(),
        st_.running_mean.value.data<float>(), st_.running_var.value.data<float>(), y.data<float>(),
        st_.xhat.data<float>(), st_.rstd.data<float>())));
    return y;
  }
};

StatusOr<std::shared_ptr<Layer>> MakeBatchNorm(bool spatial, BatchNormOptions options) {
  MLCORE_RETURN_IF_ERROR(
      internal::ValidateBatchNormOptions(spatial ? "BatchNorm2d" : "BatchNorm1d", options));
  return std::shared_ptr<Layer>(std::make_shared<BatchNormLayer>(spatial, options));
}

static LayerRegistration bn1_registration("batch_norm1d", [](const LayerConfig& c) {
  return MakeBatchNorm(false, internal::BatchNormOptionsFromConfig(c));
});
static LayerRegistration bn2_registration("batch_norm2d", [](const LayerConfig& c) {
  return MakeBatchNorm(true, internal::BatchNormOptionsFromConfig(c));
});

}  // namespace

StatusOr<std::shared_ptr<Layer>> BatchNorm1d(BatchNormOptions options) {
  return MakeBatchNorm(false, options);
}

StatusOr<std::shared_ptr<Layer>> BatchNorm2d(BatchNormOptions options) {
  return MakeBatchNorm(true, options);
}

}  // namespace mlcore::nn
