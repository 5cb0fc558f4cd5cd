// Optimiser updates against values worked out by hand, schedules and clipping.
#include "mlcore/optim/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

#include "mlcore/optim/clip.h"
#include "mlcore/optim/schedule.h"

namespace mlcore::optim {
namespace {

Parameter Param(std::vector<float> value, std::vector<float> grad) {
  Parameter p;
  p.name = "w";
  p.value = *Tensor::FromVector(value, {static_cast<int64_t>(value.size())});
  p.grad = *Tensor::FromVector(grad, {static_cast<int64_t>(grad.size())});
  return p;
}

float At(const Parameter& p, int i) { return p.value.data<float>()[i]; }

TEST(SgdTest, PlainStep) {
  auto opt = *Sgd({.lr = 0.1});
  Parameter p = Param({1.0f, -2.0f}, {0.5f, -1.0f});
  Parameter* ps[] = {&p};
  ASSERT_TRUE(opt->Step(ps, 0.1).ok());
  EXPECT_FLOAT_EQ(At(p, 0), 0.95f);
  EXPECT_FLOAT_EQ(At(p, 1), -1.9f);
}

TEST(SgdTest, MomentumNesterovAndWeightDecay) {
  // PyTorch's rule: d = g + wd w; v = mu v + d (v = d first); step d + mu v (Nesterov) or v.
  auto heavy = *Sgd({.lr = 1.0, .momentum = 0.5});
  auto nesterov = *Sgd({.lr = 1.0, .momentum = 0.5, .nesterov = true});
  auto decay = *Sgd({.lr = 1.0, .weight_decay = 0.1});
  Parameter a = Param({0.0f}, {1.0f}), b = Param({0.0f}, {1.0f}), c = Param({2.0f}, {0.0f});
  Parameter* pa[] = {&a};
  Parameter* pb[] = {&b};
  Parameter* pc[] = {&c};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(heavy->Step(pa, 1.0).ok());
    ASSERT_TRUE(nesterov->Step(pb, 1.0).ok());
  }
  EXPECT_FLOAT_EQ(At(a, 0), -(1.0f + 1.5f));            // v = 1, then 1.5
  EXPECT_FLOAT_EQ(At(b, 0), -(1.5f + (1.0f + 0.75f)));  // 1 + .5*1, then 1 + .5*1.5
  ASSERT_TRUE(decay->Step(pc, 1.0).ok());
  EXPECT_FLOAT_EQ(At(c, 0), 1.8f);
  EXPECT_FALSE(Sgd({.lr = 0.1, .nesterov = true}).ok());
}

TEST(AdamTest, FirstStepMovesByLearningRate) {
  auto opt = *Adam({.lr = 0.01});
  Parameter p = Param({1.0f, 1.0f}, {3.0f, -0.2f});
  Parameter* ps[] = {&p};
  ASSERT_TRUE(opt->Step(ps, 0.01).ok());
  // m_hat = g, v_hat = g^2: the step is lr * sign(g) (up to eps).
  EXPECT_NEAR(At(p, 0), 0.99f, 1e-6);
  EXPECT_NEAR(At(p, 1), 1.01f, 1e-6);
  EXPECT_EQ(opt->steps(), 1);
  EXPECT_EQ(opt->State().size(), 2u);  // w/m and w/v
}

TEST(AdamTest, AdamWDecaysDecoupledAndAdamCoupled) {
  auto w = *AdamW({.lr = 0.1, .weight_decay = 0.5});
  Parameter p = Param({2.0f}, {0.0f});
  Parameter* ps[] = {&p};
  ASSERT_TRUE(w->Step(ps, 0.1).ok());
  EXPECT_NEAR(At(p, 0), 2.0f * (1 - 0.1f * 0.5f), 1e-6);  // zero gradient: only the decay
  auto a = *Adam({.lr = 0.1, .weight_decay = 0.5});
  Parameter q = Param({2.0f}, {0.0f});
  Parameter* qs[] = {&q};
  ASSERT_TRUE(a->Step(qs, 0.1).ok());
  EXPECT_NEAR(At(q, 0), 1.9f, 1e-5);  // the L2 term acts as a gradient of 1: a step of lr
}

TEST(AdamTest, VectorPathMatchesTheFormula) {
  // 1003 elements: the 8-wide loop and its scalar tail both run.
  const int n = 1003;
  std::vector<float> w(n), g(n);
  for (int i = 0; i < n; ++i) {
    w[i] = std::sin(0.1f * i);
    g[i] = std::cos(0.37f * i);
  }
  for (bool decoupled : {false, true}) {
    AdamOptions o{.lr = 0.01, .weight_decay = 0.1};
    auto opt = decoupled ? *AdamW(o) : *Adam(o);
    Parameter p = Param(w, g);
    Parameter* ps[] = {&p};
    std::vector<double> rw(w.begin(), w.end()), m(n, 0.0), v(n, 0.0);
    for (int t = 1; t <= 3; ++t) {
      ASSERT_TRUE(opt->Step(ps, 0.01).ok());
      for (int i = 0; i < n; ++i) {
        const double gi = decoupled ? g[i] : g[i] + 0.1 * rw[i];
        m[i] = 0.9 * m[i] + 0.1 * gi;
        v[i] = 0.999 * v[i] + 0.001 * gi * gi;
        const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
        rw[i] = rw[i] * (decoupled ? 1 - 0.01 * 0.1 : 1.0) - 0.01 * mh / (std::sqrt(vh) + 1e-8);
      }
    }
    for (int i = 0; i < n; ++i) ASSERT_NEAR(At(p, i), rw[i], 1e-5) << i;
  }
}

TEST(AdamTest, MinimisesAQuadratic) {
  auto opt = *Adam({.lr = 0.05});
  Parameter p = Param({5.0f, -3.0f}, {0.0f, 0.0f});
  Parameter* ps[] = {&p};
  for (int i = 0; i < 2000; ++i) {
    for (int j = 0; j < 2; ++j) p.grad.data<float>()[j] = 2.0f * (At(p, j) - 1.0f);
    ASSERT_TRUE(opt->Step(ps, 0.05).ok());
  }
  EXPECT_NEAR(At(p, 0), 1.0f, 1e-3);
  EXPECT_NEAR(At(p, 1), 1.0f, 1e-3);
}

TEST(OptimizerTest, StateRoundTripsThroughMakeOptimizer) {
  auto opt = *Adam({.lr = 0.01});
  Parameter p = Param({1.0f}, {1.0f});
  Parameter* ps[] = {&p};
  ASSERT_TRUE(opt->Step(ps, 0.01).ok());
  auto copy = *MakeOptimizer(opt->name(), opt->config());
  ASSERT_TRUE(copy->LoadState(opt->State(), opt->steps()).ok());
  Parameter p2 = Param({At(p, 0)}, {1.0f});
  Parameter* ps2[] = {&p2};
  ASSERT_TRUE(opt->Step(ps, 0.01).ok());
  ASSERT_TRUE(copy->Step(ps2, 0.01).ok());
  EXPECT_EQ(At(p, 0), At(p2, 0));
  std::map<std::string, Tensor> bad = {{"w/momentum", p.value}};
  EXPECT_FALSE(copy->LoadState(bad, 1).ok());
  EXPECT_EQ(MakeOptimizer("lamb", {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OptimizerTest, RejectsMismatchedParameters) {
  auto opt = *Sgd();
  Parameter p = Param({1.0f, 2.0f}, {1.0f});
  Parameter* ps[] = {&p};
  Status s = opt->Step(ps, 0.1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'w'"), std::string::npos);
}

TEST(ScheduleTest, StepCosineAndWarmup) {
  auto step = *StepDecay(10, 0.5);
  EXPECT_DOUBLE_EQ(step->LearningRate(9, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(step->LearningRate(25, 1.0), 0.25);
  auto cosine = *CosineDecay(100, 0.1);
  EXPECT_DOUBLE_EQ(cosine->LearningRate(0, 1.0), 1.0);
  EXPECT_NEAR(cosine->LearningRate(50, 1.0), 0.55, 1e-12);
  EXPECT_DOUBLE_EQ(cosine->LearningRate(100, 1.0), 0.1);
  auto warm = *LinearWarmup(4, cosine);
  EXPECT_DOUBLE_EQ(warm->LearningRate(0, 1.0), 0.25);
  EXPECT_DOUBLE_EQ(warm->LearningRate(3, 1.0), 1.0);
  EXPECT_NEAR(warm->LearningRate(54, 1.0), 0.55, 1e-12);
  EXPECT_FALSE(StepDecay(0, 0.5).ok());
}

TEST(ClipTest, ScalesOnlyAboveTheNorm) {
  Parameter a = Param({0, 0}, {3.0f, 0.0f}), b = Param({0}, {4.0f});
  Parameter* ps[] = {&a, &b};
  auto norm = ClipGradNorm(ps, 10.0);
  ASSERT_TRUE(norm.ok());
  EXPECT_DOUBLE_EQ(*norm, 5.0);
  EXPECT_FLOAT_EQ(b.grad.data<float>()[0], 4.0f);
  norm = ClipGradNorm(ps, 1.0);
  EXPECT_DOUBLE_EQ(*norm, 5.0);
  EXPECT_NEAR(a.grad.data<float>()[0], 0.6f, 1e-5);
  EXPECT_NEAR(b.grad.data<float>()[0], 0.8f, 1e-5);
  EXPECT_FALSE(ClipGradNorm(ps, 0.0).ok());
}

}  // namespace
}  // namespace mlcore::optim
