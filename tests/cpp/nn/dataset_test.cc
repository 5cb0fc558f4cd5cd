// Datasets: per-seed reproducible shuffling that sees every example once per epoch, batching
// with and without the remainder, map, prefetch on another thread (checked by thread id),
// errors from generators and map functions, early stop without hanging, and Fit on a Dataset.
#include "mlcore/nn/dataset.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "mlcore/nn/layers.h"
#include "mlcore/nn/sequential.h"
#include "nn/nn_test_util.h"

namespace mlcore::nn {
namespace {

// x[i] = {i, -i}, y[i] = i.
std::shared_ptr<Dataset> Numbers(int64_t n) {
  Tensor x = *Tensor::Empty({n, 2}, DType::kFloat32);
  Tensor y = *Tensor::Empty({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    x.data<float>()[2 * i] = static_cast<float>(i);
    x.data<float>()[2 * i + 1] = -static_cast<float>(i);
    y.data<int64_t>()[i] = i;
  }
  auto ds = Dataset::FromTensors({x}, {y});
  EXPECT_TRUE(ds.ok()) << ds.status();
  return *ds;
}

// The targets of one pass, batch by batch flattened.
std::vector<int64_t> Pass(const Dataset& ds, int epoch,
                          std::vector<int64_t>* batch_sizes = nullptr) {
  auto it = ds.MakeIterator(epoch);
  EXPECT_TRUE(it.ok()) << it.status();
  std::vector<int64_t> out;
  Element e;
  for (;;) {
    auto more = (*it)->Next(&e);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    const Tensor& y = e.targets[0];
    const int64_t n = y.dim() == 0 ? 1 : y.shape()[0];
    if (batch_sizes) batch_sizes->push_back(n);
    for (int64_t i = 0; i < n; ++i) {
      out.push_back(y.data<int64_t>()[i]);
      // Inputs stay paired with their targets through every stage.
      EXPECT_EQ(e.inputs[0].data<float>()[2 * i], static_cast<float>(y.data<int64_t>()[i]));
    }
  }
  return out;
}

TEST(DatasetTest, ShuffleIsReproduciblePerSeedAndSeesEveryExampleOncePerEpoch) {
  auto base = Numbers(100);
  auto a = *(*(*base->Shuffle(100, 42))->Batch(16))->Prefetch(2);
  auto b = *(*(*base->Shuffle(100, 42))->Batch(16))->Prefetch(2);
  auto c = *(*base->Shuffle(100, 43))->Batch(16);
  std::vector<int64_t> e0 = Pass(*a, 0), e1 = Pass(*a, 1);
  EXPECT_EQ(e0, Pass(*b, 0));
  EXPECT_EQ(e1, Pass(*b, 1));
  EXPECT_NE(e0, e1);           // reshuffled per epoch
  EXPECT_NE(e0, Pass(*c, 0));  // another seed, another order
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(100);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all);
  std::sort(e1.begin(), e1.end());
  EXPECT_EQ(e1, all);
  // A small buffer still yields every example exactly once.
  std::vector<int64_t> small = Pass(**base->Shuffle(7, 1), 0);
  std::sort(small.begin(), small.end());
  EXPECT_EQ(small, all);
}

TEST(DatasetTest, BatchKeepsOrDropsTheRemainder) {
  auto base = Numbers(10);
  std::vector<int64_t> sizes;
  Pass(**base->Batch(4), 0, &sizes);
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  sizes.clear();
  Pass(**base->Batch(4, /*drop_remainder=*/true), 0, &sizes);
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4}));
  EXPECT_FALSE(base->Batch(0).ok());
  EXPECT_EQ((*base->Batch(2))->Batch(2).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DatasetTest, MapAppliesPerBatchAndItsErrorsSurface) {
  auto batched = *Numbers(8)->Batch(4);
  auto doubled = batched->Map([](Element e) -> StatusOr<Element> {
    float* x = e.inputs[0].data<float>();
    for (int64_t i = 0; i < e.inputs[0].numel(); ++i) x[i] *= 2;
    return e;
  });
  auto it = *doubled->MakeIterator(0);
  Element e;
  ASSERT_TRUE(*it->Next(&e));
  EXPECT_EQ(e.inputs[0].shape(), (Shape{4, 2}));
  EXPECT_EQ(e.inputs[0].data<float>()[2], 2.0f);  // x[1][0] = 1 doubled

  auto failing = *batched
                      ->Map([](Element) -> StatusOr<Element> {
                        return absl::InvalidArgumentError("bad pixel in batch");
                      })
                      ->Prefetch(2);
  auto it2 = *failing->MakeIterator(0);
  auto r = it2->Next(&e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("bad pixel in batch"), std::string::npos) << r.status();
}

TEST(DatasetTest, PrefetchProducesOnAnotherThread) {
  std::mutex mu;
  std::set<std::thread::id> producers;
  auto ds = *(*Numbers(32)->Batch(4))
                 ->Map([&](Element e) -> StatusOr<Element> {
                   std::lock_guard<std::mutex> lock(mu);
                   producers.insert(std::this_thread::get_id());
                   return e;
                 })
                 ->Prefetch(2);
  EXPECT_EQ(Pass(*ds, 0).size(), 32u);
  ASSERT_EQ(producers.size(), 1u);
  EXPECT_NE(*producers.begin(), std::this_thread::get_id());
}

TEST(DatasetTest, GeneratorRestartsEachEpochAndItsErrorsSurface) {
  std::atomic<int> starts{0};
  auto gen = Dataset::FromGenerator([&]() -> StatusOr<Dataset::NextFn> {
    ++starts;
    auto i = std::make_shared<int64_t>(0);
    return Dataset::NextFn([i](Element* out) -> StatusOr<bool> {
      if (*i == 5) return false;
      if (*i == 3 && out->inputs.size() == 99) return absl::InternalError("never");
      out->inputs = {*Tensor::FromVector<float>({static_cast<float>(*i), 0.0f}, {2})};
      out->targets = {*Tensor::FromVector<int64_t>({*i}, {})};
      ++*i;
      return true;
    });
  });
  auto batched = *(*gen->Batch(2))->Prefetch(1);
  std::vector<int64_t> sizes;
  EXPECT_EQ(Pass(*batched, 0, &sizes), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(sizes, (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(Pass(*batched, 1).size(), 5u);
  EXPECT_EQ(starts.load(), 2);

  auto broken = *Dataset::FromGenerator([]() -> StatusOr<Dataset::NextFn> {
                   return Dataset::NextFn([](Element*) -> StatusOr<bool> {
                     return absl::DataLossError("shard 3 is truncated");
                   });
                 })->Prefetch(2);
  Element e;
  auto r = (*broken->MakeIterator(0))->Next(&e);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("shard 3 is truncated"), std::string::npos);
}

TEST(DatasetTest, StoppingEarlyShutsThePrefetchThreadDown) {
  // An endless generator behind a full prefetch queue: dropping the iterator must not hang.
  std::atomic<int64_t> produced{0};
  auto endless = Dataset::FromGenerator(
      [&]() -> StatusOr<Dataset::NextFn> {
        return Dataset::NextFn([&](Element* out) -> StatusOr<bool> {
          out->inputs = {*Tensor::Zeros({1, 2}, DType::kFloat32)};
          out->targets = {*Tensor::Zeros({1}, DType::kInt64)};
          ++produced;
          return true;
        });
      },
      /*batched=*/true);
  auto ds = *endless->Prefetch(3);
  for (int round = 0; round < 20; ++round) {
    auto it = *ds->MakeIterator(0);
    Element e;
    ASSERT_TRUE(*it->Next(&e));
  }  // each iterator is destroyed with its producer blocked on a full queue
  EXPECT_GE(produced.load(), 20);
}

TEST(DatasetTest, BatchNamesTheExampleWithAnotherShape) {
  auto gen = Dataset::FromGenerator([]() -> StatusOr<Dataset::NextFn> {
    auto i = std::make_shared<int>(0);
    return Dataset::NextFn([i](Element* out) -> StatusOr<bool> {
      if (*i == 3) return false;
      out->inputs = {*Tensor::Zeros({*i == 2 ? 3 : 2}, DType::kFloat32)};
      out->targets = {*Tensor::Zeros({}, DType::kInt64)};
      ++*i;
      return true;
    });
  });
  Element e;
  auto r = (*(*gen->Batch(4))->MakeIterator(0))->Next(&e);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("example 2"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("[3]"), std::string::npos) << r.status();
}

TEST(DatasetTest, FitAndEvaluateOnADataset) {
  // Two Gaussian classes in 4 dimensions.
  const int64_t n = 256;
  Tensor x = testing::Random({n, 4}, 5);
  Tensor y = *Tensor::Empty({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    y.data<int64_t>()[i] = i % 2;
    x.data<float>()[i * 4] += (i % 2) ? 2.0f : -2.0f;
  }
  auto ds = *(*(*(*Dataset::FromTensors({x}, {y}))->Shuffle(n, 0))->Batch(32))->Prefetch(2);
  Sequential model({*Dense(8), ReLU(), *Dense(2)});
  CompileOptions c;
  c.optimizer = *optim::Adam({.lr = 0.02});
  c.metrics = {"accuracy"};
  ASSERT_TRUE(model.Compile(c).ok());
  FitOptions f;
  f.epochs = 10;
  f.validation_dataset = *(*Dataset::FromTensors({x}, {y}))->Batch(64);
  auto h = model.Fit(*ds, f);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_GT(h->metrics["val_accuracy"].back(), 0.95);
  auto eval = model.Evaluate(*f.validation_dataset);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_DOUBLE_EQ((*eval)["accuracy"], h->metrics["val_accuracy"].back());
  // Unbatched data is refused with the fix in the message; a callback stopping early returns.
  auto unbatched = model.Fit(**Dataset::FromTensors({x}, {y}), f);
  EXPECT_NE(unbatched.status().message().find("Batch"), std::string::npos);
  f.callbacks = {LambdaCallback([](int, const Logs&) -> StatusOr<bool> { return true; })};
  auto stopped = model.Fit(*ds, f);
  ASSERT_TRUE(stopped.ok());
  EXPECT_TRUE(stopped->stopped_early);
  EXPECT_EQ(stopped->epochs_run, 1);
}

TEST(DatasetTest, FromTensorsChecksRowCounts) {
  auto ds =
      Dataset::FromTensors({testing::Random({4, 2}, 1)}, {*Tensor::Zeros({3}, DType::kInt64)});
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("target 0"), std::string::npos) << ds.status();
}

}  // namespace
}  // namespace mlcore::nn
