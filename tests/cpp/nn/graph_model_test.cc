// Graph models: gradients of a residual + concatenation graph against finite differences, the
// gradient-ready hook, training a two-input problem, save/load predicting identically, and
// wiring errors that name the node. Weight sharing is in graph_sharing_test.cc.
#include "mlcore/nn/graph_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

std::shared_ptr<Layer> D(int64_t units) { return *Dense(units); }

// Two inputs and two outputs; h1 feeds both the Tanh branch and the residual Add, and r feeds
// both the concatenation and the second head, so gradients must be summed over consumers.
std::unique_ptr<GraphModel> ResidualConcatGraph() {
  GraphBuilder g;
  NodeRef a = g.Input({5}, "a");
  NodeRef b = g.Input({3}, "b");
  NodeRef h1 = g.Apply(D(6), a);
  NodeRef t1 = g.Apply(Tanh(), h1);
  NodeRef h2 = g.Apply(D(6), t1);
  NodeRef r = g.Add({h2, h1}, "residual");
  NodeRef hb = g.Apply(D(4), b);
  NodeRef c = g.Concatenate({r, hb}, -1, "joined");
  NodeRef t2 = g.Apply(Tanh(), c);
  NodeRef out1 = g.Apply(D(3), t2);
  NodeRef out2 = g.Apply(D(2), r);
  auto model = g.Finish({a, b}, {out1, out2}, /*seed=*/7);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(*model);
}

TEST(GraphModelTest, GradientsMatchFiniteDifferences) {
  auto model = ResidualConcatGraph();
  TensorList x = {testing::Random({4, 5}, 1), testing::Random({4, 3}, 2)};
  TensorList y = {testing::Random({4, 3}, 3), testing::Random({4, 2}, 4)};
  auto mse = *MakeLoss("mse");
  auto total_loss = [&]() {
    auto out = model->ForwardAll(x, /*training=*/false);
    EXPECT_TRUE(out.ok()) << out.status();
    return *mse->Compute((*out)[0], y[0], nullptr) + *mse->Compute((*out)[1], y[1], nullptr);
  };
  auto out = model->ForwardAll(x, /*training=*/true);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].shape(), (Shape{4, 3}));
  EXPECT_EQ((*out)[1].shape(), (Shape{4, 2}));
  TensorList grads(2);
  ASSERT_TRUE(mse->Compute((*out)[0], y[0], &grads[0]).ok());
  ASSERT_TRUE(mse->Compute((*out)[1], y[1], &grads[1]).ok());
  std::vector<std::string> ready;
  model->SetGradReadyHook([&](Parameter& p) {
    ready.push_back(p.name);
    return absl::OkStatus();
  });
  ASSERT_TRUE(model->BackwardAll(grads).ok());
  std::vector<Parameter*> params = model->parameters();
  ASSERT_EQ(params.size(), 10u);  // five Dense layers
  // The hook fired once per parameter, output heads before the first layer.
  ASSERT_EQ(ready.size(), params.size());
  EXPECT_EQ(std::set<std::string>(ready.begin(), ready.end()).size(), params.size());
  EXPECT_EQ(ready.back(), params[1]->name);  // dense_2.bias of the first layer comes last
  for (Parameter* p : params) {
    Tensor analytic = *p->grad.Clone();
    testing::ExpectClose(testing::NumericGradient(p->value, total_loss, 1e-3f), analytic, 2e-2,
                         p->name);
  }
}

std::unique_ptr<GraphModel> TwoInputClassifier() {
  GraphBuilder g;
  NodeRef a = g.Input({4}, "a");
  NodeRef b = g.Input({4}, "b");
  NodeRef ha = g.Apply(D(16), a);
  NodeRef hb = g.Apply(D(16), b);
  NodeRef h = g.Apply(ReLU(), g.Concatenate({ha, hb}));
  NodeRef out = g.Apply(D(2), h);
  auto model = g.Finish({a, b}, {out}, 3);
  EXPECT_TRUE(model.ok()) << model.status();
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = 0.01});
  c.metrics = {"accuracy"};
  EXPECT_TRUE((*model)->Compile(c).ok());
  return std::move(*model);
}

using GraphModelFitTest = testing::TempDirTest;

TEST_F(GraphModelFitTest, LearnsTwoInputProblemAndReloadsIdentically) {
  testing::TwoInputs train = testing::MakeTwoInputs(512, 1), val = testing::MakeTwoInputs(256, 2);
  auto model = TwoInputClassifier();
  FitOptions f;
  f.epochs = 20;
  f.batch_size = 32;
  f.validation_inputs = {val.a, val.b};
  f.validation_targets = {val.y};
  auto history = model->Fit({train.a, train.b}, {train.y}, f);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->epochs_run, 20);
  EXPECT_GT(history->metrics["val_accuracy"].back(), 0.9);
  EXPECT_LT(history->metrics["loss"].back(), history->metrics["loss"].front());

  ASSERT_TRUE(model->Save(dir_.string()).ok());
  auto loaded = LoadAnyModel(dir_.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->kind(), "graph");
  EXPECT_TRUE((*loaded)->compiled());
  EXPECT_EQ((*loaded)->epochs_trained(), 20);
  auto before = model->Predict({val.a, val.b});
  auto after = (*loaded)->Predict({val.a, val.b});
  ASSERT_TRUE(before.ok() && after.ok()) << after.status();
  ASSERT_EQ(before->shape(), after->shape());
  for (int64_t i = 0; i < before->numel(); ++i) {
    ASSERT_EQ(before->data<float>()[i], after->data<float>()[i]) << i;
  }
  // The reloaded model continues training from the saved optimizer state.
  f.epochs = 1;
  f.initial_epoch = (*loaded)->epochs_trained();
  EXPECT_TRUE((*loaded)->Fit({train.a, train.b}, {train.y}, f).ok());
}

TEST_F(GraphModelFitTest, LoadAnyModelAlsoRestoresSequential) {
  Sequential seq({D(3)});
  ASSERT_TRUE(seq.Build({4}).ok());
  ASSERT_TRUE(seq.Save(dir_.string()).ok());
  auto loaded = LoadAnyModel(dir_.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->kind(), "sequential");
  EXPECT_EQ((*loaded)->NumParameters(), 15);
}

TEST(GraphModelTest, MultipleOutputsLogPerOutputLossesWithWeights) {
  auto model = ResidualConcatGraph();
  CompileOptions c;
  c.optimizer = *optim::Sgd({.lr = 0.01});
  c.loss = "mse";
  c.loss_weights = {1.0, 0.5};
  ASSERT_TRUE(model->Compile(c).ok());
  TensorList x = {testing::Random({8, 5}, 1), testing::Random({8, 3}, 2)};
  TensorList y = {testing::Random({8, 3}, 3), testing::Random({8, 2}, 4)};
  FitOptions f;
  f.batch_size = 8;
  f.shuffle = false;
  auto h = model->Fit(x, y, f);
  ASSERT_TRUE(h.ok()) << h.status();
  const std::string first = model->output_names()[0], second = model->output_names()[1];
  ASSERT_EQ(h->metrics.count(first + "_loss"), 1u);
  ASSERT_EQ(h->metrics.count(second + "_loss"), 1u);
  EXPECT_NEAR(h->metrics["loss"][0],
              h->metrics[first + "_loss"][0] + 0.5 * h->metrics[second + "_loss"][0], 1e-9);
  c.loss_weights = {1.0};
  EXPECT_EQ(model->Compile(c).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->Predict(x).status().code(), absl::StatusCode::kInvalidArgument);
}

void ExpectError(const StatusOr<std::unique_ptr<GraphModel>>& model,
                 const std::vector<std::string>& words) {
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument) << model.status();
  for (const std::string& w : words) {
    EXPECT_NE(model.status().message().find(w), std::string::npos)
        << "'" << w << "' not in: " << model.status().message();
  }
}

TEST(GraphModelTest, AddShapeMismatchNamesNodeAndShapes) {
  GraphBuilder g;
  NodeRef a = g.Input({8}, "a");
  NodeRef h = g.Apply(D(16), a);
  NodeRef s = g.Add({h, a}, "skip");
  ExpectError(g.Finish({a}, {s}), {"'skip'", "[16]", "[8]", "'a'"});
}

TEST(GraphModelTest, ConcatenateMismatchNamesNodeAndShapes) {
  GraphBuilder g;
  NodeRef a = g.Input({2, 3}, "a");
  NodeRef b = g.Input({4, 5}, "b");
  ExpectError(g.Finish({a, b}, {g.Concatenate({a, b}, -1, "cat")}), {"'cat'", "[4, 5]", "[2, 3]"});
  GraphBuilder g2;
  NodeRef c = g2.Input({2, 3}, "c");
  NodeRef d = g2.Input({2, 5}, "d");
  auto ok = g2.Finish({c, d}, {g2.Concatenate({c, d}, 1)});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->nodes().back().shape, (Shape{2, 8}));
}

TEST(GraphModelTest, UnknownAndUnusedInputsAreNamed) {
  GraphBuilder g;
  NodeRef a = g.Input({4}, "a");
  NodeRef b = g.Input({4}, "b");
  NodeRef out = g.Apply(D(2), g.Add({a, b}, "sum"));
  ExpectError(g.Finish({a}, {out}), {"'b'", "not among the model's inputs"});

  GraphBuilder g2;
  NodeRef x = g2.Input({4}, "x");
  NodeRef unused = g2.Input({4}, "spare");
  ExpectError(g2.Finish({x, unused}, {g2.Apply(D(2), x)}), {"'spare'", "not used"});
}

TEST(GraphModelTest, ForeignNodesAreRejected) {
  GraphBuilder g, other;
  NodeRef a = g.Input({4}, "a");
  NodeRef foreign = other.Input({4}, "z");
  g.Apply(D(2), foreign);
  ExpectError(g.Finish({a}, {a}), {"another builder"});
  // A node id that was never created (a cycle would need one).
  GraphBuilder g2;
  NodeRef x = g2.Input({4}, "x");
  g2.Apply(D(2), NodeRef{5, x.builder});
  ExpectError(g2.Finish({x}, {x}), {"unknown node id 5"});
}

TEST(GraphModelTest, SharedLayerNeedsOneInputShapeAtEveryUse) {
  GraphBuilder g;
  NodeRef a = g.Input({4}, "a");
  NodeRef b = g.Input({5}, "b");
  auto shared = D(3);
  shared->set_name("tower");
  NodeRef ha = g.Apply(shared, a);
  NodeRef hb = g.Apply(shared, b);
  ExpectError(g.Finish({a, b}, {g.Concatenate({ha, hb})}),
              {"'tower:1'", "same input shape", "[4]", "[5]", "'tower'"});
}

TEST(GraphModelTest, FitChecksInputCountAndShapesByName) {
  auto model = TwoInputClassifier();
  testing::TwoInputs d = testing::MakeTwoInputs(16, 1);
  FitOptions f;
  auto one = model->Fit({d.a}, {d.y}, f);
  EXPECT_EQ(one.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(one.status().message().find("takes 2 input"), std::string::npos) << one.status();
  Tensor wide = testing::Random({16, 5}, 1);
  auto bad = model->Fit({d.a, wide}, {d.y}, f);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'b'"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("[5]"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace mlcore::nn
