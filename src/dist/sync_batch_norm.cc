// SyncBatchNorm1d / SyncBatchNorm2d (see sync_batch_norm.h): BatchNorm's per-channel rules
// (src/nn/batch_norm.h) with the statistics of the whole group. Both collectives are issued by
// every rank at the same point of the same pass (the training forward, the backward), in layer
// order, so they interleave with the reducer's bucket allreduces identically on every rank.
#include "mlcore/dist/sync_batch_norm.h"

#include "core/cpu_math.h"
#include "nn/batch_norm_cpu.h"

namespace mlcore::dist {
namespace {

class SyncBatchNormLayer : public nn::internal::BatchNormLayerBase {
 public:
  using BatchNormLayerBase::BatchNormLayerBase;
  std::string type() const override { return spatial_ ? "sync_batch_norm2d" : "sync_batch_norm1d"; }
  void set_group(std::shared_ptr<Communicator> comm, absl::Duration timeout) {
    comm_ = std::move(comm);
    timeout_ = timeout;
  }

 protected:
  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    const int64_t n = x.shape()[0];
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32));
    const float* in = x.data<float>();
    float* out = y.data<float>();
    if (!training) {
      st_.InferCpu(in, n, options_.eps, out);
      return y;
    }
    std::vector<double> mean, m2;
    MLCORE_ASSIGN_OR_RETURN(double m, GlobalMoments(in, n, mean, m2));
    if (m < 2) {
      return absl::InvalidArgumentError(Describe() + " needs more than one value per channel " +
                                        "over the group to train, got input " +
                                        ShapeToString(x.shape()));
    }
    MLCORE_ASSIGN_OR_RETURN(st_.xhat, Tensor::Empty(x.shape(), DType::kFloat32));
    MLCORE_ASSIGN_OR_RETURN(st_.rstd, Tensor::Empty({st_.channels}, DType::kFloat32));
    total_ = m;
    cpu::ParallelFor(st_.channels, 2 * n * st_.spatial, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        nn::internal::ChannelNormalize(st_, options_, n, c, in, mean[c], m2[c], m, out);
      }
    });
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    const int64_t n = dy.shape()[0];
    const int64_t channels = st_.channels;
    const float* d = dy.data<float>();
    // sums[c] = sum dy, sums[C + c] = sum dy * xhat: local first, global after the allreduce.
    std::vector<double> sums(2 * channels);
    cpu::ParallelFor(channels, 2 * n * st_.spatial, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        nn::internal::ChannelGradSums(st_, n, c, d, &sums[c], &sums[channels + c]);
      }
    });
    // gamma's and beta's gradients are this rank's sums; the reducer averages them.
    for (int64_t c = 0; c < channels; ++c) {
      st_.gamma.grad.data<float>()[c] = static_cast<float>(sums[channels + c]);
      st_.beta.grad.data<float>()[c] = static_cast<float>(sums[c]);
    }
    if (Grouped()) {
      MLCORE_ASSIGN_OR_RETURN(Tensor t, Tensor::FromVector<double>(sums, {2 * channels}));
      MLCORE_RETURN_IF_ERROR(comm_->AllReduce(t, ReduceOp::kSum, timeout_));
      std::copy(t.data<double>(), t.data<double>() + 2 * channels, sums.begin());
    }
    if (!input_grad_needed()) return Tensor();
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(dy.shape(), DType::kFloat32));
    float* out = dx.data<float>();
    cpu::ParallelFor(channels, n * st_.spatial, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        // The means of dy and dy * xhat over the group.
        nn::internal::ChannelInputGrad(st_, n, c, d, sums[c], sums[channels + c], total_, out);
      }
    });
    return dx;
  }

 private:
  bool Grouped() const { return comm_ != nullptr && comm_->world_size() > 1; }

  // Per channel: the group's mean and sum of squared deviations; returns the group's count.
  StatusOr<double> GlobalMoments(const float* in, int64_t n, std::vector<double>& mean,
                                 std::vector<double>& m2) {
    // [count, mean_0..mean_{C-1}, m2_0..m2_{C-1}] of this rank, two passes as BatchNorm does.
    const int64_t channels = st_.channels;
    const int64_t width = 1 + 2 * channels;
    std::vector<double> local(width);
    const double count = static_cast<double>(n * st_.spatial);
    local[0] = count;
    cpu::ParallelFor(channels, 2 * n * st_.spatial, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        nn::internal::ChannelMoments(st_, n, c, in, &local[1 + c], &local[1 + channels + c]);
      }
    });
    mean.assign(local.begin() + 1, local.begin() + 1 + channels);
    m2.assign(local.begin() + 1 + channels, local.end());
    if (!Grouped()) return count;
    const int world = comm_->world_size();
    MLCORE_ASSIGN_OR_RETURN(Tensor mine, Tensor::FromVector<double>(local, {width}));
    MLCORE_ASSIGN_OR_RETURN(Tensor all, Tensor::Zeros({world * width}, DType::kFloat64));
    MLCORE_RETURN_IF_ERROR(comm_->AllGather(mine, all, timeout_));
    const double* a = all.data<double>();
    double total = 0.0;
    for (int r = 0; r < world; ++r) total += a[r * width];
    for (int64_t c = 0; c < channels; ++c) {
      double mu = 0.0;
      for (int r = 0; r < world; ++r) mu += a[r * width] * a[r * width + 1 + c];
      mu = total > 0 ? mu / total : 0.0;
      // Chan et al.: M2 = sum_r (M2_r + n_r * (mean_r - mean)^2).
      double ss = 0.0;
      for (int r = 0; r < world; ++r) {
        const double delta = a[r * width + 1 + c] - mu;
        ss += a[r * width + 1 + channels + c] + a[r * width] * delta * delta;
      }
      mean[c] = mu;
      m2[c] = ss;
    }
    return total;
  }

  double total_ = 0.0;  // the group's values per channel in the last training forward
  std::shared_ptr<Communicator> comm_;
  absl::Duration timeout_ = kUseDefaultTimeout;
};

StatusOr<std::shared_ptr<nn::Layer>> Make(bool spatial, nn::BatchNormOptions options) {
  MLCORE_RETURN_IF_ERROR(nn::internal::ValidateBatchNormOptions(
      spatial ? "SyncBatchNorm2d" : "SyncBatchNorm1d", options));
  return std::shared_ptr<nn::Layer>(std::make_shared<SyncBatchNormLayer>(spatial, options));
}

using nn::internal::BatchNormOptionsFromConfig;

nn::LayerRegistration sbn1_registration("sync_batch_norm1d", [](const nn::LayerConfig& c) {
  return Make(false, BatchNormOptionsFromConfig(c));
});
nn::LayerRegistration sbn2_registration("sync_batch_norm2d", [](const nn::LayerConfig& c) {
  return Make(true, BatchNormOptionsFromConfig(c));
});

}  // namespace

StatusOr<std::shared_ptr<nn::Layer>> SyncBatchNorm1d(nn::BatchNormOptions options) {
  return Make(false, options);
}

StatusOr<std::shared_ptr<nn::Layer>> SyncBatchNorm2d(nn::BatchNormOptions options) {
  return Make(true, options);
}

bool IsSyncBatchNorm(const nn::Layer& layer) {
  return dynamic_cast<const SyncBatchNormLayer*>(&layer) != nullptr;
}

Status SetSyncBatchNormGroup(nn::Layer& layer, std::shared_ptr<Communicator> comm,
                             absl::Duration timeout) {
  auto* sync = dynamic_cast<SyncBatchNormLayer*>(&layer);
  if (sync == nullptr) {
    return absl::InvalidArgumentError("layer '" + layer.name() + "' (" + layer.type() +
                                      ") is not a SyncBatchNorm layer");
  }
  sync->set_group(std::move(comm), timeout);
  return absl::OkStatus();
}

StatusOr<std::vector<std::shared_ptr<nn::Layer>>> ConvertSyncBatchNorm(
    const std::vector<std::shared_ptr<nn::Layer>>& layers) {
  std::vector<std::shared_ptr<nn::Layer>> out;
  for (const auto& layer : layers) {
    const std::string type = layer ? layer->type() : "";
    if (type != "batch_norm1d" && type != "batch_norm2d") {
      out.push_back(layer);
      continue;
    }
    if (layer->built()) {
      return absl::FailedPreconditionError(
          "ConvertSyncBatchNorm: layer '" + layer->name() +
          "' is built already; convert the layers before building the model");
    }
    MLCORE_ASSIGN_OR_RETURN(
        auto sync, Make(type == "batch_norm2d", BatchNormOptionsFromConfig(layer->config())));
    sync->set_name(layer->name());
    out.push_back(std::move(sync));
  }
  return out;
}

}  // namespace mlcore::dist
