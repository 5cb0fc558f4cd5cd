// The CPU side of BatchNorm's rules (nn/batch_norm.h), shared by nn's BatchNorm1d/2d and dist's
// SyncBatchNorm1d/2d: the same parameters and buffers, and the same per-channel steps. A plain
// BatchNorm feeds the steps its own batch's statistics; SyncBatchNorm feeds them the group's
// (combined between the steps by its collectives), so the arithmetic is written once and the
// two layers agree bit for bit in a group of one.
//
// Tensors are [batch, channels, spatial] float32 (spatial = H * W, or 1 for the 1d layers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mlcore/nn/layer.h"
#include "mlcore/nn/layers.h"

namespace mlcore::nn::internal {

// eps > 0 and momentum in [0, 1], or InvalidArgument naming `layer` ("BatchNorm2d", ...).
Status ValidateBatchNormOptions(const std::string& layer, const BatchNormOptions& options);
// The options of a saved layer config ({"momentum", "eps"}), defaults where absent.
BatchNormOptions BatchNormOptionsFromConfig(const LayerConfig& config);
LayerConfig BatchNormConfig(const BatchNormOptions& options);

// A batch-norm layer's parameters (gamma, beta), buffers (running mean and variance) and what
// its last training forward saved for the backward (xhat, rstd).
struct BatchNormState {
  int64_t channels = 0;
  int64_t spatial = 1;  // values per channel per sample (H * W for the 2d layers)
  Parameter gamma, beta;
  Parameter running_mean, running_var;  // buffers: no gradient
  Tensor xhat, rstd;

  // Checks the per-sample shape ([C] or, `spatial_layer`, [C, H, W]; `describe` names the layer
  // in the error) and creates gamma = 1, beta = 0, running mean 0 and running variance 1.
  Status Build(const std::string& name, const std::string& describe, bool spatial_layer,
               const Shape& input_shape);
  std::vector<Parameter*> parameters();
  std::vector<Parameter*> buffers();
  // Inference on the CPU with the running statistics into y (x's shape; n samples).
  void InferCpu(const float* x, int64_t n, double eps, float* y) const;
};

// What BatchNorm and SyncBatchNorm have in common as layers: options, config, parameters,
// buffers and building. Each adds its type and its passes.
class BatchNormLayerBase : public Layer {
 public:
  BatchNormLayerBase(bool spatial, BatchNormOptions options)
      : spatial_(spatial), options_(options) {}
  LayerConfig config() const override { return BatchNormConfig(options_); }
  std::vector<Parameter*> parameters() override { return st_.parameters(); }
  std::vector<Parameter*> buffers() override { return st_.buffers(); }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override {
    MLCORE_RETURN_IF_ERROR(st_.Build(name(), Describe(), spatial_, input_shape));
    return input_shape;
  }

  const bool spatial_;  // BatchNorm2d's [C, H, W] samples rather than BatchNorm1d's [C]
  const BatchNormOptions options_;
  BatchNormState st_;
};

// The per-channel steps: channel c of [n, state.channels, state.spatial] tensors.
// This batch's mean and sum of squared deviations about it, in double (two passes).
void ChannelMoments(const BatchNormState& s, int64_t n, int64_t c, const float* x, double* mean,
                    double* m2);
// Normalises channel c with `mean` and `m2` over `count` values (the biased variance m2 / count)
// into y and s.xhat, saves s.rstd[c], and updates the running statistics (the unbiased
// variance, as in PyTorch). s.xhat and s.rstd are allocated already.
void ChannelNormalize(BatchNormState& s, const BatchNormOptions& options, int64_t n, int64_t c,
                      const float* x, double mean, double m2, double count, float* y);
// This batch's sums of dy and of dy * xhat, in double.
void ChannelGradSums(const BatchNormState& s, int64_t n, int64_t c, const float* dy, double* sum_dy,
                     double* sum_dy_xhat);
// dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), the means the sums over `count`.
void ChannelInputGrad(const BatchNormState& s, int64_t n, int64_t c, const float* dy, double sum_dy,
                      double sum_dy_xhat, double count, float* dx);

}  // namespace mlcore::nn::internal
