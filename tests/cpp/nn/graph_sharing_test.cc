// Weight sharing in graph models: one layer object applied at several nodes. Its parameters
// are listed, optimised and saved once; the gradients of all uses are summed (checked against
// finite differences) before the gradient-ready hook fires; a Siamese model trains, and its
// checkpoint reloads predicting identically.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "mlcore/core/cuda.h"
#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/safetensors.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

std::shared_ptr<Layer> D(int64_t units, const std::string& name) {
  std::shared_ptr<Layer> layer = *Dense(units);
  layer->set_name(name);
  return layer;
}

// Two towers sharing "enc" and a Tanh; "sq" is used three times, twice in a chain
// (sq(sq(.)) on one branch), so one use's input depends on another use's output.
std::unique_ptr<GraphModel> SharedGraph() {
  GraphBuilder g;
  NodeRef a = g.Input({5}, "a");
  NodeRef b = g.Input({5}, "b");
  auto enc = D(6, "enc");
  auto sq = D(6, "sq");
  auto act = Tanh();
  NodeRef ta = g.Apply(act, g.Apply(enc, a));
  NodeRef tb = g.Apply(act, g.Apply(enc, b));
  NodeRef left = g.Apply(sq, g.Apply(sq, ta));
  NodeRef right = g.Apply(sq, tb);
  NodeRef out = g.Apply(D(3, "head"), g.Concatenate({left, right}, -1, "joined"));
  auto model = g.Finish({a, b}, {out}, /*seed=*/11);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(*model);
}

TEST(GraphSharingTest, ParametersAppearOnceAndLaterUsesAreNamed) {
  auto model = SharedGraph();
  std::vector<std::string> names;
  for (Parameter* p : model->parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"enc.kernel", "enc.bias", "sq.kernel", "sq.bias",
                                             "head.kernel", "head.bias"}));
  EXPECT_EQ(model->NumParameters(), (5 * 6 + 6) + (6 * 6 + 6) + (12 * 3 + 3));
  EXPECT_EQ(model->AllLayers().size(), 4u);  // enc, tanh, sq, head
  std::set<std::string> nodes;
  for (const GraphNode& n : model->nodes()) nodes.insert(n.name);
  for (const char* name : {"enc", "enc:1", "sq", "sq:1", "sq:2", "head"}) {
    EXPECT_EQ(nodes.count(name), 1u) << name;
  }
}

TEST(GraphSharingTest, GradientsOfAllUsesAreSummedBeforeTheHookFires) {
  auto model = SharedGraph();
  TensorList x = {testing::Random({4, 5}, 1), testing::Random({4, 5}, 2)};
  Tensor y = testing::Random({4, 3}, 3);
  auto mse = *MakeLoss("mse");
  auto loss = [&]() { return testing::TotalLoss(*model, x, {y}, *mse); };
  auto [order, at_hook] = testing::BackwardWithHook(*model, x, {y}, *mse);
  std::vector<Parameter*> params = model->parameters();
  ASSERT_EQ(order.size(), params.size());  // once per parameter
  EXPECT_EQ(order.back(), "enc.bias");     // the first layer is finished last
  for (Parameter* p : params) {
    // What the hook saw is the final, summed gradient.
    const Tensor& seen = at_hook.at(p->name);
    for (int64_t i = 0; i < p->grad.numel(); ++i) {
      ASSERT_EQ(seen.data<float>()[i], p->grad.data<float>()[i]) << p->name << " at " << i;
    }
  }
  for (Parameter* p : params) {
    Tensor analytic = *p->grad.Clone();
    testing::ExpectClose(testing::NumericGradient(p->value, loss, 1e-3f), analytic, 2e-2, p->name);
  }
}

using GraphSharingFitTest = testing::TempDirTest;

TEST_F(GraphSharingFitTest, SiameseModelTrainsAndReloadsIdentically) {
  GraphBuilder g;
  NodeRef a = g.Input({4}, "a");
  NodeRef b = g.Input({4}, "b");
  auto tower = D(16, "tower");
  NodeRef ha = g.Apply(tower, a);
  NodeRef hb = g.Apply(tower, b);
  NodeRef out = g.Apply(D(2, "head"), g.Apply(ReLU(), g.Concatenate({ha, hb})));
  auto built = g.Finish({a, b}, {out}, 5);
  ASSERT_TRUE(built.ok()) << built.status();
  std::unique_ptr<GraphModel> model = std::move(*built);
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = 0.01});
  c.metrics = {"accuracy"};
  ASSERT_TRUE(model->Compile(c).ok());
  testing::TwoInputs train = testing::MakeTwoInputs(512, 1), val = testing::MakeTwoInputs(256, 2);
  FitOptions f;
  f.epochs = 20;
  f.validation_inputs = {val.a, val.b};
  f.validation_targets = {val.y};
  auto history = model->Fit({train.a, train.b}, {train.y}, f);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_GT(history->metrics["val_accuracy"].back(), 0.9);

  ASSERT_TRUE(model->Save(dir_.string()).ok());
  auto file = ReadSafetensors((dir_ / "model.safetensors").string());
  ASSERT_TRUE(file.ok()) << file.status();
  std::set<std::string> saved;
  for (const auto& [name, t] : file->tensors) saved.insert(name);
  EXPECT_EQ(saved,
            (std::set<std::string>{"tower.kernel", "tower.bias", "head.kernel", "head.bias"}));
  std::ifstream arch(dir_ / "architecture.json");
  std::string text((std::istreambuf_iterator<char>(arch)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"shares\""), std::string::npos);

  auto loaded = LoadGraphModel(dir_.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->NumParameters(), model->NumParameters());
  auto before = model->Predict({val.a, val.b});
  auto after = (*loaded)->Predict({val.a, val.b});
  ASSERT_TRUE(before.ok() && after.ok()) << after.status();
  for (int64_t i = 0; i < before->numel(); ++i) {
    ASSERT_EQ(before->data<float>()[i], after->data<float>()[i]) << i;
  }
  // Training the reloaded model moves the one shared tensor both uses read.
  f.epochs = 1;
  ASSERT_TRUE((*loaded)->Fit({train.a, train.b}, {train.y}, f).ok());
  auto moved = (*loaded)->Predict({val.a, val.b});
  ASSERT_TRUE(moved.ok());
  bool changed = false;
  for (int64_t i = 0; i < moved->numel(); ++i) {
    changed = changed || moved->data<float>()[i] != before->data<float>()[i];
  }
  EXPECT_TRUE(changed);
}

TEST(GraphSharingTest, SwappingTheInputsOfASymmetricSiameseGraphSwapsNothing) {
  // out = tower(a) + tower(b) is symmetric only if both uses read the same weights.
  GraphBuilder g;
  NodeRef a = g.Input({3}, "a");
  NodeRef b = g.Input({3}, "b");
  auto tower = D(2, "tower");
  NodeRef out = g.Add({g.Apply(tower, a), g.Apply(tower, b)});
  auto model = g.Finish({a, b}, {out}, 9);
  ASSERT_TRUE(model.ok()) << model.status();
  Tensor xa = testing::Random({6, 3}, 1), xb = testing::Random({6, 3}, 2);
  auto ab = (*model)->Predict({xa, xb});
  auto ba = (*model)->Predict({xb, xa});
  ASSERT_TRUE(ab.ok() && ba.ok());
  for (int64_t i = 0; i < ab->numel(); ++i) {
    EXPECT_FLOAT_EQ(ab->data<float>()[i], ba->data<float>()[i]) << i;
  }
}

TEST(GraphSharingTest, SharedBatchNormUpdatesOneSetOfRunningStatistics) {
  GraphBuilder g;
  NodeRef a = g.Input({3}, "a");
  NodeRef b = g.Input({3}, "b");
  std::shared_ptr<Layer> bn = *BatchNorm1d();
  bn->set_name("bn");
  auto model = g.Finish({a, b}, {g.Add({g.Apply(bn, a), g.Apply(bn, b)})});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->buffers().size(), 2u);  // bn.running_mean and bn.running_var, once
  Tensor xa = testing::Random({8, 3}, 1), xb = testing::Random({8, 3}, 2, 2.0f, 3.0f);
  ASSERT_TRUE((*model)->ForwardAll({xa, xb}, /*training=*/true).ok());
  // The same statistics as one BatchNorm seeing a, then b.
  std::shared_ptr<Layer> alone = *BatchNorm1d();
  ASSERT_TRUE(alone->Build({3}, 0).ok());
  ASSERT_TRUE(alone->Forward(xa, true).ok());
  ASSERT_TRUE(alone->Forward(xb, true).ok());
  for (size_t k = 0; k < 2; ++k) {
    const Tensor& got = (*model)->buffers()[k]->value;
    const Tensor& want = alone->buffers()[k]->value;
    for (int64_t i = 0; i < 3; ++i) {
      EXPECT_FLOAT_EQ(got.data<float>()[i], want.data<float>()[i]) << k << " " << i;
    }
  }
}

// A shared tower trained on the GPU follows the CPU run: the copies' aliases and gradient
// tensors must move with the model.
TEST(GraphSharingTest, SharedLayersTrainOnCudaAsOnTheCpu) {
  if (!cuda::IsAvailable()) GTEST_SKIP() << "no CUDA device: " << cuda::UnavailableReason();
  auto make = [] {
    GraphBuilder g;
    NodeRef a = g.Input({4}, "a");
    NodeRef b = g.Input({4}, "b");
    auto tower = D(8, "tower");
    NodeRef h = g.Add({g.Apply(tower, a), g.Apply(tower, b)});
    auto model = g.Finish({a, b}, {g.Apply(D(2, "head"), g.Apply(ReLU(), h))}, 4);
    EXPECT_TRUE(model.ok()) << model.status();
    CompileOptions c;
    c.optimizer = *optim::Sgd({.lr = 0.05});
    EXPECT_TRUE((*model)->Compile(c).ok());
    return std::move(*model);
  };
  testing::TwoInputs train = testing::MakeTwoInputs(128, 3);
  FitOptions f;
  f.epochs = 2;
  f.batch_size = 32;
  auto cpu = make(), gpu = make();
  ASSERT_TRUE(cpu->Fit({train.a, train.b}, {train.y}, f).ok());
  f.device = "cuda";
  auto fitted = gpu->Fit({train.a, train.b}, {train.y}, f);
  ASSERT_TRUE(fitted.ok()) << fitted.status();
  auto want = cpu->Predict({train.a, train.b});
  auto got = gpu->Predict({train.a, train.b});
  ASSERT_TRUE(want.ok() && got.ok()) << got.status();
  for (int64_t i = 0; i < want->numel(); ++i) {
    EXPECT_NEAR(got->data<float>()[i], want->data<float>()[i], 1e-3) << i;
  }
}

}  // namespace
}  // namespace mlcore::nn
