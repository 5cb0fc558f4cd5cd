// DataParallel with ranks as threads of this process, each with its own model and a real gloo
// communicator over a real tcp:// store: replicas start from rank 0's weights, train to the
// weights one process reaches on the same global batches, disagree loudly on architecture,
// accumulate under no_sync, agree on skipping non-finite steps, and checkpoint once.
#include "mlcore/dist/data_parallel.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <functional>

#include "absl/strings/match.h"
#include "dist/dist_test_util.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"
#include "nn/nn_test_util.h"

namespace mlcore::dist {
namespace {

using dist::testing::RunRanks;
using nn::testing::Random;

std::unique_ptr<nn::Sequential> Mlp(uint64_t seed, int hidden = 16) {
  auto model = std::make_unique<nn::Sequential>(
      std::vector<std::shared_ptr<nn::Layer>>{*nn::Dense(hidden), nn::ReLU(), *nn::Dense(3)});
  EXPECT_TRUE(model->Build({5}, seed).ok());
  nn::CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("sgd", {{"lr", 0.2}, {"momentum", 0.9}});
  options.metrics = {"accuracy"};
  EXPECT_TRUE(model->Compile(std::move(options)).ok());
  return model;
}

Tensor Labels(int64_t n) {
  Tensor y = *Tensor::Empty({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = (i * 7) % 3;
  return y;
}

std::vector<float> Flat(const nn::Model& model) {
  std::vector<float> out;
  for (Parameter* p : model.parameters()) {
    const float* v = p->value.data<float>();
    out.insert(out.end(), v, v + p->value.numel());
  }
  return out;
}

void ExpectNear(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "weight " << i;
}

// Two ranks on per-rank batches of 8 train to the weights of one process on batches of 16 with
// the same shuffle: the group's global batch is the one process's batch.
TEST(DataParallelTest, TwoRanksMatchOneProcessOnTheSameGlobalBatches) {
  const Tensor x = Random({64, 5}, 1);
  const Tensor y = Labels(64);
  auto single = Mlp(7);
  nn::FitOptions one;
  one.epochs = 3;
  one.batch_size = 16;
  one.seed = 5;
  auto single_history = single->Fit(x, y, one);
  ASSERT_TRUE(single_history.ok()) << single_history.status();
  std::vector<std::vector<float>> weights(2);
  std::vector<double> losses(2);
  RunRanks(2, [&](std::shared_ptr<Communicator> comm) {
    auto model = Mlp(100 + comm->rank());  // different initial weights: Prepare copies rank 0's
    if (comm->rank() == 0) model = Mlp(7);
    auto dp = DataParallel::Create(comm, {.first_bucket_bytes = 256, .bucket_bytes = 512});
    ASSERT_TRUE(dp.ok()) << dp.status();
    nn::FitOptions o = one;
    o.batch_size = 8;
    o.strategy = *dp;
    auto history = model->Fit(x, y, o);
    ASSERT_TRUE(history.ok()) << history.status();
    weights[comm->rank()] = Flat(*model);
    losses[comm->rank()] = history->metrics.at("loss").back();
    EXPECT_GT((*dp)->bucket_sizes().size(), 1u);  // small caps: several buckets
  });
  ExpectNear(weights[0], weights[1], 0.0f);
  ExpectNear(weights[0], Flat(*single), 1e-5f);
  // Every rank logs the group's loss, which is the one process's.
  EXPECT_EQ(losses[0], losses[1]);
  EXPECT_NEAR(losses[0], single_history->metrics.at("loss").back(), 1e-5);
}

TEST(DataParallelTest, DifferentArchitecturesFailOnEveryRank) {
  std::vector<Status> results(2);
  RunRanks(2, [&](std::shared_ptr<Communicator> comm) {
    auto model = Mlp(1, comm->rank() == 1 ? 12 : 16);
    auto dp = DataParallel::Create(comm);
    results[comm->rank()] = (*dp)->Prepare(*model);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(results[r].code(), absl::StatusCode::kInvalidArgument) << results[r];
    EXPECT_TRUE(absl::StrContains(results[r].message(), "rank(s) 1 built a different model"))
        << results[r];
  }
  EXPECT_TRUE(absl::StrContains(results[1].message(), "[5, 16] float32 on rank 0 but"))
      << results[1];
}

// Custom loop with no_sync: two micro-batches accumulated locally, then one synced step, equal
// to one process stepping once on the sum of the four micro-batches' gradients / 2.
TEST(DataParallelTest, NoSyncAccumulatesThenReducesTheSum) {
  const Tensor x = Random({16, 5}, 3);
  const Tensor y = Labels(16);
  auto single = Mlp(9);
  // One process: the four quarter batches' gradients summed in pairs, averaged over "ranks".
  std::vector<float> summed;
  for (int q = 0; q < 4; ++q) {
    auto out = single->ForwardAll({*x.Slice(q * 4, q * 4 + 4)}, true);
    ASSERT_TRUE(out.ok());
    auto loss = nn::MakeLoss("cross_entropy");
    Tensor grad;
    ASSERT_TRUE((*loss)->Compute((*out)[0], *y.Slice(q * 4, q * 4 + 4), &grad).ok());
    ASSERT_TRUE(single->BackwardAll({grad}).ok());
    size_t k = 0;
    summed.resize(Flat(*single).size());
    for (Parameter* p : single->parameters()) {
      for (int64_t i = 0; i < p->grad.numel(); ++i) summed[k++] += p->grad.data<float>()[i] / 2;
    }
  }
  std::vector<std::vector<float>> reduced(2);
  RunRanks(2, [&](std::shared_ptr<Communicator> comm) {
    auto model = Mlp(9);
    auto dp = DataParallel::Create(comm);
    ASSERT_TRUE((*dp)->Prepare(*model).ok());
    auto loss = nn::MakeLoss("cross_entropy");
    for (int micro = 0; micro < 2; ++micro) {
      (*dp)->set_sync(micro == 1);
      const int q = comm->rank() * 2 + micro;  // rank 0: quarters 0, 1; rank 1: 2, 3
      auto out = model->ForwardAll({*x.Slice(q * 4, q * 4 + 4)}, true);
      Tensor grad;
      ASSERT_TRUE((*loss)->Compute((*out)[0], *y.Slice(q * 4, q * 4 + 4), &grad).ok());
      ASSERT_TRUE(model->BackwardAll({grad}).ok());
      nn::StepContext step;
      ASSERT_TRUE(model->FinishGradients(step).ok());
    }
    std::vector<float> g;
    for (Parameter* p : model->parameters()) {
      g.insert(g.end(), p->grad.data<float>(), p->grad.data<float>() + p->grad.numel());
    }
    reduced[comm->rank()] = g;
  });
  ExpectNear(reduced[0], reduced[1], 0.0f);
  ExpectNear(reduced[0], summed, 1e-5f);
}

TEST(DataParallelTest, ANonFiniteLossOnOneRankSkipsTheStepEverywhere) {
  // One byte per rank: the bits of a std::vector<bool> share a word the two rank threads write.
  std::array<bool, 2> verdicts{};
  RunRanks(2, [&](std::shared_ptr<Communicator> comm) {
    auto model = Mlp(2);
    auto dp = DataParallel::Create(comm);
    ASSERT_TRUE((*dp)->Prepare(*model).ok());
    for (int step_no = 0; step_no < 2; ++step_no) {  // the first step lays out the buckets
      auto out = model->ForwardAll({Random({4, 5}, 4)}, true);
      auto loss = nn::MakeLoss("cross_entropy");
      Tensor grad;
      ASSERT_TRUE((*loss)->Compute((*out)[0], Labels(4), &grad).ok());
      ASSERT_TRUE(model->BackwardAll({grad}).ok());
      nn::StepContext step;
      step.non_finite = step_no == 1 && comm->rank() == 1;
      ASSERT_TRUE(model->FinishGradients(step).ok());
      if (step_no == 1) verdicts[comm->rank()] = step.non_finite;
    }
  });
  EXPECT_TRUE(verdicts[0]);
  EXPECT_TRUE(verdicts[1]);
}

class DataParallelCheckpointTest : public nn::testing::TempDirTest {};

// Fit with a checkpoint directory: rank 0 writes after every epoch; a second Fit (a restarted
// job) resumes at the saved epoch on every rank and ends where an uninterrupted run ends.
TEST_F(DataParallelCheckpointTest, ResumesFromRankZerosCheckpoint) {
  const Tensor x = Random({32, 5}, 11);
  const Tensor y = Labels(32);
  const std::string dir = dir_.string();
  std::vector<std::vector<float>> straight(2), resumed(2);
  std::vector<int> epochs_run(2);
  auto run = [&](const std::string& ckpt, int epochs, std::vector<std::vector<float>>* out,
                 bool count) {
    RunRanks(2, [&](std::shared_ptr<Communicator> comm) {
      auto model = Mlp(3);
      auto dp = DataParallel::Create(comm);
      nn::FitOptions o;
      o.epochs = epochs;
      o.batch_size = 4;
      auto h = (*dp)->Fit(*model, {x}, {y}, o, ckpt);
      ASSERT_TRUE(h.ok()) << h.status();
      if (count) epochs_run[comm->rank()] = h->epochs_run;
      (*out)[comm->rank()] = Flat(*model);
    });
  };
  run(dir + "/straight", 4, &straight, false);
  run(dir + "/resumed", 2, &resumed, false);
  ASSERT_TRUE(std::filesystem::exists(dir + "/resumed/model.safetensors"));
  run(dir + "/resumed", 4, &resumed, true);
  EXPECT_EQ(epochs_run[0], 2);  // epochs 2 and 3 only
  EXPECT_EQ(epochs_run[1], 2);
  ExpectNear(resumed[0], straight[0], 1e-6f);
  ExpectNear(resumed[1], straight[0], 1e-6f);
}

}  // namespace
}  // namespace mlcore::dist
