// The fixture of the pipeline tests that run on both record stores, and the recurring schedule
// two of them share.
#pragma once

#include <stdlib.h>

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "mlcore/pipeline/schedule.h"
#include "store/postgres_test_util.h"

namespace mlcore::pipeline::testing {

// Where a test's records go: "sqlite" (<home>/mlcore.db) or "postgres" (a fresh database on the
// test cluster, named by MLCORE_STORE; skipped where no cluster can start). Files (artifacts,
// logs) stay in the test's scratch home.
class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "postgres") return;
    store::testing::PgCluster* cluster = store::testing::PgCluster::Get();
    if (cluster == nullptr) GTEST_SKIP() << store::testing::PgCluster::skip_reason();
    url_ = cluster->NewDatabase();
    ASSERT_FALSE(url_.empty());
    setenv("MLCORE_STORE", url_.c_str(), 1);
  }
  void TearDown() override { unsetenv("MLCORE_STORE"); }

  std::string url_;
};

// A minutely schedule of `pipeline` from `start` on that runs every missed time.
inline ScheduleOptions MinutelyCatchingUp(std::string name, std::string pipeline, absl::Time start,
                                          int max_concurrency) {
  ScheduleOptions o;
  o.name = std::move(name);
  o.pipeline = std::move(pipeline);
  o.cron = "* * * * *";
  o.catchup = CatchUp::kAll;
  o.max_catchup = 1000;
  o.max_concurrency = max_concurrency;
  o.start_after = start;
  return o;
}

}  // namespace mlcore::pipeline::testing
