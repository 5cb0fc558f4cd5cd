// SyncBatchNorm with ranks as threads of this process, each with its own layer and a real gloo
// communicator over a real tcp:// store, against nn's BatchNorm on the concatenated batch in one
// process: outputs, running statistics, the input gradient and the summed parameter gradients
// agree; without a group the layer is an ordinary BatchNorm.
#include "mlcore/dist/sync_batch_norm.h"

#include <gtest/gtest.h>

#include <functional>

#include "dist/dist_test_util.h"
#include "nn/nn_test_util.h"

namespace mlcore::dist {
namespace {

using dist::testing::RunRanks;
using nn::testing::Random;

// Rows [begin, end) of a [N, ...] tensor, copied.
Tensor Rows(const Tensor& t, int64_t begin, int64_t end) {
  Shape shape = t.shape();
  const int64_t row = t.numel() / shape[0];
  shape[0] = end - begin;
  Tensor out = *Tensor::Empty(shape, DType::kFloat32);
  std::copy(t.data<float>() + begin * row, t.data<float>() + end * row, out.data<float>());
  return out;
}

void ExpectNear(const float* a, const float* b, int64_t n, float tol, const char* what) {
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[i], b[i], tol) << what << " element " << i;
}

// gamma and beta set to distinct values, so a mix-up of channels shows.
void SetAffine(nn::Layer& layer) {
  std::vector<Parameter*> p = layer.parameters();
  for (int64_t c = 0; c < p[0]->value.numel(); ++c) {
    p[0]->value.data<float>()[c] = 0.5f + 0.25f * static_cast<float>(c);
    p[1]->value.data<float>()[c] = -0.1f * static_cast<float>(c);
  }
}

struct Result {
  Tensor y, dx, dgamma, dbeta, running_mean, running_var;
};

Result TrainPass(nn::Layer& layer, const Tensor& x, const Tensor& dy) {
  Result r;
  r.y = *layer.Forward(x, true);
  r.dx = *layer.Backward(dy);
  r.dgamma = *layer.parameters()[0]->grad.Clone();
  r.dbeta = *layer.parameters()[1]->grad.Clone();
  r.running_mean = *layer.buffers()[0]->value.Clone();
  r.running_var = *layer.buffers()[1]->value.Clone();
  return r;
}

TEST(SyncBatchNormTest, TwoRanksMatchOneBatchNormOnTheConcatenatedBatch) {
  const Shape per_sample = {3, 4, 5};
  // An offset far from zero: the statistics must not cancel.
  const Tensor x = Random({10, 3, 4, 5}, 7, 40.0f, 44.0f);
  const Tensor dy = Random({10, 3, 4, 5}, 8);
  auto reference = *nn::BatchNorm2d();
  ASSERT_TRUE(reference->Build(per_sample, 0).ok());
  SetAffine(*reference);
  const Result want = TrainPass(*reference, x, dy);
  // Uneven shares (6 and 4 samples): the counts are weighed, not assumed equal.
  const int64_t split = 6;
  std::vector<Result> got(2);
  RunRanks(2, [&](std::shared_ptr<Communicator> comm) {
    const int r = comm->rank();
    auto layer = *SyncBatchNorm2d();
    ASSERT_TRUE(layer->Build(per_sample, 0).ok());
    SetAffine(*layer);
    ASSERT_TRUE(SetSyncBatchNormGroup(*layer, comm).ok());
    const int64_t begin = r == 0 ? 0 : split, end = r == 0 ? split : 10;
    got[r] = TrainPass(*layer, Rows(x, begin, end), Rows(dy, begin, end));
  });
  const int64_t row = 3 * 4 * 5;
  for (int r = 0; r < 2; ++r) {
    const int64_t offset = r == 0 ? 0 : split * row;
    ExpectNear(got[r].y.data<float>(), want.y.data<float>() + offset, got[r].y.numel(), 1e-4f, "y");
    ExpectNear(got[r].dx.data<float>(), want.dx.data<float>() + offset, got[r].dx.numel(), 1e-4f,
               "dx");
    ExpectNear(got[r].running_mean.data<float>(), want.running_mean.data<float>(), 3, 1e-4f,
               "running mean");
    ExpectNear(got[r].running_var.data<float>(), want.running_var.data<float>(), 3, 1e-4f,
               "running var");
  }
  // The parameters' gradients are each rank's sums: together the one process's.
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(got[0].dgamma.data<float>()[c] + got[1].dgamma.data<float>()[c],
                want.dgamma.data<float>()[c], 1e-3f);
    EXPECT_NEAR(got[0].dbeta.data<float>()[c] + got[1].dbeta.data<float>()[c],
                want.dbeta.data<float>()[c], 1e-3f);
  }
}

TEST(SyncBatchNormTest, WithoutAGroupItIsBatchNorm) {
  const Tensor x = Random({6, 4}, 1);
  const Tensor dy = Random({6, 4}, 2);
  auto plain = *nn::BatchNorm1d();
  auto sync = *SyncBatchNorm1d();
  ASSERT_TRUE(plain->Build({4}, 0).ok());
  ASSERT_TRUE(sync->Build({4}, 0).ok());
  const Result a = TrainPass(*plain, x, dy), b = TrainPass(*sync, x, dy);
  ExpectNear(a.y.data<float>(), b.y.data<float>(), 24, 1e-5f, "y");
  ExpectNear(a.dx.data<float>(), b.dx.data<float>(), 24, 1e-5f, "dx");
  ExpectNear(a.running_var.data<float>(), b.running_var.data<float>(), 4, 1e-6f, "running var");
  // Inference uses the running statistics.
  Tensor pa = *plain->Forward(x, false), pb = *sync->Forward(x, false);
  ExpectNear(pa.data<float>(), pb.data<float>(), 24, 1e-5f, "inference");
}

TEST(SyncBatchNormTest, ConvertReplacesUnbuiltBatchNormsAndRegistersTheType) {
  std::vector<std::shared_ptr<nn::Layer>> layers = {*nn::BatchNorm2d({0.2, 1e-3}), nn::ReLU()};
  layers[0]->set_name("bn");
  auto converted = ConvertSyncBatchNorm(layers);
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ((*converted)[0]->type(), "sync_batch_norm2d");
  EXPECT_EQ((*converted)[0]->name(), "bn");
  EXPECT_DOUBLE_EQ((*converted)[0]->config().at("momentum"), 0.2);
  EXPECT_EQ((*converted)[1], layers[1]);
  EXPECT_TRUE(IsSyncBatchNorm(**converted->begin()));
  auto rebuilt = nn::CreateLayer("sync_batch_norm1d", {{"eps", 1e-3}});
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_TRUE(IsSyncBatchNorm(**rebuilt));
  ASSERT_TRUE(layers[0]->Build({2, 3, 3}, 0).ok());
  EXPECT_EQ(ConvertSyncBatchNorm(layers).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(SetSyncBatchNormGroup(*layers[1], nullptr).ok());
}

}  // namespace
}  // namespace mlcore::dist
