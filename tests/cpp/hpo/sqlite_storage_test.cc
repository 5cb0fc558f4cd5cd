// The stored storages with real files, a real PostgreSQL server and real processes: persistence,
// several processes on one study, and kill -9 in the middle of a trial followed by resume. The
// StorageTest suite runs once per backend (SQLite, PostgreSQL); SqliteStorageTest is SQLite's own.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/study.h"
#include "mlcore/store/metadata_store.h"
#include "store/postgres_test_util.h"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

using store::testing::ScratchDir;

// The backend a StorageTest runs on: "sqlite" (a file in a scratch dir) or "postgres" (a fresh
// database on the test cluster).
class StorageTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      MLCORE_REQUIRE_POSTGRES();
      url_ = store::testing::PgCluster::Get()->NewDatabase();
    } else {
      url_ = dir_.Join("hpo.db");
    }
  }
  StudyOptions Named(const std::string& name) const { return testing::StoredStudy(url_, name); }

  ScratchDir dir_;
  std::string url_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StorageTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

StatusOr<double> Objective1(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -3, 3));
  MLCORE_ASSIGN_OR_RETURN(ParamValue c,
                          t.SuggestCategorical("c", {std::string("a"), int64_t{2}, true}));
  MLCORE_RETURN_IF_ERROR(t.Report(x * x + 1, 0));
  return x * x;
}

TEST_P(StorageTest, StudiesSurviveReopening) {
  {
    auto study = *Study::Create(Named("s1"));
    OptimizeOptions o;
    o.n_trials = 12;
    ASSERT_TRUE(study->Optimize(Objective1, o).ok());
    ASSERT_TRUE(study->Enqueue({{"x", 0.5}}).ok());
  }
  auto again = Study::Create(Named("s1"));
  EXPECT_TRUE(absl::IsAlreadyExists(again.status()));
  StudyOptions lo = Named("s1");
  auto study = Study::Load(lo);
  ASSERT_TRUE(study.ok()) << study.status();
  TrialList trials = *(*study)->Trials();
  ASSERT_EQ(trials.size(), 13u);
  EXPECT_EQ(trials[12]->state, TrialState::kWaiting);
  EXPECT_EQ(std::get<double>(trials[12]->params.at("x")), 0.5);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(trials[i]->number, i);
    EXPECT_EQ(trials[i]->state, TrialState::kComplete);
    double x = std::get<double>(trials[i]->params.at("x"));
    EXPECT_DOUBLE_EQ(trials[i]->value, x * x);
    EXPECT_DOUBLE_EQ(trials[i]->intermediate_values.at(0), x * x + 1);
    EXPECT_EQ(trials[i]->distributions.at("c").choices().size(), 3u);
  }
  // The study goes on: the enqueued trial first, then more (also after it "finished").
  OptimizeOptions o;
  o.n_trials = 3;
  ASSERT_TRUE((*study)->Optimize(Objective1, o).ok());
  trials = *(*study)->Trials();
  ASSERT_EQ(trials.size(), 15u);
  EXPECT_EQ(trials[12]->state, TrialState::kComplete);
  EXPECT_DOUBLE_EQ(trials[12]->value, 0.25);
  EXPECT_TRUE(absl::IsNotFound(Study::Load(Named("nope")).status()));
  auto storage = *OpenStorage(url_);
  EXPECT_EQ(storage->ListStudies()->size(), 1u);
  ASSERT_TRUE(storage->DeleteStudy("s1").ok());
  EXPECT_TRUE(storage->ListStudies()->empty());
}

TEST_P(StorageTest, SeveralProcessesShareOneStudy) {
  { ASSERT_TRUE(Study::Create(Named("shared")).ok()); }
  constexpr int kProcesses = 4, kTrialsEach = 15;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      StudyOptions o = Named("shared");
      o.sampler_options.seed = 100 + p;
      auto study = Study::Load(o);
      if (!study.ok()) ::_exit(2);
      OptimizeOptions opt;
      opt.n_trials = kTrialsEach;
      opt.n_parallel = 2;
      ::_exit((*study)->Optimize(Objective1, opt).ok() ? 0 : 3);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto study = *Study::Load(Named("shared"));
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), static_cast<size_t>(kProcesses * kTrialsEach));
  std::set<int64_t> numbers;
  for (const auto& t : trials) {
    numbers.insert(t->number);
    EXPECT_EQ(t->state, TrialState::kComplete);
    EXPECT_TRUE(t->has_value);
  }
  EXPECT_EQ(numbers.size(), trials.size());
}

// A child asks a trial, records a report and is killed with SIGKILL mid-trial.
pid_t StartAndKill(const StudyOptions& options) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    auto study = Study::Load(options);
    if (!study.ok()) ::_exit(2);
    auto t = (*study)->Ask();
    if (!t.ok()) ::_exit(3);
    (void)(*t)->SuggestFloat("x", -3, 3);
    (void)(*t)->Report(1.0, 0);
    (void)(*t)->ShouldPrune();  // writes the buffered report, as a pruned loop does each step
    char c = 'r';
    (void)!::write(fds[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(fds[1]);
  char c;
  EXPECT_EQ(::read(fds[0], &c, 1), 1);
  ::close(fds[0]);
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
  return pid;
}

TEST_P(StorageTest, ResumesAfterKillNine) {
  {
    auto study = *Study::Create(Named("crash"));
    OptimizeOptions o;
    o.n_trials = 3;
    ASSERT_TRUE(study->Optimize(Objective1, o).ok());
  }
  pid_t dead = StartAndKill(Named("crash"));
  {
    auto study = *Study::Load(Named("crash"));  // default: mark failed
    TrialList trials = *study->Trials();
    ASSERT_EQ(trials.size(), 4u);
    EXPECT_EQ(trials[3]->state, TrialState::kFailed);
    EXPECT_NE(trials[3]->error.find(std::to_string(dead)), std::string::npos) << trials[3]->error;
    EXPECT_EQ(trials[3]->intermediate_values.size(), 1u);
  }
  StartAndKill(Named("crash"));
  StudyOptions requeue = Named("crash");
  requeue.requeue_stale_trials = true;
  auto study = *Study::Load(requeue);
  TrialList trials = *study->Trials();
  ASSERT_EQ(trials.size(), 5u);
  EXPECT_EQ(trials[4]->state, TrialState::kWaiting);
  EXPECT_TRUE(trials[4]->intermediate_values.empty());
  double x = std::get<double>(trials[4]->params.at("x"));
  OptimizeOptions o;
  o.n_trials = 2;
  ASSERT_TRUE(study->Optimize(Objective1, o).ok());
  trials = *study->Trials();
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(trials[4]->state, TrialState::kComplete);
  EXPECT_DOUBLE_EQ(trials[4]->value, x * x);  // re-run with the same parameters
  // A result told for a trial that recovery already failed is refused, not silently lost.
  auto stale_tell = study->Tell(3, TrialState::kComplete, 1.0);
  EXPECT_TRUE(absl::IsFailedPrecondition(stale_tell)) << stale_tell;
}

TEST(SqliteStorageTest, CorruptStoreIsAClearError) {
  ScratchDir dir;
  store::testing::WriteAll(dir.Join("bad.db"), std::string(4096, 'x'));
  StudyOptions o;
  o.name = "s";
  o.storage = dir.Join("bad.db");
  auto s = Study::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
}

// Each storage skips re-reading while only it wrote (PRAGMA data_version); a write through
// another connection must still show at the next read, whatever the interleaving.
TEST_P(StorageTest, TwoConnectionsSeeEachOthersWrites) {
  StudyOptions o = Named("shared");
  o.sampler = "random";
  auto a = *Study::Create(o);
  o.load_if_exists = true;
  auto b = *Study::Create(o);
  auto ta = *a->Ask();
  ASSERT_TRUE(ta->SuggestFloat("x", 0, 1).ok());
  ASSERT_EQ((*b->Trials()).size(), 1u);
  EXPECT_EQ((*b->Trials())[0]->params.count("x"), 1u);
  auto tb = *b->Ask();
  EXPECT_EQ(tb->number(), 1);
  ASSERT_TRUE(tb->Report(0.5, 3).ok());
  ASSERT_TRUE(b->Tell(*tb, 2.0).ok());
  ASSERT_TRUE(a->Tell(*ta, 1.0).ok());
  for (Study* s : {a.get(), b.get()}) {
    TrialList trials = *s->Trials();
    ASSERT_EQ(trials.size(), 2u);
    EXPECT_EQ(trials[0]->state, TrialState::kComplete);
    EXPECT_EQ(trials[0]->value, 1.0);
    EXPECT_EQ(trials[1]->value, 2.0);
    EXPECT_EQ(trials[1]->intermediate_values.at(3), 0.5);
  }
  // A's own writes between B's: A's view follows both.
  auto ta2 = *a->Ask();
  auto tb2 = *b->Ask();
  ASSERT_TRUE(a->Tell(*ta2, 3.0).ok());
  TrialList seen = *a->Trials();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[2]->state, TrialState::kComplete);
  EXPECT_EQ(seen[3]->state, TrialState::kRunning);
  ASSERT_TRUE(b->Tell(*tb2, 4.0).ok());
  EXPECT_EQ((*a->Trials())[3]->value, 4.0);
  EXPECT_EQ(a->BestTrial()->number, 0);
}

// A store written by the release before multi-objective studies (hpo schema version 1) opens
// with its studies, trials, params and reports kept, and takes new trials after the migration.
TEST(SqliteStorageTest, MigratesVersionOneStoresWithTheirData) {
  ScratchDir dir;
  const std::string path = dir.Join("old.db");
  {
    store::MetadataStoreOptions so;
    so.path = path;
    auto st = *store::MetadataStore::Open(so);
    ASSERT_TRUE(
        st->Migrate("hpo", {{1, "create_studies_and_trials",
                             "CREATE TABLE hpo_studies (study_id INTEGER PRIMARY KEY,"
                             " name TEXT NOT NULL UNIQUE, direction TEXT NOT NULL CHECK "
                             "(direction IN ('minimize', 'maximize')), created_at REAL "
                             "NOT NULL);"
                             "CREATE TABLE hpo_trials (trial_id INTEGER PRIMARY KEY,"
                             " study_id INTEGER NOT NULL REFERENCES hpo_studies(study_id)"
                             " ON DELETE CASCADE, number INTEGER NOT NULL, state TEXT NOT "
                             "NULL CHECK (state IN ('running', 'complete', 'pruned', "
                             "'failed', 'waiting')), value REAL, error TEXT NOT NULL "
                             "DEFAULT '', owner TEXT, started_at REAL, finished_at REAL,"
                             " UNIQUE (study_id, number));"
                             "CREATE INDEX hpo_trials_by_state ON hpo_trials(study_id, "
                             "state, number);"
                             "CREATE TABLE hpo_trial_params (trial_id INTEGER NOT NULL "
                             "REFERENCES hpo_trials(trial_id) ON DELETE CASCADE, name "
                             "TEXT NOT NULL, value REAL, distribution TEXT, fixed TEXT,"
                             " PRIMARY KEY (trial_id, name));"
                             "CREATE TABLE hpo_trial_values (trial_id INTEGER NOT NULL "
                             "REFERENCES hpo_trials(trial_id) ON DELETE CASCADE, step "
                             "INTEGER NOT NULL, value REAL, PRIMARY KEY (trial_id, step));"}})
            .ok());
    ASSERT_TRUE(st->Execute("INSERT INTO hpo_studies VALUES (1, 'old', 'maximize', 0);"
                            "INSERT INTO hpo_trials VALUES (1, 1, 0, 'complete', 0.25, '', NULL, "
                            "1, 2);"
                            "INSERT INTO hpo_trials VALUES (2, 1, 1, 'waiting', NULL, '', NULL, "
                            "NULL, NULL);"
                            "INSERT INTO hpo_trial_params VALUES (1, 'x', 0.5, "
                            "'{\"type\":\"float\",\"low\":0,\"high\":1}', NULL);"
                            "INSERT INTO hpo_trial_params VALUES (2, 'x', NULL, NULL, '0.75');"
                            "INSERT INTO hpo_trial_values VALUES (1, 0, 0.1), (1, 1, 0.2);")
                    .ok());
  }
  StudyOptions o;
  o.name = "old";
  o.storage = path;
  o.sampler = "random";
  auto study = Study::Load(o);
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ((*study)->direction(), StudyDirection::kMaximize);
  EXPECT_EQ((*study)->directions().size(), 1u);
  TrialList trials = *(*study)->Trials();
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_DOUBLE_EQ(trials[0]->value, 0.25);
  EXPECT_EQ(trials[0]->values, std::vector<double>{0.25});
  EXPECT_DOUBLE_EQ(std::get<double>(trials[0]->params.at("x")), 0.5);
  EXPECT_EQ(trials[0]->intermediate_values, (std::map<int64_t, double>{{0, 0.1}, {1, 0.2}}));
  // The waiting trial runs next with its enqueued value, then sampled ones follow.
  auto t = *(*study)->Ask();
  EXPECT_EQ(t->number(), 1);
  EXPECT_DOUBLE_EQ(*t->SuggestFloat("x", 0, 1), 0.75);
  ASSERT_TRUE((*study)->Tell(*t, 0.5).ok());
  auto t2 = *(*study)->Ask();
  EXPECT_EQ(t2->number(), 2);
  ASSERT_TRUE((*study)->Tell(*t2, 0.125).ok());
  EXPECT_EQ((*(*study)->BestTrial()).number, 1);
  auto st = *store::MetadataStore::Open({.path = path});
  EXPECT_EQ(*st->SchemaVersion("hpo"), 3);  // 3 adds the attribute tables
}

}  // namespace
}  // namespace mlcore::hpo
