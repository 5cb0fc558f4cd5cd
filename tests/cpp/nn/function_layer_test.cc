// FunctionLayer: a layer written as three callables trains, checks what its callables return,
// and saves and loads through a registered factory like a built-in layer.
#include "mlcore/nn/function_layer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::ExpectBackwardMatchesCentralDifferences;
using testing::Random;

// y = x * scale + shift, per feature: two parameters, an input gradient, a config value.
FunctionLayerSteps ScaleShiftSteps(float init) {
  FunctionLayerSteps s;
  s.build = [init](FunctionLayer& l, const Shape& in, uint64_t) -> StatusOr<Shape> {
    MLCORE_ASSIGN_OR_RETURN(Parameter * scale, l.AddParameter("scale", in));
    MLCORE_RETURN_IF_ERROR(l.AddParameter("shift", in).status());
    for (int64_t i = 0; i < scale->value.numel(); ++i) scale->value.data<float>()[i] = init;
    return in;
  };
  // The input is kept for backward in a shared slot, as a layer object would keep it.
  auto saved = std::make_shared<Tensor>();
  s.forward = [saved](FunctionLayer& l, const Tensor& x, bool training) -> StatusOr<Tensor> {
    MLCORE_ASSIGN_OR_RETURN(Parameter * scale, l.parameter("scale"));
    MLCORE_ASSIGN_OR_RETURN(Parameter * shift, l.parameter("shift"));
    MLCORE_ASSIGN_OR_RETURN(Tensor y, Tensor::Empty(x.shape(), DType::kFloat32));
    const int64_t n = x.shape()[1];
    for (int64_t i = 0; i < x.numel(); ++i) {
      y.data<float>()[i] = x.data<float>()[i] * scale->value.data<float>()[i % n] +
                           shift->value.data<float>()[i % n];
    }
    if (training) *saved = x;
    return y;
  };
  s.backward = [saved](FunctionLayer& l, const Tensor& g) -> StatusOr<Tensor> {
    MLCORE_ASSIGN_OR_RETURN(Parameter * scale, l.parameter("scale"));
    MLCORE_ASSIGN_OR_RETURN(Parameter * shift, l.parameter("shift"));
    const int64_t n = g.shape()[1];
    float* ds = scale->grad.data<float>();
    float* db = shift->grad.data<float>();
    for (int64_t j = 0; j < n; ++j) ds[j] = db[j] = 0;
    MLCORE_ASSIGN_OR_RETURN(Tensor dx, Tensor::Empty(g.shape(), DType::kFloat32));
    for (int64_t i = 0; i < g.numel(); ++i) {
      ds[i % n] += g.data<float>()[i] * saved->data<float>()[i];
      db[i % n] += g.data<float>()[i];
      dx.data<float>()[i] = g.data<float>()[i] * scale->value.data<float>()[i % n];
    }
    return dx;
  };
  return s;
}

std::shared_ptr<FunctionLayer> ScaleShift(float init = 1.5f) {
  return *MakeFunctionLayer("scale_shift", {{"init", init}}, ScaleShiftSteps(init));
}

TEST(FunctionLayerTest, GradientsMatchCentralDifferences) {
  auto layer = ScaleShift();
  layer->set_name("ss");
  ASSERT_TRUE(layer->Build({3}, 0).ok());
  ASSERT_EQ(layer->parameters().size(), 2u);
  EXPECT_EQ(layer->parameters()[0]->name, "ss.scale");
  Parameter* shift = *layer->parameter("shift");
  for (int j = 0; j < 3; ++j) shift->value.data<float>()[j] = 0.25f * j;
  Tensor x = Random({4, 3}, 1);
  Tensor g = Random({4, 3}, 2);
  ExpectBackwardMatchesCentralDifferences(*layer, x, g, 1e-2, "input");
}

TEST(FunctionLayerTest, TrainsInsideASequentialAndRoundTripsThroughTheRegistry) {
  ASSERT_TRUE(
      RegisterLayer("scale_shift", [](const LayerConfig& c) -> StatusOr<std::shared_ptr<Layer>> {
        float init = static_cast<float>(c.at("init"));
        return MakeFunctionLayer("scale_shift", c, ScaleShiftSteps(init));
      }).ok());
  Sequential m({ScaleShift(0.5f), *Dense(2)});
  ASSERT_TRUE(m.Build({3}).ok());
  CompileOptions o;
  optim::AdamOptions adam;
  adam.lr = 0.05;
  o.optimizer = *optim::Adam(adam);
  o.loss = "mse";
  ASSERT_TRUE(m.Compile(o).ok());
  Tensor x = Random({32, 3}, 5);
  auto y = Tensor::Zeros({32, 2}, DType::kFloat32);
  for (int64_t i = 0; i < 32; ++i) {
    y->data<float>()[2 * i] = 2 * x.data<float>()[3 * i] + 1;
    y->data<float>()[2 * i + 1] = -x.data<float>()[3 * i + 2];
  }
  const Tensor before = *(*m.layers()[0]->parameters()[0]).value.Clone();
  auto first = m.TrainStep(x, *y);
  ASSERT_TRUE(first.ok()) << first.status();
  StatusOr<StepResult> last = first;
  for (int step = 0; step < 200; ++step) last = m.TrainStep(x, *y);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_LT(last->loss, first->loss / 10) << "the optimiser updates the function layer too";
  EXPECT_NE(m.layers()[0]->parameters()[0]->value.data<float>()[0], before.data<float>()[0]);

  const std::string dir = ::testing::TempDir() + "/function_layer_model";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(m.Save(dir).ok());
  auto loaded = LoadModel(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->layers()[0]->type(), "scale_shift");
  auto a = m.Predict(x);
  auto b = (*loaded)->Predict(x);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->numel(), b->numel());
  for (int64_t i = 0; i < a->numel(); ++i) {
    EXPECT_FLOAT_EQ(a->data<float>()[i], b->data<float>()[i]) << "loaded model predicts as saved";
  }
}

TEST(FunctionLayerTest, WrongShapesFromTheCallablesAreNamedErrors) {
  FunctionLayerSteps s = ScaleShiftSteps(1.0f);
  s.forward = [](FunctionLayer&, const Tensor& x, bool) -> StatusOr<Tensor> {
    return Tensor::Zeros({x.shape()[0], 7}, DType::kFloat32);
  };
  auto bad = *MakeFunctionLayer("bad_out", {}, s);
  bad->set_name("bad_0");
  ASSERT_TRUE(bad->Build({3}, 0).ok());
  auto y = bad->Forward(Random({2, 3}, 1), false);
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("layer 'bad_0' (bad_out): forward returned float32 of "
                                      "shape [2, 7]; expected float32 of shape [2, 3]"),
            std::string::npos)
      << y.status();

  FunctionLayerSteps no_backward = ScaleShiftSteps(1.0f);
  no_backward.backward = nullptr;
  auto frozen = *MakeFunctionLayer("frozen", {}, no_backward);
  ASSERT_TRUE(frozen->Build({3}, 0).ok());
  ASSERT_TRUE(frozen->Forward(Random({2, 3}, 1), true).ok());
  auto dx = frozen->Backward(Random({2, 3}, 2));
  EXPECT_EQ(dx.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(dx.status().message().find("has no backward step"), std::string::npos);

  FunctionLayerSteps twice = ScaleShiftSteps(1.0f);
  twice.build = [](FunctionLayer& l, const Shape& in, uint64_t) -> StatusOr<Shape> {
    MLCORE_RETURN_IF_ERROR(l.AddParameter("w", in).status());
    MLCORE_RETURN_IF_ERROR(l.AddParameter("w", in).status());
    return in;
  };
  auto dup = *MakeFunctionLayer("dup", {}, twice);
  auto built = dup->Build({3}, 0);
  EXPECT_NE(built.status().message().find("already has a parameter 'w'"), std::string::npos);
  EXPECT_TRUE(dup->parameters().empty()) << "a failed build leaves no parameters behind";

  EXPECT_FALSE(MakeFunctionLayer("", {}, ScaleShiftSteps(1)).ok());
  EXPECT_FALSE(MakeFunctionLayer("no_steps", {}, {}).ok());
}

}  // namespace
}  // namespace mlcore::nn
