// The Client's read side as the command line uses it: run id prefixes, run states, ordering.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/drawing.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::Fn;
using testing::RunIt;
using testing::ScratchHome;

Pipeline OneTask() {
  auto one = Fn("one", {}, {{"n", ValueType::kInt}}, [](TaskContext& ctx) {
    ctx.output_params["n"] = 1;
    return absl::OkStatus();
  });
  Pipeline p = *Pipeline::Create("queried");
  EXPECT_TRUE(p.AddTask("one", one).ok());
  return p;
}

TEST(ClientQueries, RunIdsResolveFromUniquePrefixes) {
  ScratchHome home;
  auto client = home.Open();
  Pipeline p = OneTask();
  // 17 runs of 16 possible first hex digits: at least two share a one-character prefix.
  std::vector<std::string> ids;
  for (int i = 0; i < 17; ++i) ids.push_back(RunIt(*client, p, Json::object()).id);
  std::map<char, int> by_first;
  for (const std::string& id : ids) ++by_first[id[0]];
  for (const std::string& id : ids) {
    auto full = client->ResolveRunId(id);
    ASSERT_TRUE(full.ok()) << full.status();
    EXPECT_EQ(*full, id);
    // The shortest prefix no other id shares resolves to this one.
    for (size_t n = 1; n <= id.size(); ++n) {
      std::string prefix = id.substr(0, n);
      int sharing = static_cast<int>(std::count_if(
          ids.begin(), ids.end(), [&](const auto& o) { return o.compare(0, n, prefix) == 0; }));
      auto got = client->ResolveRunId(prefix);
      if (sharing == 1) {
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(*got, id);
        break;
      }
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << prefix;
      EXPECT_NE(got.status().message().find("ambiguous"), std::string::npos);
    }
  }
  EXPECT_EQ(client->ResolveRunId("zzz").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->ResolveRunId("%").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->ResolveRunId("").status().code(), absl::StatusCode::kInvalidArgument);
  // Another namespace's runs are not candidates.
  auto other = home.Open("elsewhere");
  EXPECT_EQ(other->ResolveRunId(ids[0].substr(0, 8)).status().code(), absl::StatusCode::kNotFound);
}

TEST(ClientQueries, UnknownStatesAreRefusedAndNewestFirstReverses) {
  ScratchHome home;
  auto client = home.Open();
  Pipeline p = OneTask();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(RunIt(*client, p, Json::object()).id);
  RunFilter typo;
  typo.state = "sucess";
  auto refused = client->ListRuns(typo);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("unknown run state 'sucess'"), std::string::npos);
  RunFilter newest;
  newest.newest_first = true;
  newest.state = state::kSucceeded;
  auto runs = client->ListRuns(newest);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].id, ids[2]);
  EXPECT_EQ((*runs)[2].id, ids[0]);
  newest.limit = 1;
  EXPECT_EQ(client->ListRuns(newest)->at(0).id, ids[2]);
}

TEST(ClientQueries, APastRunsSpecDrawsItsTasks) {
  ScratchHome home;
  auto client = home.Open();
  std::string id = RunIt(*client, OneTask(), Json::object()).id;
  auto spec = client->GetRunSpec(id);
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto graph = DagGraphFromSpec(*spec);
  ASSERT_TRUE(graph.ok()) << graph.status();
  ASSERT_EQ(graph->nodes.size(), 1u);
  EXPECT_EQ(graph->nodes[0].name, "one");
  EXPECT_EQ(client->GetRunSpec("nope").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mlcore::pipeline
