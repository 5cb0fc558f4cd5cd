// Threads on one model. Inference is reentrant: 16 threads predict at once on one built model
// holding every layer kind (Sequential and GraphModel), and every answer equals the
// single-threaded one bit for bit; a model still unbuilt is built once by the first of them.
// Training is serialised: two threads training one model (TrainStep or Fit each) both finish,
// every step applied once, and inference beside a Fit never fails. Run under ThreadSanitizer by
// `make test-tsan`.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::Random;

constexpr int kThreads = 16;
constexpr int kRounds = 6;
constexpr int64_t kVocab = 16;

Tensor Ids(const Shape& shape, uint64_t seed) {
  Tensor t = *Tensor::Empty(shape, DType::kInt64);
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.data<int64_t>()[i] = static_cast<int64_t>((i * 5 + seed * 3) % kVocab);
  }
  return t;
}

Tensor Classes(int64_t n, int64_t classes, uint64_t seed) {
  Tensor t = *Tensor::Empty({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) t.data<int64_t>()[i] = static_cast<int64_t>((i + seed) % classes);
  return t;
}

// Every layer kind and every graph op: Conv2d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, Add,
// both global pools, Embedding, LayerNorm, Flatten, Concatenate, Dense, GELU, Dropout,
// BatchNorm1d, Tanh, Sigmoid, a shared Dense (two uses), Attend and Softmax.
std::unique_ptr<GraphModel> EveryLayerGraph() {
  GraphBuilder g;
  NodeRef img = g.Input({2, 8, 8}, "image");
  NodeRef tok = g.Input({3}, "tokens");
  NodeRef c = g.Apply(*Conv2d(4, 3, {1, 1, 1, true}), img);
  c = g.Apply(ReLU(), g.Apply(*BatchNorm2d(), c));
  NodeRef pooled = g.Add({g.Apply(*MaxPool2d(2), c), g.Apply(*AvgPool2d(2), c)});
  NodeRef gap = g.Apply(GlobalAveragePooling2D(), pooled);
  NodeRef gmp = g.Apply(GlobalMaxPooling2D(), pooled);
  auto emb = *Embedding(kVocab, 8);
  NodeRef words = g.Apply(Flatten(), g.Apply(*LayerNorm(), g.Apply(emb, tok)));
  NodeRef h = g.Concatenate({gap, gmp, words});
  h = g.Apply(*Dropout(0.3, 5), g.Apply(GELU(), g.Apply(*Dense(16), h)));
  h = g.Apply(Tanh(), g.Apply(*Dense(8), g.Apply(*BatchNorm1d(), h)));
  auto shared = *Dense(8);
  NodeRef s = g.Apply(shared, g.Apply(Sigmoid(), g.Apply(shared, h)));
  NodeRef head = g.Attend(emb, s, "head");
  NodeRef probs = g.Apply(Softmax(), g.Apply(*Dense(3), h));
  auto model = g.Finish({img, tok}, {head, probs}, 9);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(*model);
}

std::unique_ptr<Sequential> EveryLayerSequential() {
  return std::make_unique<Sequential>(std::vector<std::shared_ptr<Layer>>{
      *Conv2d(4, 3, {1, 1, 1, true}), *BatchNorm2d(), ReLU(), *MaxPool2d(2), Flatten(), *Dense(12),
      *Dropout(0.25, 3), *BatchNorm1d(), *LayerNorm(), GELU(), *Dense(3), Softmax()});
}

void Train(Model& model, const TensorList& x, const TensorList& y, int epochs = 2) {
  CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("adam", {{"lr", 1e-2}});
  ASSERT_TRUE(model.Compile(std::move(options)).ok());
  FitOptions fit;
  fit.epochs = epochs;
  fit.batch_size = 8;
  auto history = model.Fit(x, y, fit);
  ASSERT_TRUE(history.ok()) << history.status();
}

bool Same(const TensorList& a, const TensorList& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].shape() != b[i].shape() || a[i].nbytes() != b[i].nbytes()) return false;
    if (std::memcmp(a[i].data(), b[i].data(), a[i].nbytes()) != 0) return false;
  }
  return true;
}

// Predicts `inputs[k]` from kThreads threads kRounds times each (thread t, round r takes input
// (t + r) % size, so every input runs on several threads at once) and counts the answers that
// differ from `expected[k]` or fail.
int ConcurrentMismatches(Model& model, const std::vector<TensorList>& inputs,
                         const std::vector<TensorList>& expected) {
  std::atomic<int> bad{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();  // start together
      for (int r = 0; r < kRounds; ++r) {
        const size_t k = static_cast<size_t>(t + r) % inputs.size();
        StatusOr<TensorList> out = model.PredictAll(inputs[k], /*batch_size=*/4);
        if (!out.ok() || (!expected.empty() && !Same(*out, expected[k]))) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  return bad.load();
}

TEST(ConcurrentInferenceTest, SixteenThreadsPredictOnOneGraphModel) {
  auto model = EveryLayerGraph();
  Train(*model, {Random({32, 2, 8, 8}, 1), Ids({32, 3}, 2)},
        {Classes(32, kVocab, 3), Classes(32, 3, 4)});
  std::vector<TensorList> inputs, expected;
  for (uint64_t k = 0; k < 8; ++k) {
    inputs.push_back({Random({6, 2, 8, 8}, 100 + k), Ids({6, 3}, k)});
    auto out = model->PredictAll(inputs.back(), 4);
    ASSERT_TRUE(out.ok()) << out.status();
    expected.push_back(*out);
  }
  EXPECT_EQ(ConcurrentMismatches(*model, inputs, expected), 0);
}

TEST(ConcurrentInferenceTest, SixteenThreadsPredictOnOneSequential) {
  auto model = EveryLayerSequential();
  Train(*model, {Random({32, 2, 8, 8}, 1)}, {Classes(32, 3, 4)});
  std::vector<TensorList> inputs, expected;
  for (uint64_t k = 0; k < 8; ++k) {
    inputs.push_back({Random({6, 2, 8, 8}, 100 + k)});
    auto out = model->PredictAll(inputs.back(), 4);
    ASSERT_TRUE(out.ok()) << out.status();
    expected.push_back(*out);
  }
  EXPECT_EQ(ConcurrentMismatches(*model, inputs, expected), 0);
  // Evaluate is inference too.
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto logs = model->Evaluate(inputs[t][0], Classes(6, 3, t));
      if (!logs.ok() || !std::isfinite(logs->at("loss"))) ++bad;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ConcurrentInferenceTest, AnUnbuiltModelIsBuiltOnceByConcurrentPredicts) {
  auto model = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{*Dense(8), ReLU(), *Dense(3)});
  std::vector<TensorList> inputs;
  for (uint64_t k = 0; k < 4; ++k) inputs.push_back({Random({5, 6}, k)});
  EXPECT_EQ(ConcurrentMismatches(*model, inputs, {}), 0);
  ASSERT_TRUE(model->built());
  std::vector<TensorList> expected;
  for (const TensorList& in : inputs) expected.push_back(*model->PredictAll(in, 4));
  EXPECT_EQ(ConcurrentMismatches(*model, inputs, expected), 0);
}

TEST(ConcurrentTrainingTest, TwoThreadsTrainOneModelOneStepAtATime) {
  auto model = EveryLayerSequential();
  CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("sgd", {{"lr", 1e-2}});
  ASSERT_TRUE(model->Compile(std::move(options)).ok());
  // Different batch sizes on the two threads: a step's backward must see its own forward.
  std::vector<Status> failures[2];
  std::thread threads[2];
  for (int t = 0; t < 2; ++t) {
    threads[t] = std::thread([&, t] {
      const int64_t batch = t == 0 ? 8 : 5;
      for (int i = 0; i < 10; ++i) {
        auto step = model->TrainStep(Random({batch, 2, 8, 8}, 10 * t + i), Classes(batch, 3, i));
        if (!step.ok()) failures[t].push_back(step.status());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 2; ++t) EXPECT_TRUE(failures[t].empty()) << failures[t][0];
  EXPECT_EQ(model->optimizer()->steps(), 20);
}

TEST(ConcurrentTrainingTest, TwoFitsOnOneModelRunOneAfterTheOther) {
  auto model = EveryLayerSequential();
  CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("sgd", {{"lr", 1e-2}});
  ASSERT_TRUE(model->Compile(std::move(options)).ok());
  Tensor x = Random({24, 2, 8, 8}, 1);
  Tensor y = Classes(24, 3, 2);
  StatusOr<History> results[2] = {absl::UnknownError(""), absl::UnknownError("")};
  std::thread threads[2];
  for (int t = 0; t < 2; ++t) {
    threads[t] = std::thread([&, t] {
      FitOptions fit;
      fit.epochs = 2;
      fit.batch_size = t == 0 ? 8 : 6;
      results[t] = model->Fit(x, y, fit);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 2; ++t) {
    ASSERT_TRUE(results[t].ok()) << results[t].status();
    EXPECT_EQ(results[t]->epochs_run, 2);
  }
  EXPECT_EQ(model->optimizer()->steps(), 2 * 3 + 2 * 4);
}

TEST(ConcurrentTrainingTest, InferenceBesideAFitNeverFails) {
  auto model = EveryLayerGraph();
  CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("adam", {{"lr", 1e-3}});
  ASSERT_TRUE(model->Compile(std::move(options)).ok());
  TensorList x = {Random({32, 2, 8, 8}, 1), Ids({32, 3}, 2)};
  TensorList y = {Classes(32, kVocab, 3), Classes(32, 3, 4)};
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, predictions{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      TensorList in = {Random({3, 2, 8, 8}, 50 + t), Ids({3, 3}, t)};
      while (!done.load()) {
        auto out = model->PredictAll(in, 3);
        if (!out.ok() || (*out)[1].shape() != Shape{3, 3}) ++bad;
        for (int64_t i = 0; out.ok() && i < (*out)[1].numel(); ++i) {
          if (!std::isfinite((*out)[1].data<float>()[i])) ++bad;
        }
        ++predictions;
      }
    });
  }
  while (predictions.load() < 4) std::this_thread::yield();  // the readers are running
  FitOptions fit;
  fit.epochs = 10;
  fit.batch_size = 4;
  auto history = model->Fit(x, y, fit);
  done = true;
  for (auto& th : readers) th.join();
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(predictions.load(), 4);
}

}  // namespace
}  // namespace mlcore::nn
