// Model signatures: names, dtypes and shapes (batch axis -1) of every model kind, written to
// signature.json by Save and read back by ReadSignature without building the model (a
// checkpoint whose weights are unreadable still answers); a checkpoint written before
// signatures existed gets one derived; a damaged signature.json is DataLoss.
#include "mlcore/nn/signature.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

class SignatureTest : public testing::TempDirTest {};

std::unique_ptr<GraphModel> TwoInputsTwoOutputs() {
  GraphBuilder g;
  NodeRef image = g.Input({1, 4, 4}, "image");
  NodeRef tokens = g.Input({3}, "tokens");
  NodeRef a = g.Apply(Flatten(), g.Apply(*Conv2d(2, 3, {1, 1, 1, true}), image));
  NodeRef b = g.Apply(Flatten(), g.Apply(*Embedding(10, 4), tokens));
  NodeRef h = g.Concatenate({a, b});
  auto out = g.Finish({image, tokens},
                      {g.Apply(*Dense(5), h), g.Apply(Sigmoid(), g.Apply(*Dense(1), h))}, 1);
  EXPECT_TRUE(out.ok()) << out.status();
  return std::move(*out);
}

TEST_F(SignatureTest, GraphModelsNameTheirNodes) {
  auto model = TwoInputsTwoOutputs();
  auto sig = model->signature();
  ASSERT_TRUE(sig.ok()) << sig.status();
  ASSERT_EQ(sig->inputs.size(), 2u);
  EXPECT_EQ(sig->inputs[0], (TensorSpec{"image", DType::kFloat32, {-1, 1, 4, 4}}));
  EXPECT_EQ(sig->inputs[1], (TensorSpec{"tokens", DType::kInt64, {-1, 3}}));
  ASSERT_EQ(sig->outputs.size(), 2u);
  EXPECT_EQ(sig->outputs[0].shape, (Shape{-1, 5}));
  EXPECT_EQ(sig->outputs[1].shape, (Shape{-1, 1}));
  EXPECT_EQ(sig->outputs[0].name, model->output_names()[0]);
  EXPECT_EQ(sig->outputs[1].dtype, DType::kFloat32);
}

TEST_F(SignatureTest, SequentialNeedsABuildAndKnowsEmbeddingInputs) {
  Sequential model({*Dense(4), ReLU(), *Dense(2)});
  EXPECT_EQ(model.signature().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(model.Build({6}).ok());
  EXPECT_EQ(*model.signature(), (ModelSignature{{{"input", DType::kFloat32, {-1, 6}}},
                                                {{"output", DType::kFloat32, {-1, 2}}}}));
  Sequential words({*Embedding(10, 4), Flatten(), *Dense(3)});
  ASSERT_TRUE(words.Build({5}).ok());
  EXPECT_EQ(*words.signature(), (ModelSignature{{{"input", DType::kInt64, {-1, 5}}},
                                                {{"output", DType::kFloat32, {-1, 3}}}}));
}

TEST_F(SignatureTest, SavedAndReadWithoutBuildingTheModel) {
  for (int kind = 0; kind < 2; ++kind) {
    std::unique_ptr<Model> model;
    if (kind == 0) {
      auto seq = std::make_unique<Sequential>(std::vector<std::shared_ptr<Layer>>{*Dense(3)});
      ASSERT_TRUE(seq->Build({2}).ok());
      model = std::move(seq);
    } else {
      model = TwoInputsTwoOutputs();
    }
    const std::string dir = (dir_ / std::to_string(kind)).string();
    ASSERT_TRUE(model->Save(dir).ok());
    ASSERT_TRUE(std::filesystem::exists(dir + "/signature.json"));
    // Weights nobody can read: only a reader that builds nothing still answers.
    std::ofstream(dir + "/model.safetensors", std::ios::trunc) << "damaged";
    auto read = ReadSignature(dir);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, *model->signature());
  }
}

TEST_F(SignatureTest, AnOldCheckpointGetsOneDerived) {
  auto model = TwoInputsTwoOutputs();
  ASSERT_TRUE(model->Save(dir_.string()).ok());
  std::filesystem::remove(dir_ / "signature.json");
  auto read = ReadSignature(dir_.string());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, *model->signature());
  EXPECT_EQ(ReadSignature((dir_ / "none").string()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SignatureTest, ADamagedSignatureIsDataLoss) {
  auto model = TwoInputsTwoOutputs();
  ASSERT_TRUE(model->Save(dir_.string()).ok());
  for (const char* text :
       {"{", "{\"format\": \"mlcore.nn.Signature\", \"inputs\": 3}", "{\"format\": \"other\"}",
        "{\"format\": \"mlcore.nn.Signature\", \"inputs\": [{\"name\": "
        "\"x\", \"dtype\": \"complex\", \"shape\": [-1]}], \"outputs\": []}"}) {
    std::ofstream(dir_ / "signature.json", std::ios::trunc) << text;
    EXPECT_EQ(ReadSignature(dir_.string()).status().code(), absl::StatusCode::kDataLoss) << text;
  }
  EXPECT_EQ(ModelSignature::FromJson(model->signature()->ToJson()).value(), *model->signature());
}

}  // namespace
}  // namespace mlcore::nn
