// Collectives with ranks as threads of this process, each with its own communicator, real TCP
// sockets and (for same_host_shm) a real shared-memory segment. tests/python/test_dist*.py runs
// the same with real processes.
#include "mlcore/dist/communicator.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "dist/dist_test_util.h"

namespace mlcore::dist {
namespace {

// Starts `world` ranks on a fresh tcp:// store (dist_test_util.h) and runs body(comm) on each,
// the ranks spread over `hosts` pretended hosts, shared memory on or off.
void RunRanks(int world, bool shm, const std::function<void(Communicator&)>& body,
              absl::Duration timeout = absl::Seconds(20), int hosts = 1) {
  testing::RanksOptions ranks;
  ranks.timeout = timeout;
  ranks.configure = [=](int r, InitOptions& options) {
    options.communicator.same_host_shm = shm;
    // Ranks 0..world/hosts-1 on "host 0", and so on.
    options.communicator.host_id = "host" + std::to_string(r * hosts / world);
  };
  testing::RunRanks(
      world,
      [&](std::shared_ptr<Communicator> comm) {
        EXPECT_EQ(comm->transport(), !shm ? "tcp" : hosts == 1 ? "shm" : "shm+tcp");
        body(*comm);
      },
      ranks);
}

class CommunicatorTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(CommunicatorTest, CollectivesMatchReference) {
  auto [world, shm] = GetParam();
  RunRanks(world, shm, [world = world](Communicator& comm) {
    int r = comm.rank();
    // Odd length, three shm chunks for float64 (4 MiB slots hold 524288 elements).
    for (int64_t n : {0, 1, 7, 1048577}) {
      std::vector<double> v(n);
      for (int64_t i = 0; i < n; ++i) v[i] = r + 1 + i % 5;
      Tensor t = *Tensor::FromVector(v, {n});
      ASSERT_TRUE(comm.AllReduce(t, ReduceOp::kSum).ok());
      for (int64_t i = 0; i < n; ++i) {
        double want = world * (world + 1) / 2.0 + world * (i % 5);
        ASSERT_EQ(t.data<double>()[i], want) << i;
      }
    }
    Tensor m = *Tensor::FromVector(std::vector<int32_t>{r, -r, 3}, {3});
    ASSERT_TRUE(comm.AllReduce(m, ReduceOp::kMax).ok());
    EXPECT_EQ(m.data<int32_t>()[0], world - 1);
    EXPECT_EQ(m.data<int32_t>()[1], 0);
    Tensor b = *Tensor::FromVector(std::vector<float>{float(r), float(r)}, {2});
    ASSERT_TRUE(comm.Broadcast(b, world - 1).ok());
    EXPECT_EQ(b.data<float>()[1], float(world - 1));
    Tensor in = *Tensor::FromVector(std::vector<int64_t>{r, r * 10}, {2});
    Tensor out = *Tensor::Zeros({2 * world}, DType::kInt64);
    ASSERT_TRUE(comm.AllGather(in, out).ok());
    for (int k = 0; k < world; ++k) EXPECT_EQ(out.data<int64_t>()[2 * k + 1], k * 10);
    ASSERT_TRUE(comm.Barrier().ok());
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, CommunicatorTest,
                         ::testing::Combine(::testing::Values(2, 3), ::testing::Bool()));

TEST(CommunicatorTest, TwoHostsReduceThroughLeaders) {
  RunRanks(
      4, true,
      [](Communicator& comm) {
        for (int64_t n : {1, 1048577}) {
          std::vector<float> v(n, float(comm.rank() + 1));
          Tensor t = *Tensor::FromVector(v, {n});
          ASSERT_TRUE(comm.AllReduce(t, ReduceOp::kSum).ok());
          EXPECT_EQ(t.data<float>()[n - 1], 10.0f);
          // Collectives other than allreduce keep working beside the leaders' context.
          Tensor b = *Tensor::FromVector(std::vector<int32_t>{comm.rank()}, {1});
          ASSERT_TRUE(comm.Broadcast(b, 3).ok());
          EXPECT_EQ(b.data<int32_t>()[0], 3);
        }
      },
      absl::Seconds(20), /*hosts=*/2);
}

// A blocking call issued behind queued async ones leaves the worker asleep for itself; the jobs
// ahead wake it, so everything completes, in issue order, on both paths (shm and tcp).
TEST(CommunicatorTest, BlockingCallBehindQueuedAsyncOnesCompletes) {
  for (bool shm : {true, false}) {
    RunRanks(2, shm, [](Communicator& comm) {
      std::vector<Tensor> queued;
      std::vector<std::shared_ptr<Work>> works;
      for (int k = 0; k < 3; ++k) {
        queued.push_back(*Tensor::FromVector<float>({static_cast<float>(comm.rank() + k)}, {1}));
        auto work = comm.AllReduceAsync(queued.back(), ReduceOp::kSum, kUseDefaultTimeout);
        ASSERT_TRUE(work.ok()) << work.status();
        works.push_back(*work);
      }
      Tensor last = *Tensor::FromVector<float>({10.0f * (comm.rank() + 1)}, {1});
      ASSERT_TRUE(comm.AllReduce(last, ReduceOp::kSum).ok());
      for (const auto& work : works) EXPECT_TRUE(work->IsCompleted());
      for (int k = 0; k < 3; ++k) EXPECT_EQ(queued[k].data<float>()[0], 1.0f + 2.0f * k);
      EXPECT_EQ(last.data<float>()[0], 30.0f);
      ASSERT_TRUE(comm.Barrier().ok());
    });
  }
}

TEST(CommunicatorFailureTest, LateRankIsNamed) {
  RunRanks(
      2, true,
      [](Communicator& comm) {
        if (comm.rank() == 1) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1500));
          return;
        }
        Tensor t = *Tensor::Zeros({4}, DType::kFloat32);
        Status s = comm.AllReduce(t, ReduceOp::kSum, absl::Milliseconds(500));
        ASSERT_FALSE(s.ok());
        EXPECT_NE(s.message().find("allreduce"), std::string::npos) << s;
        EXPECT_NE(s.message().find("[1]"), std::string::npos) << s;
        EXPECT_NE(s.message().find("500ms"), std::string::npos) << s;
        // Broken from now on, with the same error.
        EXPECT_EQ(comm.Barrier().message(), s.message());
      },
      absl::Seconds(10));
}

TEST(CommunicatorFailureTest, BadArgumentsFailOnTheCaller) {
  RunRanks(1, false, [](Communicator& comm) {
    Tensor t = *Tensor::Zeros({4}, DType::kInt32);
    Status avg = comm.AllReduce(t, ReduceOp::kAvg);
    EXPECT_TRUE(IsTypeError(avg)) << avg;
    EXPECT_EQ(comm.Broadcast(t, 3).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(comm.AllReduce(t).ok());
  });
}

}  // namespace
}  // namespace mlcore::dist
