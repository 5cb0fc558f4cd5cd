#include "mlcore/dist/launch.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "mlcore/dist/env.h"

namespace mlcore::dist {
namespace {

// Collects the workers' lines by rank.
struct Lines {
  std::mutex mu;
  std::map<int, std::vector<std::string>> out;
  void Attach(LaunchOptions& o) {
    o.on_line = [this](int rank, std::string_view line, bool) {
      std::lock_guard<std::mutex> lock(mu);
      out[rank].emplace_back(line);
    };
  }
};

// A group of workers started by Launch with its lines collected; Run requires the launch and
// every worker to succeed.
struct Group {
  LaunchOptions options;
  Lines lines;
  LaunchResult result;
  void Run() {
    lines.Attach(options);
    StatusOr<LaunchResult> r = Launch(options);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->ok) << r->Describe();
    result = *std::move(r);
  }
};

LaunchOptions Shell(const std::string& script, int nproc) {
  LaunchOptions o;
  o.command = {"/bin/sh", "-c", script};
  o.nproc_per_node = nproc;
  o.stop_grace = absl::Seconds(2);
  return o;
}

// Each worker prints its launcher variables on one line, its port on the next.
constexpr char kPrintEnvironment[] =
    "echo \"$RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $GROUP_RANK $MASTER_ADDR "
    "$MLCORE_RESTART_COUNT $TORCHELASTIC_RESTART_COUNT\"; echo port=$MASTER_PORT";

// Rank 1 fails in the first two runs of the group.
constexpr char kRankOneFailsTwice[] =
    "echo run $MLCORE_RESTART_COUNT; if [ \"$MLCORE_RESTART_COUNT\" -lt 2 ] && "
    "[ \"$RANK\" = 1 ]; then exit 1; fi; sleep 0.2";

TEST(LaunchTest, WorkersGetTorchrunEnvironmentAndPrefixedLines) {
  Group g{Shell(kPrintEnvironment, 3)};
  g.options.threads_per_worker = 1;
  ASSERT_NO_FATAL_FAILURE(g.Run());
  EXPECT_EQ(g.result.ExitCode(), 0);
  EXPECT_GT(g.result.master_port, 0);
  for (int rank = 0; rank < 3; ++rank) {
    ASSERT_EQ(g.lines.out[rank].size(), 2u) << rank;
    EXPECT_EQ(g.lines.out[rank][0],
              std::to_string(rank) + " 3 " + std::to_string(rank) + " 3 0 127.0.0.1 0 0");
    EXPECT_EQ(g.lines.out[rank][1], "port=" + std::to_string(g.result.master_port));
  }
}

TEST(LaunchTest, WorkerEnvOfASecondNode) {
  LaunchOptions o = Shell("true", 2);
  o.nnodes = 2;
  o.node_rank = 1;
  o.master_addr = "10.1.2.3";
  o.master_port = 29500;
  o.threads_per_worker = 3;
  std::map<std::string, std::string> env = WorkerEnv(o, 1, 29500, 2);
  EXPECT_EQ(env["RANK"], "3");
  EXPECT_EQ(env["WORLD_SIZE"], "4");
  EXPECT_EQ(env["LOCAL_RANK"], "1");
  EXPECT_EQ(env["GROUP_RANK"], "1");
  EXPECT_EQ(env["GROUP_WORLD_SIZE"], "2");
  EXPECT_EQ(env["MASTER_ADDR"], "10.1.2.3");
  EXPECT_EQ(env["MASTER_PORT"], "29500");
  EXPECT_EQ(env["MLCORE_RESTART_COUNT"], "2");
  EXPECT_EQ(env["TORCHELASTIC_RESTART_COUNT"], "2");
}

// One worker fails while the other would run for a minute: the other is stopped within the
// grace period and the failure names the rank and its status.
TEST(LaunchTest, AFailingWorkerStopsTheOthers) {
  LaunchOptions o = Shell("if [ \"$RANK\" = 1 ]; then sleep 0.3; exit 3; fi; exec sleep 60", 2);
  const absl::Time start = absl::Now();
  StatusOr<LaunchResult> r = Launch(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->failed_rank, 1);
  EXPECT_EQ(r->Describe(), "rank 1 exited with status 3");
  EXPECT_EQ(r->ExitCode(), 3);
}

TEST(LaunchTest, AKilledWorkerIsNamedWithItsSignal) {
  LaunchOptions o = Shell("if [ \"$RANK\" = 0 ]; then kill -9 $$; fi; exec sleep 60", 2);
  StatusOr<LaunchResult> r = Launch(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->failed_rank, 0);
  EXPECT_TRUE(absl::StrContains(r->Describe(), "rank 0 was killed by signal 9")) << r->Describe();
  EXPECT_EQ(r->ExitCode(), 128 + 9);
}

// The group fails in its first two runs and succeeds in the third; each run sees its count.
TEST(LaunchTest, RestartsTheGroupWithTheRestartCount) {
  Group g{Shell(kRankOneFailsTwice, 2)};
  g.options.max_restarts = 3;
  ASSERT_NO_FATAL_FAILURE(g.Run());
  EXPECT_EQ(g.result.restarts, 2);
  EXPECT_EQ(g.lines.out[1], (std::vector<std::string>{"run 0", "run 1", "run 2"}));

  g.options.max_restarts = 1;
  StatusOr<LaunchResult> r = Launch(g.options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->restarts, 1);
  EXPECT_EQ(r->failed_rank, 1);
}

TEST(LaunchTest, CancelStopsTheGroup) {
  LaunchOptions o = Shell("exec sleep 60", 2);
  std::atomic<bool> cancel{false};
  o.cancel_flag = &cancel;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(300));
    cancel = true;
  });
  StatusOr<LaunchResult> r = Launch(o);
  canceller.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->cancelled);
  EXPECT_EQ(r->ExitCode(), 130);
}

TEST(LaunchTest, BadOptionsAndMissingProgram) {
  LaunchOptions o = Shell("true", 0);
  EXPECT_EQ(Launch(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Shell("true", 1);
  o.nnodes = 2;
  StatusOr<LaunchResult> r = Launch(o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "master port")) << r.status();
  o.node_rank = 2;
  o.master_port = 1234;
  EXPECT_TRUE(absl::StrContains(Launch(o).status().message(), "node_rank 2")) << r.status();
  o = Shell("true", 1);
  o.command = {"/nonexistent/program"};
  r = Launch(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "rank 0")) << r.status();
}

}  // namespace
}  // namespace mlcore::dist

namespace mlcore::dist {
namespace {

// A C++ worker: what a program started by `mlcore launch` (or torchrun, or the operator) does,
// without Python. Runs only as a child of the test below.
TEST(InitFromEnvChild, JoinsTheGroupAndReduces) {
  if (std::getenv("MLCORE_INIT_FROM_ENV_CHILD") == nullptr) GTEST_SKIP() << "child only";
  StatusOr<ProcessGroup> group = InitFromEnv({.timeout = absl::Seconds(30)});
  ASSERT_TRUE(group.ok()) << group.status();
  Tensor t = *Tensor::FromVector<float>({static_cast<float>(group->env.rank + 1)}, {1});
  ASSERT_TRUE(group->comm->AllReduce(t, ReduceOp::kSum).ok());
  std::printf("rank=%d world=%d sum=%g threads=%s\n", group->env.rank, group->comm->world_size(),
              t.data<float>()[0], std::getenv("MLCORE_NUM_THREADS"));
}

TEST(InitFromEnvTest, CppWorkersUnderTheLauncherFormOneGroup) {
  Group g;
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  ASSERT_GT(n, 0);
  g.options.command = {std::string(exe, static_cast<size_t>(n)),
                       "--gtest_filter=InitFromEnvChild.*"};
  g.options.nproc_per_node = 3;
  g.options.threads_per_worker = 1;
  g.options.env = {{"MLCORE_INIT_FROM_ENV_CHILD", "1"}};
  ASSERT_NO_FATAL_FAILURE(g.Run());
  for (int rank = 0; rank < 3; ++rank) {
    const std::string want = "rank=" + std::to_string(rank) + " world=3 sum=6 threads=";
    bool found = false;
    for (const std::string& line : g.lines.out[rank]) found = found || absl::StartsWith(line, want);
    EXPECT_TRUE(found) << "rank " << rank;
  }
}

TEST(InitFromEnvTest, NoVariablesIsAGroupOfOne) {
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                           "TF_CONFIG", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                           "PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK"}) {
    ::unsetenv(name);
  }
  StatusOr<ProcessGroup> group = InitFromEnv();
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ(group->env.source, "none");
  EXPECT_EQ(group->comm->world_size(), 1);
  Tensor t = *Tensor::FromVector<float>({2.5f}, {1});
  ASSERT_TRUE(group->comm->AllReduce(t, ReduceOp::kSum).ok());
  EXPECT_EQ(t.data<float>()[0], 2.5f);
}

}  // namespace
}  // namespace mlcore::dist
