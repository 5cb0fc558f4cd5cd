#include "nn/batch_norm_cpu.h"

#include <cmath>

#include "core/cpu_math.h"
#include "nn/layer_util.h"

namespace mlcore::nn::internal {

Status ValidateBatchNormOptions(const std::string& layer, const BatchNormOptions& options) {
  if (!(options.eps > 0) || !(options.momentum >= 0 && options.momentum <= 1)) {
    return absl::InvalidArgumentError(
        layer + ": eps must be > 0 and momentum in [0, 1]; got eps=" + std::to_string(options.eps) +
        " momentum=" + std::to_string(options.momentum));
  }
  return absl::OkStatus();
}

BatchNormOptions BatchNormOptionsFromConfig(const LayerConfig& config) {
  BatchNormOptions o;
  if (auto it = config.find("momentum"); it != config.end()) o.momentum = it->second;
  if (auto it = config.find("eps"); it != config.end()) o.eps = it->second;
  return o;
}

LayerConfig BatchNormConfig(const BatchNormOptions& options) {
  return {{"momentum", options.momentum}, {"eps", options.eps}};
}

Status BatchNormState::Build(const std::string& name, const std::string& describe,
                             bool spatial_layer, const Shape& input_shape) {
  const size_t want = spatial_layer ? 3 : 1;
  if (input_shape.size() != want || input_shape[0] <= 0) {
    return absl::InvalidArgumentError(
        describe + " needs input " +
        (spatial_layer ? "[batch, channels, height, width]" : "[batch, features]") +
        ", got per-sample shape " + ShapeToString(input_shape));
  }
  channels = input_shape[0];
  spatial = 1;
  for (size_t i = 1; i < input_shape.size(); ++i) spatial *= input_shape[i];
  MLCORE_ASSIGN_OR_RETURN(gamma, MakeParameter(name + ".gamma", {channels}));
  MLCORE_ASSIGN_OR_RETURN(beta, MakeParameter(name + ".beta", {channels}));
  MLCORE_ASSIGN_OR_RETURN(running_mean.value, Tensor::Zeros({channels}, DType::kFloat32));
  MLCORE_ASSIGN_OR_RETURN(running_var.value, Tensor::Zeros({channels}, DType::kFloat32));
  running_mean.name = name + ".running_mean";
  running_var.name = name + ".running_var";
  for (int64_t c = 0; c < channels; ++c) {
    gamma.value.data<float>()[c] = 1.0f;
    running_var.value.data<float>()[c] = 1.0f;
  }
  return absl::OkStatus();
}

std::vector<Parameter*> BatchNormState::parameters() {
  if (!gamma.value.defined()) return {};
  return {&gamma, &beta};
}

std::vector<Parameter*> BatchNormState::buffers() {
  if (!running_mean.value.defined()) return {};
  return {&running_mean, &running_var};
}

void BatchNormState::InferCpu(const float* x, int64_t n, double eps, float* y) const {
  const float* g = gamma.value.data<float>();
  const float* b = beta.value.data<float>();
  const float* rm = running_mean.value.data<float>();
  const float* rv = running_var.value.data<float>();
  const int64_t s = spatial;
  cpu::ParallelFor(n * channels, s, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r % channels;
      const float scale = g[c] / std::sqrt(rv[c] + static_cast<float>(eps));
      const float shift = b[c] - rm[c] * scale;
      for (int64_t i = 0; i < s; ++i) y[r * s + i] = x[r * s + i] * scale + shift;
    }
  });
}

void ChannelMoments(const BatchNormState& s, int64_t n, int64_t c, const float* x, double* mean,
                    double* m2) {
  const double count = static_cast<double>(n * s.spatial);
  double sum = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    const float* xr = x + (k * s.channels + c) * s.spatial;
    for (int64_t i = 0; i < s.spatial; ++i) sum += xr[i];
  }
  const double mu = count > 0 ? sum / count : 0.0;
  double ss = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    const float* xr = x + (k * s.channels + c) * s.spatial;
    for (int64_t i = 0; i < s.spatial; ++i) ss += (xr[i] - mu) * (xr[i] - mu);
  }
  *mean = mu;
  *m2 = ss;
}

void ChannelNormalize(BatchNormState& s, const BatchNormOptions& options, int64_t n, int64_t c,
                      const float* x, double mean, double m2, double count, float* y) {
  const float g = s.gamma.value.data<float>()[c];
  const float b = s.beta.value.data<float>()[c];
  float* h = s.xhat.data<float>();
  const float r = static_cast<float>(1.0 / std::sqrt(m2 / count + options.eps));
  s.rstd.data<float>()[c] = r;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t o = (k * s.channels + c) * s.spatial;
    for (int64_t i = 0; i < s.spatial; ++i) {
      const float hv = static_cast<float>(x[o + i] - mean) * r;
      h[o + i] = hv;
      y[o + i] = hv * g + b;
    }
  }
  float* rm = s.running_mean.value.data<float>();
  float* rv = s.running_var.value.data<float>();
  const double momentum = options.momentum;
  rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * mean);
  rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * m2 / (count - 1.0));
}

void ChannelGradSums(const BatchNormState& s, int64_t n, int64_t c, const float* dy, double* sum_dy,
                     double* sum_dy_xhat) {
  const float* h = s.xhat.data<float>();
  double sdy = 0.0, sdyh = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t o = (k * s.channels + c) * s.spatial;
    for (int64_t i = 0; i < s.spatial; ++i) {
      sdy += dy[o + i];
      sdyh += static_cast<double>(dy[o + i]) * h[o + i];
    }
  }
  *sum_dy = sdy;
  *sum_dy_xhat = sdyh;
}

void ChannelInputGrad(const BatchNormState& s, int64_t n, int64_t c, const float* dy, double sum_dy,
                      double sum_dy_xhat, double count, float* dx) {
  const float* h = s.xhat.data<float>();
  const float scale = s.gamma.value.data<float>()[c] * s.rstd.data<float>()[c];
  const float mdy = static_cast<float>(sum_dy / count);
  const float mdyh = static_cast<float>(sum_dy_xhat / count);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t o = (k * s.channels + c) * s.spatial;
    for (int64_t i = 0; i < s.spatial; ++i) dx[o + i] = scale * (dy[o + i] - mdy - h[o + i] * mdyh);
  }
}

}  // namespace mlcore::nn::internal
