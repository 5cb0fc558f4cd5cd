#include "mlcore/dist/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace mlcore::dist {
namespace {

std::vector<std::vector<int64_t>> Shards(int64_t n, int world, bool shuffle, bool drop_last,
                                         int64_t epoch, uint64_t seed = 7) {
  std::vector<std::vector<int64_t>> out;
  for (int r = 0; r < world; ++r) {
    StatusOr<DistributedSampler> s = DistributedSampler::Create({.num_samples = n,
                                                                 .rank = r,
                                                                 .world_size = world,
                                                                 .shuffle = shuffle,
                                                                 .seed = seed,
                                                                 .drop_last = drop_last});
    EXPECT_TRUE(s.ok()) << s.status();
    out.push_back(s->Indices(epoch));
  }
  return out;
}

TEST(DistributedSamplerTest, DisjointShardsCoverEverySampleWhenDivisible) {
  auto shards = Shards(12, 3, /*shuffle=*/true, false, 0);
  std::set<int64_t> seen;
  for (const auto& s : shards) {
    EXPECT_EQ(s.size(), 4u);
    for (int64_t i : s) EXPECT_TRUE(seen.insert(i).second) << "sample " << i << " twice";
  }
  EXPECT_EQ(seen.size(), 12u);
}

TEST(DistributedSamplerTest, PaddingGivesEqualShardsAndRepeatsFewSamples) {
  auto shards = Shards(10, 4, true, false, 3);
  std::multiset<int64_t> seen;
  for (const auto& s : shards) {
    EXPECT_EQ(s.size(), 3u);
    seen.insert(s.begin(), s.end());
  }
  EXPECT_EQ(seen.size(), 12u);
  for (int64_t i = 0; i < 10; ++i) EXPECT_GE(seen.count(i), 1u) << i;
}

TEST(DistributedSamplerTest, DropLastCutsToAMultiple) {
  auto shards = Shards(10, 4, true, /*drop_last=*/true, 0);
  std::set<int64_t> seen;
  for (const auto& s : shards) {
    EXPECT_EQ(s.size(), 2u);
    for (int64_t i : s) EXPECT_TRUE(seen.insert(i).second);
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST(DistributedSamplerTest, EpochsReshuffleAndRanksAgree) {
  auto e0 = Shards(100, 2, true, false, 0);
  auto e0_again = Shards(100, 2, true, false, 0);
  auto e1 = Shards(100, 2, true, false, 1);
  EXPECT_EQ(e0, e0_again);
  EXPECT_NE(e0, e1);
  // Interleaving the shards gives back the epoch's global order, the one Fit draws.
  std::vector<int64_t> order = EpochOrder(100, true, 7, 1);
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(e1[i % 2][i / 2], order[i]);
  auto plain = Shards(6, 2, /*shuffle=*/false, false, 5);
  EXPECT_EQ(plain[0], (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(plain[1], (std::vector<int64_t>{1, 3, 5}));
}

TEST(DistributedSamplerTest, BadOptionsNameTheField) {
  EXPECT_FALSE(DistributedSampler::Create({.num_samples = -1}).ok());
  StatusOr<DistributedSampler> s =
      DistributedSampler::Create({.num_samples = 4, .rank = 2, .world_size = 2});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("rank 2"), std::string::npos);
  EXPECT_FALSE(DistributedSampler::Create({.num_samples = 4, .world_size = 0}).ok());
  StatusOr<DistributedSampler> empty =
      DistributedSampler::Create({.num_samples = 0, .world_size = 3});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->Indices(0).empty());
}

std::vector<float> ShardValues(const std::shared_ptr<nn::Dataset>& ds) {
  std::vector<float> out;
  auto it = ds->MakeIterator(0);
  EXPECT_TRUE(it.ok());
  nn::Element e;
  while (true) {
    StatusOr<bool> more = (*it)->Next(&e);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back(*static_cast<const float*>(e.inputs[0].data()));
  }
  return out;
}

TEST(ShardDatasetTest, EqualCountsWithPaddingOrDropping) {
  std::vector<float> values = {0, 1, 2, 3, 4, 5, 6};
  StatusOr<Tensor> x = Tensor::FromVector(values, {7, 1});
  StatusOr<Tensor> y = Tensor::FromVector(values, {7});
  ASSERT_TRUE(x.ok() && y.ok());
  auto ds = nn::Dataset::FromTensors({*x}, {*y});
  ASSERT_TRUE(ds.ok()) << ds.status();
  std::vector<std::vector<float>> padded, dropped;
  for (int r = 0; r < 3; ++r) {
    auto p = ShardDataset(*ds, r, 3, false);
    auto d = ShardDataset(*ds, r, 3, true);
    ASSERT_TRUE(p.ok() && d.ok());
    padded.push_back(ShardValues(*p));
    dropped.push_back(ShardValues(*d));
  }
  EXPECT_EQ(padded[0], (std::vector<float>{0, 3, 6}));
  EXPECT_EQ(padded[1], (std::vector<float>{1, 4, 6}));  // the last group {6} wraps
  EXPECT_EQ(padded[2], (std::vector<float>{2, 5, 6}));
  EXPECT_EQ(dropped[0], (std::vector<float>{0, 3}));
  EXPECT_EQ(dropped[2], (std::vector<float>{2, 5}));
  auto batched = (*ds)->Batch(2);
  ASSERT_TRUE(batched.ok());
  EXPECT_FALSE(ShardDataset(*batched, 0, 2).ok());
  EXPECT_FALSE(ShardDataset(*ds, 3, 3).ok());
}

}  // namespace
}  // namespace mlcore::dist
