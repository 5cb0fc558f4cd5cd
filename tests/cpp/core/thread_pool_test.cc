#include "mlcore/core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace mlcore {
namespace {

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(100003);
  pool.ParallelFor(hits.size(), 1000, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
}

TEST(ThreadPoolTest, SmallRangesRunInline) {
  ThreadPool pool(4);
  int calls = 0;
  pool.ParallelFor(10, 100, [&](int64_t b, int64_t e) {
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 10);
  });
  EXPECT_EQ(calls, 1);
  pool.ParallelFor(0, 1, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPoolTest, NestedParallelForFromEveryWorkerFinishes) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  // Every worker runs an outer chunk that itself calls ParallelFor: helpers queue behind busy
  // workers, and the callers must finish their inner loops without them.
  pool.ParallelFor(2, 1, [&](int64_t, int64_t) {
    pool.ParallelFor(1000, 10, [&](int64_t b, int64_t e) { total += e - b; });
  });
  EXPECT_EQ(total.load(), 2000);
}

TEST(ThreadPoolTest, ScheduleRunsEverythingBeforeDestruction) {
  std::atomic<int> done{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 200; ++i) pool.Schedule([&] { done.fetch_add(1); });
  }
  EXPECT_EQ(done.load(), 200);
}

TEST(ThreadPoolTest, DefaultPoolExists) { EXPECT_GE(ThreadPool::Default().num_threads(), 1); }

}  // namespace
}  // namespace mlcore
