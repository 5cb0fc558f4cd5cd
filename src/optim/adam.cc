// Adam and AdamW (Kingma & Ba; Loshchilov & Hutter). One fused loop per parameter reads the
// gradient once and updates both moments and the weight, which is what bounds its speed.
#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/cpu_math.h"
#include "core/device_dispatch.h"
#include "mlcore/optim/optimizer.h"
#include "optim/adam.h"
#include "optim/optimizer_util.h"

namespace mlcore::optim {
namespace {

struct AdamConstants {
  float b1, b2, step, inv_sqrt_c2, eps, wd, decay;
};

// One element of the update; the vector paths below apply the same operations in the same order
// (no fused multiply-add), so every path, and the CUDA twin, produce the same bits.
template <bool kDecoupled>
inline void AdamOne(float& w, float g, float& m, float& v, const AdamConstants& k) {
  const float gi = kDecoupled ? g : g + k.wd * w;
  m = k.b1 * m + (1.0f - k.b1) * gi;
  v = k.b2 * v + (1.0f - k.b2) * gi * gi;
  w = w * k.decay - k.step * m / (std::sqrt(v) * k.inv_sqrt_c2 + k.eps);
}

#if defined(__x86_64__)
// Eight lanes with AVX. Written with intrinsics because std::sqrt may set errno, which keeps
// the compiler from vectorising the scalar loop.
template <bool kDecoupled>
__attribute__((target("avx"))) void AdamRangeAvx(float* w, const float* g, float* m, float* v,
                                                 int64_t n, const AdamConstants& k) {
  const __m256 b1 = _mm256_set1_ps(k.b1), b2 = _mm256_set1_ps(k.b2);
  const __m256 one_b1 = _mm256_set1_ps(1.0f - k.b1), one_b2 = _mm256_set1_ps(1.0f - k.b2);
  const __m256 step = _mm256_set1_ps(k.step), inv = _mm256_set1_ps(k.inv_sqrt_c2);
  const __m256 eps = _mm256_set1_ps(k.eps), wd = _mm256_set1_ps(k.wd);
  const __m256 decay = _mm256_set1_ps(k.decay);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 wi = _mm256_loadu_ps(w + i);
    __m256 gi = _mm256_loadu_ps(g + i);
    if (!kDecoupled) gi = _mm256_add_ps(gi, _mm256_mul_ps(wd, wi));
    const __m256 mi =
        _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(one_b1, gi));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                    _mm256_mul_ps(_mm256_mul_ps(one_b2, gi), gi));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    const __m256 denom = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), inv), eps);
    wi = _mm256_sub_ps(_mm256_mul_ps(wi, decay), _mm256_div_ps(_mm256_mul_ps(step, mi), denom));
    _mm256_storeu_ps(w + i, wi);
  }
  for (; i < n; ++i) AdamOne<kDecoupled>(w[i], g[i], m[i], v[i], k);
}
#endif

template <bool kDecoupled>
void AdamRange(float* w, const float* g, float* m, float* v, int64_t n, const AdamConstants& k) {
#if defined(__x86_64__)
  static const bool avx = __builtin_cpu_supports("avx");
  if (avx) return AdamRangeAvx<kDecoupled>(w, g, m, v, n, k);
#endif
  for (int64_t i = 0; i < n; ++i) AdamOne<kDecoupled>(w[i], g[i], m[i], v[i], k);
}

class AdamOptimizer : public Optimizer {
 public:
  AdamOptimizer(AdamOptions o, bool decoupled) : Optimizer(o.lr), o_(o), decoupled_(decoupled) {}
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  std::map<std::string, double> config() const override {
    return {{"lr", lr_},
            {"beta1", o_.beta1},
            {"beta2", o_.beta2},
            {"eps", o_.eps},
            {"weight_decay", o_.weight_decay}};
  }
  Status Step(absl::Span<Parameter* const> params, double lr) override {
    MLCORE_RETURN_IF_ERROR(internal::CheckParameters(name(), params));
    const int64_t t = steps_ + 1;
    const float b1 = static_cast<float>(o_.beta1);
    const float b2 = static_cast<float>(o_.beta2);
    // Bias corrections folded into the step size and epsilon, as in the paper's last form.
    const double c1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t));
    const double c2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t));
    const float step = static_cast<float>(lr / c1);
    const float inv_sqrt_c2 = static_cast<float>(1.0 / std::sqrt(c2));
    const float eps = static_cast<float>(o_.eps);
    const float wd = static_cast<float>(o_.weight_decay);
    const float decay = decoupled_ ? static_cast<float>(1.0 - lr * o_.weight_decay) : 1.0f;
    for (Parameter* p : params) {
      MLCORE_ASSIGN_OR_RETURN(float* m, internal::Slot(state_, *p, "m"));
      MLCORE_ASSIGN_OR_RETURN(float* v, internal::Slot(state_, *p, "v"));
      float* w = p->value.data<float>();
      const float* g = p->grad.data<float>();
      if (p->value.device().is_cuda()) {
        const cuda::AdamArgs args{b1, b2, step, inv_sqrt_c2, eps, wd, decay, decoupled_};
        MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(
            cuda::AdamStep(p->value.device().index, w, g, m, v, p->value.numel(), args)));
        continue;
      }
      const AdamConstants k{b1, b2, step, inv_sqrt_c2, eps, wd, decay};
      cpu::ParallelFor(p->value.numel(), 12, [&](int64_t b, int64_t e) {
        if (decoupled_) {
          AdamRange<true>(w + b, g + b, m + b, v + b, e - b, k);
        } else {
          AdamRange<false>(w + b, g + b, m + b, v + b, e - b, k);
        }
      });
    }
    steps_ = t;
    return absl::OkStatus();
  }
  std::map<std::string, Tensor> State() const override { return state_; }
  Status LoadState(const std::map<std::string, Tensor>& state, int64_t steps) override {
    MLCORE_RETURN_IF_ERROR(internal::CheckState(name(), state, {"m", "v"}));
    MLCORE_ASSIGN_OR_RETURN(state_, internal::CloneState(state));
    steps_ = steps;
    return absl::OkStatus();
  }

 private:
  AdamOptions o_;
  bool decoupled_;
  std::map<std::string, Tensor> state_;
};

Status Check(const char* what, const AdamOptions& o) {
  if (!(o.lr > 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) ||
      !(o.eps > 0) || o.weight_decay < 0) {
    return absl::InvalidArgumentError(std::string(what) +
                                      ": need lr > 0, betas in [0, 1), eps > 0, "
                                      "weight_decay >= 0");
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::shared_ptr<Optimizer>> Adam(AdamOptions o) {
  MLCORE_RETURN_IF_ERROR(Check("Adam", o));
  return std::shared_ptr<Optimizer>(std::make_shared<AdamOptimizer>(o, false));
}

StatusOr<std::shared_ptr<Optimizer>> AdamW(AdamOptions o) {
  MLCORE_RETURN_IF_ERROR(Check("AdamW", o));
  return std::shared_ptr<Optimizer>(std::make_shared<AdamOptimizer>(o, true));
}

namespace {

// From config() as checkpoints store it; AdamW's default decay is its usual 0.01.
template <bool kDecoupled>
StatusOr<std::shared_ptr<Optimizer>> AdamFromConfig(const OptimizerConfig& c) {
  using internal::Get;
  AdamOptions o{Get(c, "lr", 1e-3), Get(c, "beta1", 0.9), Get(c, "beta2", 0.999),
                Get(c, "eps", 1e-8), Get(c, "weight_decay", kDecoupled ? 0.01 : 0.0)};
  return kDecoupled ? AdamW(o) : Adam(o);
}

Registrar<OptimizerFactory> adam_registration(OptimizerRegistry(), "adam", &AdamFromConfig<false>);
Registrar<OptimizerFactory> adamw_registration(OptimizerRegistry(), "adamw", &AdamFromConfig<true>);

}  // namespace

}  // namespace mlcore::optim
