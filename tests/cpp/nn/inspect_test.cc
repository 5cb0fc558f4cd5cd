// Summary and Probabilities (nn/inspect.h) as a C++ user reads a model.
#include "mlcore/nn/inspect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"

namespace mlcore::nn {
namespace {

Sequential Mlp() { return Sequential({*Dense(8), ReLU(), *Dense(3)}); }

TEST(InspectTest, SummaryListsLayersShapesAndCounts) {
  Sequential m = Mlp();
  EXPECT_EQ(Summary(m).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(m.Build({4}).ok());
  auto text = Summary(m);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("dense_0 (dense)"), std::string::npos) << *text;
  EXPECT_NE(text->find("(None, 8)"), std::string::npos) << *text;
  EXPECT_NE(text->find("Total params: 67"), std::string::npos) << *text;  // 4*8+8 + 8*3+3
  EXPECT_NE(text->find("Non-trainable params: 0"), std::string::npos) << *text;
}

TEST(InspectTest, ProbabilitiesFollowTheCompiledLoss) {
  Sequential m = Mlp();
  ASSERT_TRUE(m.Build({4}).ok());
  auto logits = Tensor::FromVector<float>({1, 2, 3, -1, 0, 1000}, {2, 3});
  ASSERT_TRUE(logits.ok());
  EXPECT_EQ(Probabilities(m, {*logits}).status().code(), absl::StatusCode::kFailedPrecondition);
  CompileOptions o;
  o.optimizer = *optim::Adam();
  o.loss = "cross_entropy";
  ASSERT_TRUE(m.Compile(o).ok());
  auto p = Probabilities(m, {*logits});
  ASSERT_TRUE(p.ok()) << p.status();
  const float* v = (*p)[0].data<float>();
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(v[0], std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(v[2], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(v[5], 1.0, 1e-6) << "large logits do not overflow";
  o.loss = "mse";
  ASSERT_TRUE(m.Compile(o).ok());
  auto refused = Probabilities(m, {*logits});
  EXPECT_NE(refused.status().message().find("loss 'mse'"), std::string::npos);
}

}  // namespace
}  // namespace mlcore::nn
