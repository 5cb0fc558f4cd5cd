// Embedding: lookups for every index dtype, the scatter-add gradient, range errors, and a model
// that trains from float32-coded token ids through Fit.
#include <gtest/gtest.h>

#include "mlcore/nn/dataset.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

using testing::Of;

TEST(EmbeddingTest, LooksUpRowsForEveryIndexDtype) {
  auto layer = *Embedding(5, 3);
  ASSERT_EQ(*layer->Build({2}, 1), (Shape{2, 3}));
  const float* table = layer->parameters()[0]->value.data<float>();
  for (Tensor x : {Of<int32_t>({4, 0, 2, 2}, {2, 2}), Of<int64_t>({4, 0, 2, 2}, {2, 2}),
                   Of<float>({4, 0, 2, 2}, {2, 2})}) {
    auto y = layer->Forward(x, false);
    ASSERT_TRUE(y.ok()) << y.status();
    ASSERT_EQ(y->shape(), (Shape{2, 2, 3}));
    const int rows[] = {4, 0, 2, 2};
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 3; ++j) EXPECT_EQ(y->data<float>()[i * 3 + j], table[rows[i] * 3 + j]);
    }
  }
}

TEST(EmbeddingTest, GradientAddsRowsOfRepeatedIndices) {
  auto layer = *Embedding(4, 2);
  ASSERT_TRUE(layer->Build({3}, 0).ok());
  ASSERT_TRUE(layer->Forward(Of<int64_t>({1, 3, 1}, {1, 3}), true).ok());
  auto dx = layer->Backward(Of<float>({1, 2, 3, 4, 5, 6}, {1, 3, 2}));
  ASSERT_TRUE(dx.ok()) << dx.status();
  const float* g = layer->parameters()[0]->grad.data<float>();
  EXPECT_EQ(std::vector<float>(g, g + 8), (std::vector<float>{0, 0, 6, 8, 0, 0, 3, 4}));
}

TEST(EmbeddingTest, OutOfRangeIndexNamesLayerIndexAndVocabulary) {
  auto layer = *Embedding(10, 4);
  layer->set_name("tokens");
  ASSERT_TRUE(layer->Build({3}, 0).ok());
  for (Tensor x : {Of<int64_t>({1, 2, 12}, {1, 3}), Of<int32_t>({1, -1, 2}, {1, 3})}) {
    auto y = layer->Forward(x, false);
    ASSERT_FALSE(y.ok());
    EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string msg(y.status().message());
    EXPECT_NE(msg.find("tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find(x.dtype() == DType::kInt64 ? "index 12" : "index -1"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("vocabulary of 10"), std::string::npos) << msg;
  }
  auto frac = layer->Forward(Of<float>({1.5f, 2, 3}, {1, 3}), false);
  EXPECT_FALSE(frac.ok());
  auto wrong = layer->Forward(Of<double>({1, 2, 3}, {1, 3}), false);
  EXPECT_FALSE(wrong.ok());
  EXPECT_FALSE(Embedding(0, 3).ok());
}

TEST(EmbeddingTest, LearnsTokenClassesThroughFit) {
  // Class of a 2-token sequence = first token % 3; the model must learn it from the table.
  std::vector<float> ids;
  std::vector<int64_t> labels;
  for (int i = 0; i < 96; ++i) {
    ids.push_back(static_cast<float>(i % 12));
    ids.push_back(static_cast<float>((i * 7) % 12));
    labels.push_back((i % 12) % 3);
  }
  Sequential model({*Embedding(12, 8), Flatten(), *Dense(3)});
  CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("adam", {{"lr", 5e-2}});
  options.metrics = {"accuracy"};
  ASSERT_TRUE(model.Compile(options).ok());
  Tensor x = Of<float>(ids, {96, 2});
  Tensor y = *Tensor::FromVector(labels, {96});
  FitOptions fit;
  fit.epochs = 30;
  fit.batch_size = 16;
  auto history = model.Fit(x, y, fit);
  ASSERT_TRUE(history.ok()) << history.status();
  auto logs = model.Evaluate(x, y);
  ASSERT_TRUE(logs.ok()) << logs.status();
  EXPECT_GE(logs->at("accuracy"), 0.99);
  auto again = CreateLayer("embedding", model.layers()[0]->config());
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST(EmbeddingTest, TrainsOnInt32IndicesFromTensorsAndFromADataset) {
  // Class = first token % 4, with int32 token ids as they come from a tokenizer.
  std::vector<int32_t> ids;
  std::vector<int64_t> labels;
  for (int i = 0; i < 128; ++i) {
    ids.push_back(i % 16);
    ids.push_back((i * 5) % 16);
    labels.push_back((i % 16) % 4);
  }
  Tensor x = Of<int32_t>(ids, {128, 2});
  Tensor y = *Tensor::FromVector(labels, {128});
  auto make = [] {
    auto model = std::make_unique<Sequential>(
        std::vector<std::shared_ptr<Layer>>{*Embedding(16, 8), Flatten(), *Dense(4)});
    CompileOptions options;
    options.optimizer = *optim::MakeOptimizer("adam", {{"lr", 5e-2}});
    options.metrics = {"accuracy"};
    EXPECT_TRUE(model->Compile(options).ok());
    return model;
  };
  FitOptions fit;
  fit.epochs = 30;
  fit.batch_size = 16;
  auto from_tensors = make();
  ASSERT_TRUE(from_tensors->Fit(x, y, fit).ok());
  auto logs = from_tensors->Evaluate(x, y);
  ASSERT_TRUE(logs.ok()) << logs.status();
  EXPECT_GE(logs->at("accuracy"), 0.99);

  auto data = Dataset::FromTensors({x}, {y});
  ASSERT_TRUE(data.ok()) << data.status();
  auto batches = (*(*data)->Shuffle(128, 1))->Batch(16);
  ASSERT_TRUE(batches.ok()) << batches.status();
  auto from_dataset = make();
  ASSERT_TRUE(from_dataset->Fit(**batches, fit).ok());
  auto dataset_logs = from_dataset->Evaluate(**batches);
  ASSERT_TRUE(dataset_logs.ok()) << dataset_logs.status();
  EXPECT_GE(dataset_logs->at("accuracy"), 0.99);
}

}  // namespace
}  // namespace mlcore::nn
