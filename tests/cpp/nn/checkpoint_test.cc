// safetensors files and Sequential checkpoints: round trips, damaged files, and the refusal to
// load another architecture without touching the model.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/safetensors.h"
#include "mlcore/nn/sequential.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
};

std::unique_ptr<Sequential> Model(int64_t hidden) {
  auto m = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{Flatten(), *Dense(hidden), Tanh(), *Dense(3)});
  CompileOptions c;
  c.optimizer = *optim::AdamW({.lr = 0.01, .weight_decay = 0.01});
  c.metrics = {"accuracy"};
  EXPECT_TRUE(m->Compile(c).ok());
  return m;
}

TEST_F(CheckpointTest, SafetensorsRoundTrip) {
  std::map<std::string, Tensor> tensors = {{"a", testing::Random({2, 3}, 1)},
                                           {"b", testing::Of<int64_t>({1, 2, 3}, {3})},
                                           {"empty", *Tensor::Zeros({0, 4}, DType::kFloat32)}};
  ASSERT_TRUE(WriteSafetensors(Path("t.safetensors"), tensors, {{"k", "v"}}).ok());
  auto file = ReadSafetensors(Path("t.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata.at("k"), "v");
  ASSERT_EQ(file->tensors.size(), 3u);
  EXPECT_EQ(file->tensors.at("b").data<int64_t>()[2], 3);
  EXPECT_EQ(file->tensors.at("a").data<float>()[5], tensors["a"].data<float>()[5]);
  EXPECT_EQ(file->tensors.at("empty").shape(), (Shape{0, 4}));
  // Header length is 8-byte aligned, as the format recommends.
  std::ifstream in(Path("t.safetensors"), std::ios::binary);
  uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  EXPECT_EQ(len % 8, 0u);
}

TEST_F(CheckpointTest, DamagedSafetensorsAreDataLoss) {
  ASSERT_TRUE(WriteSafetensors(Path("t.safetensors"), {{"a", testing::Random({64}, 1)}}).ok());
  fs::resize_file(Path("t.safetensors"), fs::file_size(Path("t.safetensors")) - 4);
  Status s = ReadSafetensors(Path("t.safetensors")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("'a'"), std::string::npos) << s;
  std::ofstream(Path("bad.safetensors")) << "\xff\xff\xff\xff\xff\xff\xff\x7f{}";
  EXPECT_EQ(ReadSafetensors(Path("bad.safetensors")).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadSafetensors(Path("none")).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointTest, SaveLoadPredictsIdenticallyAndResumes) {
  Tensor x = testing::Random({32, 2, 3}, 1);
  Tensor y = *Tensor::Zeros({32}, DType::kInt64);
  for (int i = 0; i < 32; ++i) y.data<int64_t>()[i] = i % 3;
  auto model = Model(8);
  FitOptions f;
  f.epochs = 2;
  ASSERT_TRUE(model->Fit(x, y, f).ok());
  ASSERT_TRUE(model->Save(Path("ckpt")).ok());
  ASSERT_TRUE(model->Save(Path("ckpt")).ok());  // replacing an existing checkpoint
  for (const char* name :
       {"model.safetensors", "architecture.json", "optimizer.safetensors", "training_state.json"}) {
    EXPECT_TRUE(fs::exists(dir_ / "ckpt" / name)) << name;
  }
  size_t entries = 0;
  for (const auto& unused : fs::directory_iterator(dir_)) entries += 1 + 0 * unused.is_directory();
  EXPECT_EQ(entries, 1u);  // no temporary directory left behind

  auto loaded = LoadModel(Path("ckpt"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  Tensor a = *model->Predict(x), b = *(*loaded)->Predict(x);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]);
  EXPECT_EQ((*loaded)->epochs_trained(), 2);
  EXPECT_EQ((*loaded)->optimizer()->name(), "adamw");
  EXPECT_EQ((*loaded)->optimizer()->steps(), model->optimizer()->steps());

  // Continuing both gives the same weights: optimizer state came back too.
  f.epochs = 1;
  f.initial_epoch = 2;
  ASSERT_TRUE(model->Fit(x, y, f).ok());
  ASSERT_TRUE((*loaded)->Fit(x, y, f).ok());
  a = *model->Predict(x);
  b = *(*loaded)->Predict(x);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]);
}

TEST_F(CheckpointTest, LearningRateScheduleIsSavedAndResumed) {
  Tensor x = testing::Random({32, 2, 3}, 2);
  Tensor y = *Tensor::Zeros({32}, DType::kInt64);
  for (int i = 0; i < 32; ++i) y.data<int64_t>()[i] = i % 3;
  auto model = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{Flatten(), *Dense(8), Tanh(), *Dense(3)});
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = 0.01});
  c.schedule = *optim::LinearWarmup(3, *optim::CosineDecay(20, 0.001));
  ASSERT_TRUE(model->Compile(c).ok());
  FitOptions f;
  f.epochs = 2;
  f.batch_size = 8;
  ASSERT_TRUE(model->Fit(x, y, f).ok());
  ASSERT_TRUE(model->Save(Path("ckpt")).ok());
  auto loaded = LoadModel(Path("ckpt"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto& schedule = (*loaded)->compile_options().schedule;
  ASSERT_NE(schedule, nullptr);
  for (int64_t step : {0, 2, 3, 10, 22, 40}) {
    EXPECT_EQ(schedule->LearningRate(step, 0.01), c.schedule->LearningRate(step, 0.01)) << step;
  }
  // Training on from the checkpoint follows the same schedule: identical weights.
  f.epochs = 1;
  f.initial_epoch = 2;
  ASSERT_TRUE(model->Fit(x, y, f).ok());
  ASSERT_TRUE((*loaded)->Fit(x, y, f).ok());
  Tensor a = *model->Predict(x), b = *(*loaded)->Predict(x);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data<float>()[i], b.data<float>()[i]);

  EXPECT_EQ(optim::ScheduleFromJson(R"({"type": "exp"})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      optim::ScheduleFromJson(R"({"type": "warmup", "warmup_steps": 2, "after": {"type": "step"}})")
          .status()
          .message()
          .find("schedule.after.step_size"),
      std::string::npos);
}

TEST_F(CheckpointTest, AnotherArchitectureIsRefusedWithoutChangingTheModel) {
  Tensor x = testing::Random({4, 2, 3}, 1);
  auto saved = Model(8);
  ASSERT_TRUE(saved->Build({2, 3}).ok());
  ASSERT_TRUE(saved->Save(Path("ckpt")).ok());
  auto other = Model(16);
  ASSERT_TRUE(other->Build({2, 3}).ok());
  Tensor before = *(*other->Predict(x)).Clone();
  Status s = other->LoadWeights(Path("ckpt"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("another architecture"), std::string::npos) << s;
  EXPECT_NE(s.message().find("dense(8)"), std::string::npos) << s;
  EXPECT_NE(s.message().find("dense(16)"), std::string::npos) << s;
  Tensor after = *other->Predict(x);
  for (int64_t i = 0; i < after.numel(); ++i)
    ASSERT_EQ(before.data<float>()[i], after.data<float>()[i]);

  auto same = Model(8);
  ASSERT_TRUE(same->LoadWeights(Path("ckpt")).ok());
  Tensor p1 = *saved->Predict(x), p2 = *same->Predict(x);
  for (int64_t i = 0; i < p1.numel(); ++i) ASSERT_EQ(p1.data<float>()[i], p2.data<float>()[i]);
}

TEST_F(CheckpointTest, TamperedWeightsFailLoadModel) {
  auto model = Model(4);
  ASSERT_TRUE(model->Build({2, 3}).ok());
  ASSERT_TRUE(model->Save(Path("ckpt")).ok());
  ASSERT_TRUE(WriteSafetensors(Path("ckpt/model.safetensors"),
                               {{"dense_1.kernel", testing::Random({6, 5}, 1)}})
                  .ok());
  Status s = LoadModel(Path("ckpt")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("dense_1.kernel"), std::string::npos) << s;
  EXPECT_EQ(LoadModel(Path("nothing")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mlcore::nn
