// Weight tying in graph models: GraphBuilder::Attend multiplies a node by an Embedding's
// transposed table (a language-model head). The table is one parameter: counted, hooked,
// optimised and saved once, with the gradients of the lookup and of the head summed (checked
// against finite differences); a toy next-token model learns; checkpoints round-trip exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "mlcore/core/cuda.h"
#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/safetensors.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

constexpr int64_t kVocab = 12;
constexpr int64_t kDim = 8;

std::shared_ptr<Layer> Named(StatusOr<std::shared_ptr<Layer>> layer, const std::string& name) {
  EXPECT_TRUE(layer.ok()) << layer.status();
  (*layer)->set_name(name);
  return *layer;
}

// token [1] -> tokens (embedding) -> flatten -> mix (dense) -> tanh -> attend(tokens): logits
// over the vocabulary whose output projection is the input table.
std::unique_ptr<GraphModel> TiedModel(uint64_t seed) {
  GraphBuilder g;
  NodeRef token = g.Input({1}, "token");
  auto emb = Named(Embedding(kVocab, kDim), "tokens");
  NodeRef h = g.Apply(Flatten(), g.Apply(emb, token));
  h = g.Apply(Tanh(), g.Apply(Named(Dense(kDim), "mix"), h));
  NodeRef logits = g.Attend(emb, h, "head");
  auto model = g.Finish({token}, {logits}, seed);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(*model);
}

// The next token of t in the toy language.
int64_t Next(int64_t t) { return (3 * t + 1) % kVocab; }

void MakeData(int64_t n, Tensor* x, Tensor* y) {
  *x = *Tensor::Empty({n, 1}, DType::kInt64);
  *y = *Tensor::Empty({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    x->data<int64_t>()[i] = i % kVocab;
    y->data<int64_t>()[i] = Next(i % kVocab);
  }
}

TEST(GraphAttendTest, TheTableIsOneParameter) {
  auto model = TiedModel(1);
  std::vector<std::string> names;
  for (Parameter* p : model->parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"tokens.embeddings", "mix.kernel", "mix.bias"}));
  EXPECT_EQ(model->NumParameters(), kVocab * kDim + kDim * kDim + kDim);
  const GraphNode& head = model->nodes()[model->output_nodes()[0]];
  EXPECT_EQ(head.op, GraphNode::Op::kAttend);
  EXPECT_EQ(head.name, "head");
  EXPECT_EQ(head.shape, (Shape{kVocab}));
}

TEST(GraphAttendTest, GradientsOfBothUsesAreSummedBeforeTheHookFires) {
  auto model = TiedModel(2);
  Tensor x, y;
  MakeData(6, &x, &y);
  auto ce = *MakeLoss("cross_entropy");
  auto loss = [&]() { return testing::TotalLoss(*model, {x}, {y}, *ce); };
  auto [order, at_hook] = testing::BackwardWithHook(*model, {x}, {y}, *ce);
  // Once per parameter; the table last, after both of its uses.
  EXPECT_EQ(order, (std::vector<std::string>{"mix.kernel", "mix.bias", "tokens.embeddings"}));
  for (Parameter* p : model->parameters()) {
    testing::ExpectClose(testing::NumericGradient(p->value, loss, 1e-3f), at_hook.at(p->name), 2e-2,
                         p->name);
  }
  // The head's share alone: rows of tokens never looked up get gradient only through the head,
  // so they are not zero.
  const float* g = at_hook.at("tokens.embeddings").data<float>();
  double unused_row = 0;
  for (int64_t j = 0; j < kDim; ++j) unused_row += std::abs(g[(kVocab - 1) * kDim + j]);
  EXPECT_GT(unused_row, 0.0);
}

TEST(GraphAttendTest, InputGradientFlowsThroughTheHead) {
  // An attend whose input is a computed node passes d(loss)/d(input) = dy table back: checked
  // through "mix" above; here directly on a float input, against finite differences.
  GraphBuilder g;
  NodeRef ids = g.Input({2}, "ids");
  NodeRef vec = g.Input({kDim}, "vec");
  auto emb = Named(Embedding(kVocab, kDim), "tokens");
  NodeRef looked = g.Apply(Flatten(), g.Apply(emb, ids));
  NodeRef proj = g.Apply(Named(Dense(kDim), "proj"), vec);
  NodeRef logits = g.Attend(emb, proj);
  auto built = g.Finish({ids, vec}, {logits, looked}, 3);
  ASSERT_TRUE(built.ok()) << built.status();
  auto& model = *built;
  Tensor ix = testing::Of<int64_t>({0, 1, 5, 5, 11, 2}, {3, 2});
  Tensor v = testing::Random({3, kDim}, 4);
  Tensor t0 = testing::Random({3, kVocab}, 5), t1 = testing::Random({3, 2 * kDim}, 6);
  auto mse = *MakeLoss("mse");
  auto loss = [&]() { return testing::TotalLoss(*model, {ix, v}, {t0, t1}, *mse); };
  auto [order, at_hook] = testing::BackwardWithHook(*model, {ix, v}, {t0, t1}, *mse);
  for (Parameter* p : model->parameters()) {
    testing::ExpectClose(testing::NumericGradient(p->value, loss, 1e-3f), at_hook.at(p->name), 2e-2,
                         p->name);
  }
}

using GraphAttendFitTest = testing::TempDirTest;

TEST_F(GraphAttendFitTest, NextTokenModelLearnsAndReloadsBitIdentically) {
  auto model = TiedModel(4);
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = 0.05});
  c.metrics = {"accuracy"};
  ASSERT_TRUE(model->Compile(c).ok());
  Tensor x, y;
  MakeData(240, &x, &y);
  FitOptions f;
  f.epochs = 30;
  f.batch_size = 24;
  auto history = model->Fit(x, y, f);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_LT(history->metrics["loss"].back(), history->metrics["loss"].front() / 5);
  EXPECT_EQ(history->metrics["accuracy"].back(), 1.0);

  // One optimiser state per parameter, the table's included once.
  std::set<std::string> slots;
  for (const auto& [name, t] : model->optimizer()->State()) slots.insert(name);
  EXPECT_EQ(slots.count("tokens.embeddings/m"), 1u);
  for (const std::string& s : slots) EXPECT_EQ(s.find("head"), std::string::npos) << s;

  ASSERT_TRUE(model->Save(dir_.string()).ok());
  auto file = ReadSafetensors((dir_ / "model.safetensors").string());
  ASSERT_TRUE(file.ok()) << file.status();
  std::set<std::string> saved;
  for (const auto& [name, t] : file->tensors) saved.insert(name);
  EXPECT_EQ(saved, (std::set<std::string>{"tokens.embeddings", "mix.kernel", "mix.bias"}));
  auto loaded = LoadGraphModel(dir_.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->ArchitectureJson(), model->ArchitectureJson());
  for (Parameter* p : (*loaded)->parameters()) {
    const Tensor& want = file->tensors.at(p->name);
    ASSERT_EQ(std::memcmp(p->value.data(), want.data(), want.nbytes()), 0) << p->name;
  }
  auto before = model->Predict(x);
  auto after = (*loaded)->Predict(x);
  ASSERT_TRUE(before.ok() && after.ok()) << after.status();
  ASSERT_EQ(std::memcmp(before->data(), after->data(), before->nbytes()), 0);
  // Continuing training from the checkpoint matches never having stopped.
  f.epochs = 1;
  f.initial_epoch = 30;
  ASSERT_TRUE(model->Fit(x, y, f).ok());
  ASSERT_TRUE((*loaded)->Fit(x, y, f).ok());
  auto a = model->Predict(x), b = (*loaded)->Predict(x);
  ASSERT_EQ(std::memcmp(a->data(), b->data(), a->nbytes()), 0);
}

TEST(GraphAttendTest, WiringErrorsNameTheNode) {
  {
    GraphBuilder g;
    NodeRef in = g.Input({4});
    NodeRef out = g.Attend(Named(Dense(4), "not_an_embedding"), in, "head");
    auto model = g.Finish({in}, {out});
    ASSERT_FALSE(model.ok());
    EXPECT_NE(model.status().message().find("'head' needs an Embedding"), std::string::npos)
        << model.status();
    EXPECT_NE(model.status().message().find("not_an_embedding"), std::string::npos);
  }
  {
    GraphBuilder g;
    NodeRef in = g.Input({4});
    NodeRef out = g.Attend(Named(Embedding(kVocab, 4), "tokens"), in, "head");
    auto model = g.Finish({in}, {out});
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(model.status().message().find("'tokens' is not applied at an earlier node"),
              std::string::npos)
        << model.status();
  }
  {
    GraphBuilder g;
    NodeRef ids = g.Input({1});
    NodeRef vec = g.Input({5}, "vec");
    auto emb = Named(Embedding(kVocab, 4), "tokens");
    NodeRef looked = g.Apply(Flatten(), g.Apply(emb, ids));
    NodeRef out = g.Attend(emb, vec, "head");
    auto model = g.Finish({ids, vec}, {out, looked});
    ASSERT_FALSE(model.ok());
    EXPECT_NE(model.status().message().find("'vec' (input) has per-sample shape [5]"),
              std::string::npos)
        << model.status();
    EXPECT_NE(model.status().message().find("[12, 4]"), std::string::npos) << model.status();
  }
}

// The CUDA twin (cuBLAS) trains as the CPU path does, in float32 and in bf16.
TEST(GraphAttendTest, TrainsOnCudaAsOnTheCpu) {
  if (!mlcore::cuda::IsAvailable()) {
    GTEST_SKIP() << "no CUDA device: " << mlcore::cuda::UnavailableReason();
  }
  Tensor x, y;
  MakeData(96, &x, &y);
  for (const char* precision : {"float32", "bf16"}) {
    FitOptions f;
    f.epochs = 2;
    f.batch_size = 32;
    f.precision = precision;
    auto cpu = TiedModel(5), gpu = TiedModel(5);
    CompileOptions c;
    c.optimizer = *optim::Sgd({.lr = 0.1});
    ASSERT_TRUE(cpu->Compile(c).ok());
    c.optimizer = *optim::Sgd({.lr = 0.1});
    ASSERT_TRUE(gpu->Compile(c).ok());
    ASSERT_TRUE(cpu->Fit(x, y, f).ok());
    f.device = "cuda";
    auto fitted = gpu->Fit(x, y, f);
    ASSERT_TRUE(fitted.ok()) << fitted.status();
    auto want = cpu->Predict(x);
    auto got = gpu->Predict(x);
    ASSERT_TRUE(want.ok() && got.ok()) << got.status();
    for (int64_t i = 0; i < want->numel(); ++i) {
      EXPECT_NEAR(got->data<float>()[i], want->data<float>()[i], 2e-3) << precision << " " << i;
    }
  }
}

}  // namespace
}  // namespace mlcore::nn
