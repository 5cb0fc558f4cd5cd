// Inverted dropout with its own seeded generator: the k-th training batch of a run always sees
// the same mask, so two runs with the same seeds give the same weights. A Dropout applied at
// several graph nodes draws each use's masks from its own stream (see layer_sharing.h).
#include <random>

#include "absl/strings/str_cat.h"
#include "mlcore/nn/layers.h"
#include "mlcore/ops/elementwise.h"
#include "nn/layer_sharing.h"
#include "nn/layer_util.h"

namespace mlcore::nn {
namespace {

// splitmix64's finaliser: nearby (seed, use) pairs give unrelated generator seeds.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class DropoutLayer : public Layer, public internal::RandomStreamLayer {
 public:
  DropoutLayer(double rate, uint64_t seed) : rate_(rate), seed_(seed), rng_(seed) {}
  void SetStream(uint64_t use) override { rng_.seed(use == 0 ? seed_ : Mix(seed_ + Mix(use))); }
  std::string type() const override { return "dropout"; }
  bool SupportsCuda() const override { return true; }
  LayerConfig config() const override {
    return {{"rate", rate_}, {"seed", static_cast<double>(seed_)}};
  }

 protected:
  StatusOr<Shape> DoBuild(const Shape& input_shape, uint64_t) override { return input_shape; }
  StatusOr<Tensor> DoForward(const Tensor& x, bool training) override {
    if (!training) return x;  // inference writes nothing: many threads may run it at once
    if (rate_ == 0.0) {
      mask_ = Tensor();
      return x;
    }
    // The mask is drawn on the host on every device, so CPU and CUDA runs see the same masks.
    MLCORE_ASSIGN_OR_RETURN(mask_, Tensor::Empty(x.shape(), DType::kFloat32));
    if (x.device().is_cuda()) {
      std::bernoulli_distribution keep(1.0 - rate_);
      const float scale = static_cast<float>(1.0 / (1.0 - rate_));
      float* m = mask_.data<float>();
      for (int64_t i = 0; i < x.numel(); ++i) m[i] = keep(rng_) ? scale : 0.0f;
      MLCORE_ASSIGN_OR_RETURN(mask_, mask_.To(x.device()));
      return ops::Mul(x, mask_);
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32));
    std::bernoulli_distribution keep(1.0 - rate_);
    const float scale = static_cast<float>(1.0 / (1.0 - rate_));
    const float* in = x.data<float>();
    float* out = y.data<float>();
    float* m = mask_.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      m[i] = keep(rng_) ? scale : 0.0f;
      out[i] = in[i] * m[i];
    }
    return y;
  }
  StatusOr<Tensor> DoBackward(const Tensor& dy) override {
    if (!mask_.defined()) return dy;
    if (dy.device().is_cuda()) return ops::Mul(dy, mask_);
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(dy.shape(), DType::kFloat32));
    const float* g = dy.data<float>();
    const float* m = mask_.data<float>();
    float* out = dx.data<float>();
    for (int64_t i = 0; i < dy.numel(); ++i) out[i] = g[i] * m[i];
    return dx;
  }

 private:
  double rate_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  Tensor mask_;
};

static LayerRegistration dropout_reg(
    "dropout", [](const LayerConfig& config) -> StatusOr<std::shared_ptr<Layer>> {
      MLCORE_ASSIGN_OR_RETURN(double rate, internal::ConfigValue(config, "dropout", "rate"));
      // A seed is any uint64 (saved as a double); outside that range it is damage, not a seed.
      auto it = config.find("seed");
      const double seed = it == config.end() ? 0.0 : it->second;
      if (!(seed >= 0.0 && seed < 18446744073709551616.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("layer type 'dropout' config 'seed' must be in [0, 2**64), got ", seed));
      }
      return Dropout(rate, static_cast<uint64_t>(seed));
    });

}  // namespace

StatusOr<std::shared_ptr<Layer>> Dropout(double rate, uint64_t seed) {
  if (!(rate >= 0.0 && rate < 1.0)) {
    return absl::InvalidArgumentError("Dropout: rate must be in [0, 1), got " +
                                      std::to_string(rate));
  }
  return std::shared_ptr<Layer>(std::make_shared<DropoutLayer>(rate, seed));
}

}  // namespace mlcore::nn
