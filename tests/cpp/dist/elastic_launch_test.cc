// The elastic launch with launchers as threads of this process meeting at one rendezvous
// endpoint on 127.0.0.1 (the first to bind it serves the store): two launchers form one round
// with world size 2 and distinct node ranks; one alone forms a round of one after the last call;
// a failing worker moves to a new round and counts as a restart.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "mlcore/dist/launch.h"
#include "mlcore/dist/store.h"

namespace mlcore::dist {
namespace {

int FreePort() {
  TcpStoreOptions o;
  o.is_server = true;
  o.bind_address = "127.0.0.1";
  auto probe = TcpStore::Open(o);
  EXPECT_TRUE(probe.ok());
  return (*probe)->port();
}

LaunchOptions Elastic(const std::string& script, int port, std::set<std::string>* lines,
                      std::mutex* mu) {
  LaunchOptions o;
  o.command = {"/bin/sh", "-c", script};
  o.nnodes = 2;
  o.min_nodes = 1;
  o.rdzv_endpoint = "127.0.0.1:" + std::to_string(port);
  o.rdzv_last_call = absl::Seconds(1);
  o.rdzv_timeout = absl::Seconds(30);
  o.stop_grace = absl::Seconds(2);
  o.on_line = [lines, mu](int, std::string_view line, bool) {
    std::lock_guard<std::mutex> lock(*mu);
    lines->emplace(line);
  };
  return o;
}

TEST(ElasticLaunchTest, TwoLaunchersFormOneGroupOfTwo) {
  const int port = FreePort();
  std::set<std::string> lines;
  std::mutex mu;
  LaunchOptions o =
      Elastic("echo \"$RANK $WORLD_SIZE $GROUP_RANK $MLCORE_ELASTIC_ROUND\"", port, &lines, &mu);
  o.rdzv_last_call = absl::Seconds(20);  // both join round 0, which closes at nnodes at once
  std::vector<StatusOr<LaunchResult>> results(2, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&, i] { results[i] = Launch(o); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->ok) << r->Describe();
    EXPECT_EQ(r->world_size, 2);
    EXPECT_EQ(r->rounds, 1);
  }
  EXPECT_EQ(lines, (std::set<std::string>{"0 2 0 0", "1 2 1 0"}));
}

TEST(ElasticLaunchTest, AloneAfterTheLastCallAndFailuresStartNewRounds) {
  const int port = FreePort();
  std::set<std::string> lines;
  std::mutex mu;
  // Fails in rounds 0 and 1, succeeds in round 2.
  LaunchOptions o = Elastic(
      "echo \"round $MLCORE_ELASTIC_ROUND world $WORLD_SIZE restart "
      "$TORCHELASTIC_RESTART_COUNT\"; test $MLCORE_ELASTIC_ROUND -ge 2",
      port, &lines, &mu);
  o.max_restarts = 2;
  StatusOr<LaunchResult> r = Launch(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok) << r->Describe();
  EXPECT_EQ(r->world_size, 1);
  EXPECT_EQ(r->restarts, 2);
  EXPECT_EQ(r->rounds, 3);
  EXPECT_EQ(lines, (std::set<std::string>{"round 0 world 1 restart 0", "round 1 world 1 restart 1",
                                          "round 2 world 1 restart 2"}));
  o.max_restarts = 0;
  o.rdzv_id = "another";  // a fresh job on the same kind of endpoint: fails at its first failure
  o.rdzv_endpoint = "127.0.0.1:" + std::to_string(FreePort());
  r = Launch(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->failed_rank, 0);
}

TEST(ElasticLaunchTest, BadRangesAndEndpointsAreRefused) {
  LaunchOptions o;
  o.command = {"/bin/true"};
  o.nnodes = 2;
  o.min_nodes = 3;
  o.rdzv_endpoint = "127.0.0.1:1";
  EXPECT_EQ(Launch(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.min_nodes = 1;
  o.rdzv_endpoint = "no-port";
  EXPECT_EQ(Launch(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlcore::dist
