// The gradient-sync point between backward and the optimizer step: each parameter is reported
// once, in backward order, before Finish; Finish runs before clipping and the update and may
// rewrite the gradients and the non-finite verdict; custom loops reach it through
// FinishGradients. Then a fake data-parallel group of two ranks in one process (two models, a
// reducer that averages gradients between threads and ORs the verdicts): both models end
// identical, equal to one model trained on the whole batches, and a NaN on one rank makes both
// skip (or both stop).
#include "mlcore/nn/gradient_sync.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
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

std::unique_ptr<Sequential> Mlp(uint64_t seed) {
  auto model = std::make_unique<Sequential>(
      std::vector<std::shared_ptr<Layer>>{*Dense(8), ReLU(), *Dense(3)});
  EXPECT_TRUE(model->Build({4}, seed).ok());
  return model;
}

void CompileSgd(Model& model, NonFinitePolicy policy = NonFinitePolicy::kStop, double clip = 0.0) {
  CompileOptions options;
  options.optimizer = *optim::MakeOptimizer("sgd", {{"lr", 0.1}});
  options.on_non_finite = policy;
  options.clip_grad_norm = clip;
  ASSERT_TRUE(model.Compile(std::move(options)).ok());
}

Tensor Labels(int64_t n, uint64_t seed) {
  Tensor y = *Tensor::Empty({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = static_cast<int64_t>((i * 7 + seed) % 3);
  return y;
}

std::vector<std::vector<float>> Weights(const Model& model) {
  std::vector<std::vector<float>> out;
  for (Parameter* p : model.parameters()) {
    const float* v = p->value.data<float>();
    out.emplace_back(v, v + p->value.numel());
  }
  return out;
}

// Records what a sync is told, and can rewrite the gradients or the verdict in Finish.
class RecordingSync : public GradientSync {
 public:
  Status OnGradientReady(Parameter& param) override {
    events.push_back("ready " + param.name);
    return absl::OkStatus();
  }
  Status Finish(StepContext& step) override {
    events.push_back("finish");
    steps.push_back(step);
    if (zero_gradients) {
      for (Parameter* p : params) std::memset(p->grad.data(), 0, p->grad.nbytes());
    }
    if (force_non_finite) step.non_finite = true;
    return finish_status;
  }
  void Abort(const Status& why) override { events.push_back("abort"); }

  std::vector<std::string> events;
  std::vector<StepContext> steps;
  std::vector<Parameter*> params;
  bool zero_gradients = false;
  bool force_non_finite = false;
  Status finish_status;
};

TEST(GradientSyncTest, EveryParameterOnceInBackwardOrderThenFinish) {
  auto model = Mlp(1);
  CompileSgd(*model);
  auto sync = std::make_shared<RecordingSync>();
  model->set_gradient_sync(sync);
  EXPECT_EQ(model->gradient_sync(), sync);
  ASSERT_TRUE(model->TrainStep(Random({6, 4}, 2), Labels(6, 0)).ok());
  ASSERT_TRUE(model->TrainStep(Random({6, 4}, 3), Labels(6, 1)).ok());
  const std::vector<std::string> one = {"ready dense_2.kernel", "ready dense_2.bias",
                                        "ready dense_0.kernel", "ready dense_0.bias", "finish"};
  std::vector<std::string> two = one;
  two.insert(two.end(), one.begin(), one.end());
  EXPECT_EQ(sync->events, two);
  ASSERT_EQ(sync->steps.size(), 2u);
  EXPECT_EQ(sync->steps[0].step, 0);
  EXPECT_EQ(sync->steps[1].step, 1);
  EXPECT_FALSE(sync->steps[0].non_finite);
  EXPECT_GT(sync->steps[0].loss, 0.0);
}

TEST(GradientSyncTest, FinishRunsBeforeTheUpdateAndItsGradientsAreApplied) {
  auto model = Mlp(1);
  CompileSgd(*model);
  auto sync = std::make_shared<RecordingSync>();
  sync->params = model->parameters();
  sync->zero_gradients = true;  // what the optimizer then applies: nothing moves
  model->set_gradient_sync(sync);
  const auto before = Weights(*model);
  auto step = model->TrainStep(Random({6, 4}, 2), Labels(6, 0));
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_TRUE(step->applied);
  EXPECT_EQ(Weights(*model), before);
  EXPECT_EQ(model->optimizer()->steps(), 1);
}

TEST(GradientSyncTest, TheGroupVerdictSkipsOrStops) {
  auto model = Mlp(1);
  CompileSgd(*model, NonFinitePolicy::kSkipStep);
  auto sync = std::make_shared<RecordingSync>();
  sync->force_non_finite = true;  // another rank's loss was NaN
  model->set_gradient_sync(sync);
  const auto before = Weights(*model);
  auto step = model->TrainStep(Random({6, 4}, 2), Labels(6, 0));
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_FALSE(step->applied);
  EXPECT_EQ(Weights(*model), before);

  CompileSgd(*model, NonFinitePolicy::kStop);
  auto stopped = model->TrainStep(Random({6, 4}, 2), Labels(6, 0));
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(stopped.status().message().find("another rank"), std::string::npos) << stopped.status();
  EXPECT_EQ(Weights(*model), before);
}

TEST(GradientSyncTest, ALocalNanStillReportsEveryGradientToTheSync) {
  auto model = Mlp(1);
  CompileSgd(*model, NonFinitePolicy::kSkipStep);
  auto sync = std::make_shared<RecordingSync>();
  model->set_gradient_sync(sync);
  Tensor x = Random({6, 4}, 2);
  x.data<float>()[0] = NAN;
  auto step = model->TrainStep(x, Labels(6, 0));
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_FALSE(step->applied);
  EXPECT_EQ(sync->events.size(), 5u);  // four gradients and the Finish
  ASSERT_EQ(sync->steps.size(), 1u);
  EXPECT_TRUE(sync->steps[0].non_finite);
}

TEST(GradientSyncTest, AFailingFinishAbortsAndAppliesNothing) {
  auto model = Mlp(1);
  CompileSgd(*model);
  auto sync = std::make_shared<RecordingSync>();
  sync->finish_status = absl::UnavailableError("peer lost");
  model->set_gradient_sync(sync);
  const auto before = Weights(*model);
  auto step = model->TrainStep(Random({6, 4}, 2), Labels(6, 0));
  EXPECT_EQ(step.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sync->events.back(), "abort");
  EXPECT_EQ(Weights(*model), before);
}

TEST(GradientSyncTest, ACustomLoopCallsFinishGradients) {
  auto model = Mlp(1);
  auto sync = std::make_shared<RecordingSync>();
  sync->force_non_finite = true;
  model->set_gradient_sync(sync);
  auto ce = *MakeLoss("cross_entropy");
  auto out = model->ForwardAll({Random({6, 4}, 2)}, /*training=*/true);
  ASSERT_TRUE(out.ok());
  TensorList grads(1);
  const double loss = *ce->Compute((*out)[0], Labels(6, 0), &grads[0]);
  ASSERT_TRUE(model->BackwardAll(grads).ok());
  StepContext step{.loss = loss};
  ASSERT_TRUE(model->FinishGradients(step).ok());
  EXPECT_TRUE(step.non_finite);
  EXPECT_EQ(sync->events.back(), "finish");
  EXPECT_EQ(sync->events.size(), 5u);
}

TEST(GradientSyncTest, TheHookIsASyncAndSetGradReadyHookReplacesIt) {
  auto model = Mlp(1);
  CompileSgd(*model);
  std::vector<std::string> seen;
  model->SetGradReadyHook([&](Parameter& p) {
    seen.push_back(p.name);
    return absl::OkStatus();
  });
  ASSERT_NE(model->gradient_sync(), nullptr);
  ASSERT_TRUE(model->TrainStep(Random({6, 4}, 2), Labels(6, 0)).ok());
  EXPECT_EQ(seen.size(), 4u);
  model->SetGradReadyHook(nullptr);
  EXPECT_EQ(model->gradient_sync(), nullptr);
}

TEST(GradientSyncTest, GraphModelsReportSharedAndTiedParametersOnce) {
  GraphBuilder g;
  NodeRef tok = g.Input({2}, "tok");
  auto emb = *Embedding(10, 4);
  auto shared = *Dense(4);
  NodeRef h = g.Apply(Flatten(), g.Apply(emb, tok));
  h = g.Apply(shared, g.Apply(*Dense(4), h));
  h = g.Apply(shared, h);
  NodeRef logits = g.Attend(emb, h, "head");
  auto model = g.Finish({tok}, {logits}, 3);
  ASSERT_TRUE(model.ok()) << model.status();
  CompileSgd(**model);
  auto sync = std::make_shared<RecordingSync>();
  (*model)->set_gradient_sync(sync);
  Tensor x = *Tensor::Empty({5, 2}, DType::kInt64);
  for (int64_t i = 0; i < 10; ++i) x.data<int64_t>()[i] = i % 10;
  ASSERT_TRUE((*model)->TrainStep(x, Labels(5, 0)).ok());
  std::map<std::string, int> count;
  for (const std::string& e : sync->events) ++count[e];
  EXPECT_EQ(count["finish"], 1);
  EXPECT_EQ(sync->events.back(), "finish");
  for (Parameter* p : (*model)->parameters()) EXPECT_EQ(count["ready " + p->name], 1) << p->name;
  // The table last: after the head and the lookup.
  EXPECT_EQ(sync->events[sync->events.size() - 2], "ready " + emb->name() + ".embeddings");
}

// A barrier for a fixed number of threads, reusable.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t gen = generation_;
    if (++waiting_ == n_) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != gen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const int n_;
  int waiting_ = 0;
  uint64_t generation_ = 0;
};

// What a data-parallel reducer does, in memory: every rank's gradients are summed, divided by
// the number of ranks and written back on every rank; the non-finite verdicts are ORed.
class InMemoryGroup {
 public:
  explicit InMemoryGroup(int ranks) : ranks_(ranks), barrier_(ranks) {}

  Status AllReduce(const std::vector<Parameter*>& params, bool* non_finite) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Parameter* p : params) {
        std::vector<float>& sum = sums_[p->name];
        sum.resize(p->grad.numel(), 0.0f);
        const float* g = p->grad.data<float>();
        for (size_t i = 0; i < sum.size(); ++i) sum[i] += g[i];
      }
      any_non_finite_ = any_non_finite_ || *non_finite;
    }
    barrier_.Wait();  // every rank has added its share
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Parameter* p : params) {
        const std::vector<float>& sum = sums_.at(p->name);
        float* g = p->grad.data<float>();
        for (size_t i = 0; i < sum.size(); ++i) g[i] = sum[i] / static_cast<float>(ranks_);
      }
      *non_finite = any_non_finite_;
    }
    barrier_.Wait();  // every rank has read the result
    if (++reset_turn_ % ranks_ == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      sums_.clear();
      any_non_finite_ = false;
    }
    barrier_.Wait();  // the next step starts from zero
    return absl::OkStatus();
  }

 private:
  const int ranks_;
  Barrier barrier_;
  std::mutex mu_;
  std::map<std::string, std::vector<float>> sums_;
  bool any_non_finite_ = false;
  std::atomic<uint64_t> reset_turn_{0};
};

class RankSync : public GradientSync {
 public:
  explicit RankSync(InMemoryGroup& group) : group_(group) {}
  Status OnGradientReady(Parameter& param) override {
    ready_.push_back(&param);
    return absl::OkStatus();
  }
  Status Finish(StepContext& step) override {
    Status s = group_.AllReduce(ready_, &step.non_finite);
    ready_.clear();
    return s;
  }

 private:
  InMemoryGroup& group_;
  std::vector<Parameter*> ready_;
};

// Batch k of the whole data is rows [k * 8, k * 8 + 8); rank r trains on its half
// [k * 8 + 4r, k * 8 + 4r + 4).
constexpr int64_t kBatch = 8, kSteps = 6;

struct RankResult {
  std::vector<bool> applied;
  std::vector<Status> statuses;
};

RankResult TrainRank(Model& model, const Tensor& x, const Tensor& y, int rank, int64_t nan_step) {
  RankResult out;
  const int64_t half = kBatch / 2;
  for (int64_t k = 0; k < kSteps; ++k) {
    Tensor bx = *x.Slice(k * kBatch + rank * half, k * kBatch + (rank + 1) * half)->Clone();
    Tensor by = *y.Slice(k * kBatch + rank * half, k * kBatch + (rank + 1) * half);
    if (k == nan_step) bx.data<float>()[0] = NAN;
    StatusOr<StepResult> r = model.TrainStep(bx, by);
    out.statuses.push_back(r.status());
    out.applied.push_back(r.ok() && r->applied);
  }
  return out;
}

struct TwoRanks {
  std::unique_ptr<Sequential> models[2];
  RankResult results[2];
};

TwoRanks RunTwoRanks(NonFinitePolicy policy, int64_t nan_step, double clip = 0.0) {
  Tensor x = Random({kBatch * kSteps, 4}, 11);
  Tensor y = Labels(kBatch * kSteps, 5);
  InMemoryGroup group(2);
  TwoRanks run;
  std::thread threads[2];
  for (int r = 0; r < 2; ++r) {
    run.models[r] = Mlp(7);  // the same initial weights on both ranks
    CompileSgd(*run.models[r], policy, clip);
    run.models[r]->set_gradient_sync(std::make_shared<RankSync>(group));
  }
  for (int r = 0; r < 2; ++r) {
    threads[r] = std::thread(
        [&, r] { run.results[r] = TrainRank(*run.models[r], x, y, r, r == 0 ? nan_step : -1); });
  }
  for (auto& t : threads) t.join();
  return run;
}

TEST(GradientSyncTest, TwoRanksEndIdenticalAndEqualToOneModelOnWholeBatches) {
  TwoRanks run = RunTwoRanks(NonFinitePolicy::kStop, /*nan_step=*/-1, /*clip=*/0.5);
  for (int r = 0; r < 2; ++r) {
    for (const Status& s : run.results[r].statuses) ASSERT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(Weights(*run.models[0]), Weights(*run.models[1]));  // bit for bit

  auto single = Mlp(7);
  CompileSgd(*single, NonFinitePolicy::kStop, 0.5);
  Tensor x = Random({kBatch * kSteps, 4}, 11);
  Tensor y = Labels(kBatch * kSteps, 5);
  for (int64_t k = 0; k < kSteps; ++k) {
    ASSERT_TRUE(single
                    ->TrainStep(*x.Slice(k * kBatch, (k + 1) * kBatch),
                                *y.Slice(k * kBatch, (k + 1) * kBatch))
                    .ok());
  }
  const auto a = Weights(*run.models[0]), b = Weights(*single);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = 0; j < a[i].size(); ++j) EXPECT_NEAR(a[i][j], b[i][j], 1e-5) << i << "," << j;
  }
}

TEST(GradientSyncTest, ANanOnOneRankMakesBothSkip) {
  TwoRanks run = RunTwoRanks(NonFinitePolicy::kSkipStep, /*nan_step=*/2);
  for (int r = 0; r < 2; ++r) {
    for (const Status& s : run.results[r].statuses) ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(run.results[r].applied, (std::vector<bool>{true, true, false, true, true, true}))
        << "rank " << r;
    EXPECT_EQ(run.models[r]->optimizer()->steps(), kSteps - 1);
  }
  EXPECT_EQ(Weights(*run.models[0]), Weights(*run.models[1]));
  for (const auto& w : Weights(*run.models[0])) {
    for (float v : w) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(GradientSyncTest, ANanOnOneRankMakesBothStop) {
  TwoRanks run = RunTwoRanks(NonFinitePolicy::kStop, /*nan_step=*/2);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(run.results[r].statuses[2].code(), absl::StatusCode::kFailedPrecondition)
        << "rank " << r << ": " << run.results[r].statuses[2];
  }
  EXPECT_NE(run.results[1].statuses[2].message().find("another rank"), std::string::npos);
  EXPECT_EQ(Weights(*run.models[0]), Weights(*run.models[1]));
}

}  // namespace
}  // namespace mlcore::nn
