#include "mlcore/pipeline/dag.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace mlcore::pipeline {
namespace {

TEST(RunDag, RunsEveryNodeAfterItsUpstream) {
  // A random DAG: edges only from lower to higher indices.
  const int n = 2000;
  std::mt19937 rng(7);
  std::vector<DagNode> nodes(n);
  for (int i = 1; i < n; ++i) {
    int k = rng() % 4;
    for (int j = 0; j < k; ++j) nodes[i].upstream.push_back(rng() % i);
  }
  std::vector<std::atomic<int>> done(n);
  std::atomic<int> violations{0};
  DagCallbacks cb;
  cb.run = [&](int32_t i, const std::vector<int>&) {
    for (int32_t u : nodes[i].upstream) {
      if (done[u].load() != 1) ++violations;
    }
    done[i].store(1);
    return NodeOutcome::kSucceeded;
  };
  auto stats = RunDag(nodes, cb, {.max_parallelism = 4});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->succeeded, n);
  EXPECT_EQ(violations.load(), 0);
}

TEST(RunDag, RespectsTheConcurrencyLimit) {
  std::vector<DagNode> nodes(24);
  std::atomic<int> running{0}, peak{0};
  DagCallbacks cb;
  cb.run = [&](int32_t, const std::vector<int>&) {
    int now = ++running;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --running;
    return NodeOutcome::kSucceeded;
  };
  ASSERT_TRUE(RunDag(nodes, cb, {.max_parallelism = 3}).ok());
  EXPECT_EQ(peak.load(), 3);
  peak = 0;
  // Nodes needing 2 CPU slots out of 4: at most two at once even with 8 workers.
  for (auto& n : nodes) n.cpu = 2;
  ASSERT_TRUE(RunDag(nodes, cb, {.max_parallelism = 8, .cpu_slots = 4}).ok());
  EXPECT_EQ(peak.load(), 2);
}

TEST(RunDag, GpuNodesWaitForADeviceWithoutBlockingCpuNodes) {
  // Three GPU nodes on one device, then ten CPU nodes: the CPU nodes all finish while the GPU
  // nodes take turns.
  std::vector<DagNode> nodes(13);
  for (int i = 0; i < 3; ++i) nodes[i].gpu = 1;
  std::atomic<int> gpu_running{0}, gpu_peak{0}, cpu_done{0};
  std::atomic<int> cpu_done_when_last_gpu_started{-1};
  std::atomic<int> gpu_started{0};
  DagCallbacks cb;
  cb.run = [&](int32_t i, const std::vector<int>&) {
    if (nodes[i].gpu > 0) {
      int now = ++gpu_running;
      gpu_peak = std::max(gpu_peak.load(), now);
      if (++gpu_started == 3) cpu_done_when_last_gpu_started = cpu_done.load();
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      --gpu_running;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      ++cpu_done;
    }
    return NodeOutcome::kSucceeded;
  };
  ASSERT_TRUE(RunDag(nodes, cb, {.max_parallelism = 4, .gpu_slots = 1}).ok());
  EXPECT_EQ(gpu_peak.load(), 1);
  EXPECT_EQ(cpu_done.load(), 10);
  // By the time the third GPU node could start (~60 ms in), the CPU nodes were long done.
  EXPECT_EQ(cpu_done_when_last_gpu_started.load(), 10);
}

TEST(RunDag, RunningGpuNodesHoldDistinctDevices) {
  std::vector<DagNode> nodes(8);
  for (auto& n : nodes) n.gpu = 1;
  nodes[7].gpu = 2;
  std::mutex mu;
  std::vector<int> held(2, 0);
  int clashes = 0, wrong_count = 0;
  DagCallbacks cb;
  cb.run = [&](int32_t i, const std::vector<int>& gpus) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (static_cast<int>(gpus.size()) != nodes[i].gpu) ++wrong_count;
      for (int d : gpus) clashes += held.at(d)++ > 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    std::lock_guard<std::mutex> lock(mu);
    for (int d : gpus) --held.at(d);
    return NodeOutcome::kSucceeded;
  };
  ASSERT_TRUE(RunDag(nodes, cb, {.max_parallelism = 4, .gpu_slots = 2}).ok());
  EXPECT_EQ(clashes, 0);
  EXPECT_EQ(wrong_count, 0);
}

TEST(RunDag, FailureSkipsDownstreamWhileIndependentBranchesFinish) {
  // 0 -> 1 -> 2 ; 3 -> 4 ; 5 (run_always) after 1
  std::vector<DagNode> nodes(6);
  nodes[1].upstream = {0};
  nodes[2].upstream = {1};
  nodes[4].upstream = {3};
  nodes[5].upstream = {1};
  nodes[5].run_always = true;
  std::vector<int> ran(6, 0), skipped(6, 0);
  std::mutex mu;
  DagCallbacks cb;
  cb.run = [&](int32_t i, const std::vector<int>&) {
    std::lock_guard<std::mutex> lock(mu);
    ran[i] = 1;
    return i == 0 ? NodeOutcome::kFailed : NodeOutcome::kSucceeded;
  };
  cb.on_skip = [&](int32_t i) {
    std::lock_guard<std::mutex> lock(mu);
    skipped[i] = 1;
  };
  auto stats = RunDag(nodes, cb, {.max_parallelism = 2});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(ran, (std::vector<int>{1, 0, 0, 1, 1, 1}));
  EXPECT_EQ(skipped, (std::vector<int>{0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(stats->failed, 1);
  EXPECT_EQ(stats->skipped, 2);
  EXPECT_EQ(stats->succeeded, 3);
}

TEST(RunDag, RejectsCyclesAndBadIndices) {
  std::vector<DagNode> nodes(3);
  nodes[0].upstream = {2};
  nodes[2].upstream = {0};
  DagCallbacks cb;
  cb.run = [](int32_t, const std::vector<int>&) { return NodeOutcome::kSucceeded; };
  auto st = RunDag(nodes, cb);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.status().message()).find("cycle"), std::string::npos);
  nodes[0].upstream = {9};
  EXPECT_EQ(RunDag(nodes, cb).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RunDag, NodeNeedingMoreGpusThanExistIsUnrunnable) {
  std::vector<DagNode> nodes(3);
  nodes[0].gpu = 2;
  nodes[1].upstream = {0};
  std::atomic<int> unrunnable{0}, skipped{0}, ran{0};
  DagCallbacks cb;
  cb.run = [&](int32_t, const std::vector<int>&) {
    ++ran;
    return NodeOutcome::kSucceeded;
  };
  cb.on_skip = [&](int32_t) { ++skipped; };
  cb.on_unrunnable = [&](int32_t, const Status& why) {
    EXPECT_NE(std::string(why.message()).find("needs 2 GPU(s) but only 1"), std::string::npos);
    ++unrunnable;
  };
  auto stats = RunDag(nodes, cb, {.max_parallelism = 2, .gpu_slots = 1});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(unrunnable.load(), 1);
  EXPECT_EQ(skipped.load(), 1);
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace mlcore::pipeline
