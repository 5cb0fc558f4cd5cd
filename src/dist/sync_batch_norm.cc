// SyncBatchNorm1d / SyncBatchNorm2d (see sync_batch_norm.h): BatchNorm's per-channel rules
// (src/nn/batch_norm.h) with the statistics of the whole group. Both collectives are issued by
// every rank at the same point of the same pass (the training forward, the backward), in layer
// order, so they interleave with the reducer's bucket allreduces identically on every rank.
#include "mlcore/dist/sync_batch_norm.h"

#include <cmath>

#include "core/cpu_math.h"
#include "nn/layer_util.h"

namespace mlcore::dist {
namespace {

class SyncBatchNormLayer : public nn::Layer {
 public:
  SyncBatchNormLayer(bool spatial, nn::BatchNormOptions options)
      : spatial_(spatial), options_(options) {}
  std::string type() const override { return spatial_ ? "sync_batch_norm2d" : "sync_batch_norm1d"; }
  nn::LayerConfig config() const override {
    return {{"momentum", options_.momentum}, {"eps", options_.eps}};
  }
  std::vector<Parameter*> parameters() override {
    if (!gamma_.value.defined()) return {};
    return {&gamma_, &beta_};
  }
  std::vector<Parameter*> buffers() override {
    if (!running_mean_.value.defined()) return {};
    return {&running_mean_, &running_var_};
  }
  void set_group(std::shared_ptr<Communicator> comm, absl::Duration timeout) {
    comm_ = std::move(comm);
    timeout_ = timeout;
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
    MLCORE_ASSIGN_OR_RETURN(gamma_, nn::internal::MakeParameter(name() + ".gamma", {c_}));
    MLCORE_ASSIGN_OR_RETURN(beta_, nn::internal::MakeParameter(name() + ".beta", {c_}));
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
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32));
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
    std::vector<double> mean, m2;
    MLCORE_ASSIGN_OR_RETURN(double m, GlobalMoments(in, n, mean, m2));
    if (m < 2) {
      return absl::InvalidArgumentError(Describe() + " needs more than one value per channel " +
                                        "over the group to train, got input " +
                                        ShapeToString(x.shape()));
    }
    MLCORE_ASSIGN_OR_RETURN(xhat_, Tensor::Empty(x.shape(), DType::kFloat32));
    MLCORE_ASSIGN_OR_RETURN(rstd_, Tensor::Empty({c_}, DType::kFloat32));
    total_ = m;
    float* h = xhat_.data<float>();
    float* rs = rstd_.data<float>();
    const double momentum = options_.momentum;
    cpu::ParallelFor(c_, 2 * n * s_, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        const float r = static_cast<float>(1.0 / std::sqrt(m2[c] / m + options_.eps));
        rs[c] = r;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t o = (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) {
            const float hv = static_cast<float>(in[o + i] - mean[c]) * r;
            h[o + i] = hv;
            out[o + i] = hv * g[c] + b[c];
          }
        }
        rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * mean[c]);
        rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * m2[c] / (m - 1.0));
      }
    });
    return y;
  }

  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    const int64_t n = dy.shape()[0];
    const float* d = dy.data<float>();
    const float* h = xhat_.data<float>();
    // sums[c] = sum dy, sums[c_ + c] = sum dy * xhat: local first, global after the allreduce.
    std::vector<double> sums(2 * c_);
    cpu::ParallelFor(c_, 2 * n * s_, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        double sdy = 0.0, sdyh = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t o = (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) {
            sdy += d[o + i];
            sdyh += static_cast<double>(d[o + i]) * h[o + i];
          }
        }
        sums[c] = sdy;
        sums[c_ + c] = sdyh;
      }
    });
    // gamma's and beta's gradients are this rank's sums; the reducer averages them.
    for (int64_t c = 0; c < c_; ++c) {
      gamma_.grad.data<float>()[c] = static_cast<float>(sums[c_ + c]);
      beta_.grad.data<float>()[c] = static_cast<float>(sums[c]);
    }
    if (Grouped()) {
      MLCORE_ASSIGN_OR_RETURN(Tensor t, Tensor::FromVector<double>(sums, {2 * c_}));
      MLCORE_RETURN_IF_ERROR(comm_->AllReduce(t, ReduceOp::kSum, timeout_));
      std::copy(t.data<double>(), t.data<double>() + 2 * c_, sums.begin());
    }
    if (!input_grad_needed()) return Tensor();
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(dy.shape(), DType::kFloat32));
    float* out = dx.data<float>();
    const float* g = gamma_.value.data<float>();
    const float* rs = rstd_.data<float>();
    cpu::ParallelFor(c_, n * s_, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), means over the group.
        const float scale = g[c] * rs[c];
        const float mdy = static_cast<float>(sums[c] / total_);
        const float mdyh = static_cast<float>(sums[c_ + c] / total_);
        for (int64_t k = 0; k < n; ++k) {
          const int64_t o = (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) out[o + i] = scale * (d[o + i] - mdy - h[o + i] * mdyh);
        }
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
    const int64_t width = 1 + 2 * c_;
    std::vector<double> local(width);
    const double count = static_cast<double>(n * s_);
    local[0] = count;
    cpu::ParallelFor(c_, 2 * n * s_, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        double sum = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          const float* xr = in + (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) sum += xr[i];
        }
        const double mu = count > 0 ? sum / count : 0.0;
        double ss = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          const float* xr = in + (k * c_ + c) * s_;
          for (int64_t i = 0; i < s_; ++i) ss += (xr[i] - mu) * (xr[i] - mu);
        }
        local[1 + c] = mu;
        local[1 + c_ + c] = ss;
      }
    });
    mean.assign(local.begin() + 1, local.begin() + 1 + c_);
    m2.assign(local.begin() + 1 + c_, local.end());
    if (!Grouped()) return count;
    const int world = comm_->world_size();
    MLCORE_ASSIGN_OR_RETURN(Tensor mine, Tensor::FromVector<double>(local, {width}));
    MLCORE_ASSIGN_OR_RETURN(Tensor all, Tensor::Zeros({world * width}, DType::kFloat64));
    MLCORE_RETURN_IF_ERROR(comm_->AllGather(mine, all, timeout_));
    const double* a = all.data<double>();
    double total = 0.0;
    for (int r = 0; r < world; ++r) total += a[r * width];
    for (int64_t c = 0; c < c_; ++c) {
      double mu = 0.0;
      for (int r = 0; r < world; ++r) mu += a[r * width] * a[r * width + 1 + c];
      mu = total > 0 ? mu / total : 0.0;
      // Chan et al.: M2 = sum_r (M2_r + n_r * (mean_r - mean)^2).
      double ss = 0.0;
      for (int r = 0; r < world; ++r) {
        const double delta = a[r * width + 1 + c] - mu;
        ss += a[r * width + 1 + c_ + c] + a[r * width] * delta * delta;
      }
      mean[c] = mu;
      m2[c] = ss;
    }
    return total;
  }

  bool spatial_;
  nn::BatchNormOptions options_;
  int64_t c_ = 0;
  int64_t s_ = 1;
  Parameter gamma_, beta_;
  Parameter running_mean_, running_var_;
  Tensor xhat_, rstd_;
  double total_ = 0.0;  // the group's values per channel in the last training forward
  std::shared_ptr<Communicator> comm_;
  absl::Duration timeout_ = kUseDefaultTimeout;
};

StatusOr<std::shared_ptr<nn::Layer>> Make(bool spatial, nn::BatchNormOptions options) {
  if (!(options.eps > 0) || !(options.momentum >= 0 && options.momentum <= 1)) {
    return absl::InvalidArgumentError(
        std::string(spatial ? "SyncBatchNorm2d" : "SyncBatchNorm1d") +
        ": eps must be > 0 and momentum in [0, 1]; got eps=" + std::to_string(options.eps) +
        " momentum=" + std::to_string(options.momentum));
  }
  return std::shared_ptr<nn::Layer>(std::make_shared<SyncBatchNormLayer>(spatial, options));
}

nn::BatchNormOptions FromConfig(const nn::LayerConfig& config) {
  nn::BatchNormOptions o;
  if (auto it = config.find("momentum"); it != config.end()) o.momentum = it->second;
  if (auto it = config.find("eps"); it != config.end()) o.eps = it->second;
  return o;
}

nn::LayerRegistration sbn1_registration("sync_batch_norm1d", [](const nn::LayerConfig& c) {
  return Make(false, FromConfig(c));
});
nn::LayerRegistration sbn2_registration("sync_batch_norm2d", [](const nn::LayerConfig& c) {
  return Make(true, FromConfig(c));
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
    MLCORE_ASSIGN_OR_RETURN(auto sync, Make(type == "batch_norm2d", FromConfig(layer->config())));
    sync->set_name(layer->name());
    out.push_back(std::move(sync));
  }
  return out;
}

}  // namespace mlcore::dist
