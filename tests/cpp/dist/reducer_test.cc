// The reducer's gradient-as-bucket-view mode (what DataParallel picks for Sequential models): after
// the first step every gradient lies in its bucket, stays there step after step (the backward
// pass writes into it, the allreduce averages it in place, nothing is copied), and training ends
// bit-equal to the copying mode on the same ranks and batches.
#include "dist/reducer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "dist/dist_test_util.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/loss.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/optim/optimizer.h"
#include "nn/nn_test_util.h"

namespace mlcore::dist::internal {
namespace {

using dist::testing::RunRanks;
using nn::testing::Random;

std::unique_ptr<nn::Sequential> Mlp() {
  auto model = std::make_unique<nn::Sequential>(std::vector<std::shared_ptr<nn::Layer>>{
      *nn::Dense(16), nn::ReLU(), *nn::Dense(8), nn::ReLU(), *nn::Dense(3)});
  EXPECT_TRUE(model->Build({5}, 11).ok());
  return model;
}

struct Trained {
  std::vector<float> weights;
  std::vector<std::vector<const void*>> grad_addresses;  // per step after the first
  std::vector<int64_t> bucket_sizes;
};

// `steps` plain SGD steps of a custom loop on this rank's batch, through a Reducer installed by
// hand (so both modes run on the same model kind).
Trained Train(std::shared_ptr<Communicator> comm, bool views, int steps) {
  Trained out;
  auto model = Mlp();
  auto reducer = std::make_shared<Reducer>(
      comm, model->parameters(),
      ReducerOptions{
          .first_bucket_bytes = 400, .bucket_bytes = 1200, .grads_as_bucket_views = views});
  model->set_gradient_sync(reducer);
  auto loss = *nn::MakeLoss("cross_entropy");
  const Tensor x = Random({6, 5}, 20 + comm->rank());
  Tensor y = *Tensor::Empty({6}, DType::kInt64);
  for (int64_t i = 0; i < 6; ++i) y.data<int64_t>()[i] = (i + comm->rank()) % 3;
  for (int s = 0; s < steps; ++s) {
    auto fwd = model->ForwardAll({x}, true);
    EXPECT_TRUE(fwd.ok()) << fwd.status();
    Tensor grad;
    EXPECT_TRUE(loss->Compute((*fwd)[0], y, &grad).ok());
    EXPECT_TRUE(model->BackwardAll({grad}).ok());
    nn::StepContext step;
    Status finished = model->FinishGradients(step);
    EXPECT_TRUE(finished.ok()) << finished;
    std::vector<const void*> addresses;
    for (Parameter* p : model->parameters()) {
      addresses.push_back(p->grad.data());
      float* v = p->value.data<float>();
      const float* g = p->grad.data<float>();
      for (int64_t i = 0; i < p->value.numel(); ++i) v[i] -= 0.1f * g[i];
    }
    if (s > 0) out.grad_addresses.push_back(addresses);
  }
  for (Parameter* p : model->parameters()) {
    out.weights.insert(out.weights.end(), p->value.data<float>(),
                       p->value.data<float>() + p->value.numel());
  }
  out.bucket_sizes = reducer->bucket_sizes();
  return out;
}

TEST(ReducerTest, GradientsAreBucketViewsAndTrainBitEqualToCopies) {
  std::vector<Trained> viewed(2), copied(2);
  RunRanks(2, [&](std::shared_ptr<Communicator> comm) {
    viewed[comm->rank()] = Train(comm, true, 4);
    copied[comm->rank()] = Train(comm, false, 4);
  });
  for (int r = 0; r < 2; ++r) {
    const Trained& t = viewed[r];
    ASSERT_GT(t.bucket_sizes.size(), 1u) << "small caps: several buckets";
    // The same addresses every step: nothing replaced a gradient after the first.
    for (const auto& a : t.grad_addresses) EXPECT_EQ(a, t.grad_addresses[0]);
    // The gradients tile the buckets: sorted by address, each bucket's members are contiguous
    // and fill it (the last bucket also holds the 4-byte non-finite flag).
    auto model = Mlp();
    std::vector<std::pair<const char*, int64_t>> spans;
    const std::vector<Parameter*> params = model->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      spans.emplace_back(static_cast<const char*>(t.grad_addresses[0][i]),
                         static_cast<int64_t>(params[i]->grad.nbytes()));
    }
    std::sort(spans.begin(), spans.end());
    int64_t contiguous_bytes = spans[0].second, runs = 1, total = spans[0].second;
    for (size_t i = 1; i < spans.size(); ++i) {
      total += spans[i].second;
      if (spans[i - 1].first + spans[i - 1].second == spans[i].first) {
        contiguous_bytes += spans[i].second;
      } else {
        ++runs;
      }
    }
    int64_t bucket_total = 0;
    for (int64_t b : t.bucket_sizes) bucket_total += b;
    EXPECT_EQ(total + 4, bucket_total);
    EXPECT_LE(runs, static_cast<int64_t>(t.bucket_sizes.size()));
    EXPECT_GT(contiguous_bytes, spans[0].second);
    // The copying mode's gradients are the layers' own tensors, never in a bucket.
    EXPECT_NE(copied[r].grad_addresses[0], t.grad_addresses[0]);
  }
  EXPECT_EQ(viewed[0].weights, viewed[1].weights);
  EXPECT_EQ(viewed[0].weights, copied[0].weights);  // bit-equal
  EXPECT_EQ(copied[0].weights, copied[1].weights);
}

}  // namespace
}  // namespace mlcore::dist::internal
