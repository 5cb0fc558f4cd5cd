// 10,000 runs and 10,000 trials, written straight into the store's tables: every page comes
// back whole and in order, filters count right. (Timings: benchmarks/python/bench_dashboard.py.)
#include <gtest/gtest.h>

#include "mlcore/store/metadata_store.h"
#include "mlcore/ui/dashboard.h"
#include "ui/ui_test_util.h"

namespace mlcore::ui {
namespace {

using testing::Json;
using testing::ScratchHome;

constexpr int kRows = 10000;

void FillStore(const std::string& home) {
  testing::RunPipeline(home);  // the pipeline tables, and one real run
  testing::RunStudy(home);     // the HPO tables and the study "search"
  store::MetadataStoreOptions o;
  o.path = home + "/mlcore.db";
  auto db = store::MetadataStore::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  Status filled = (*db)->Transaction([&]() -> Status {
    MLCORE_ASSIGN_OR_RETURN(auto ids, (*db)->Query("SELECT experiment_id, version_id FROM "
                                                   "pipeline_runs LIMIT 1"));
    MLCORE_ASSIGN_OR_RETURN(
        auto run,
        (*db)->Prepare(
            "INSERT INTO pipeline_runs(id, namespace, experiment_id, version_id, arguments, state, "
            "created_at, started_at, finished_at) VALUES(?1, 'default', ?2, ?3, '{}', ?4, ?5, ?5, "
            "?6)"));
    for (int i = 0; i < kRows; ++i) {
      std::string state = i % 10 == 0 ? "failed" : "succeeded";
      MLCORE_RETURN_IF_ERROR(run.Run({absl::StrCat("bulk-", i), ids[0][0], ids[0][1], state,
                                      1000.0 + i, 1000.0 + i + (i % 100)})
                                 .status());
    }
    MLCORE_ASSIGN_OR_RETURN(auto study,
                            (*db)->Query("SELECT study_id FROM hpo_studies WHERE name = 'search'"));
    MLCORE_ASSIGN_OR_RETURN(
        auto trial,
        (*db)->Prepare(
            "INSERT INTO hpo_trials(study_id, number, state, value, started_at, finished_at) "
            "VALUES(?1, ?2, ?3, ?4, 1000, 1001)"));
    for (int i = 0; i < kRows; ++i) {
      bool pruned = i % 4 == 0;
      MLCORE_RETURN_IF_ERROR(trial
                                 .Run({study[0][0], static_cast<int64_t>(100 + i),
                                       std::string(pruned ? "pruned" : "complete"),
                                       static_cast<double>((i * 7919) % kRows)})
                                 .status());
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(filled.ok()) << filled;
}

TEST(DashboardScale, TenThousandRunsAndTrialsPage) {
  ScratchHome home;
  FillStore(home.path());
  auto d = Dashboard::Open({.home = home.path()});
  ASSERT_TRUE(d.ok());
  Json first = Json::parse((*d)->Runs({.limit = 50}).value());
  EXPECT_EQ(first["total"], kRows + 1);
  ASSERT_EQ(first["runs"].size(), 50u);
  Json last = Json::parse((*d)->Runs({.offset = kRows - 10, .limit = 50}).value());
  ASSERT_EQ(last["runs"].size(), 11u);
  EXPECT_EQ(last["runs"][10]["id"], "bulk-0");  // oldest last
  EXPECT_EQ(Json::parse((*d)->Runs({.state = "failed"}).value())["total"], kRows / 10);
  EXPECT_EQ(Json::parse((*d)->Runs({.limit = 100000}).value())["runs"].size(), 500u);  // capped

  Json trials = Json::parse((*d)->Trials("search", {.state = "complete", .sort = "value"}).value());
  EXPECT_EQ(trials["total"], 5 + kRows * 3 / 4);
  ASSERT_EQ(trials["trials"].size(), 50u);
  for (size_t i = 1; i < 50; ++i) {
    EXPECT_LE(trials["trials"][i - 1]["value"].get<double>(),
              trials["trials"][i]["value"].get<double>());
  }
  Json pruned = Json::parse((*d)->Trials("search", {.state = "pruned", .offset = 2450}).value());
  EXPECT_EQ(pruned["total"], kRows / 4);
  EXPECT_EQ(pruned["trials"].size(), 50u);
  Json plots = Json::parse((*d)->StudyPlots("search").value());
  EXPECT_LE(plots["history"].size(), 4000u);
  EXPECT_EQ(plots["parallel"]["trials"].size(), 1000u);
  Json studies = Json::parse((*d)->Studies().value());
  EXPECT_EQ(studies["studies"][0]["trials"], 6 + kRows);
}

}  // namespace
}  // namespace mlcore::ui
