// Issue 12's record rules: a finished trial never changes, a trial is told only to its own
// study, negative counts and times are refused, and a recycled pid does not keep a dead
// worker's trial running for ever.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/process_identity.h"
#include "gtest/gtest.h"
#include "hpo/hpo_test_util.h"
#include "mlcore/hpo/command_objective.h"
#include "mlcore/hpo/study.h"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

using store::testing::ScratchDir;

StudyOptions InFile(const ScratchDir& dir, const std::string& name) {
  return testing::StoredStudy(dir.Join("hpo.db"), name);
}

TEST(TrialRulesTest, ATrialToldToAnotherStudyIsRefusedAndBothStayIntact) {
  ScratchDir dir;
  auto a = *Study::Create(InFile(dir, "a"));
  auto b = *Study::Create(InFile(dir, "b"));
  auto from_a = *a->Ask();
  auto from_b = *b->Ask();
  Status wrong = b->Tell(*from_a, TrialState::kComplete, 123.0);
  EXPECT_TRUE(absl::IsInvalidArgument(wrong)) << wrong;
  EXPECT_NE(wrong.message().find("belongs to study 'a', not 'b'"), std::string::npos) << wrong;
  EXPECT_EQ((*a->Trials())[0]->state, TrialState::kRunning);
  EXPECT_EQ((*b->Trials())[0]->state, TrialState::kRunning);
  // A second Study object on the same stored study may tell it.
  auto a_again = *Study::Load(InFile(dir, "a"));
  ASSERT_TRUE(a_again->Tell(*from_a, TrialState::kComplete, 1.0).ok());
  ASSERT_TRUE(b->Tell(*from_b, TrialState::kComplete, 2.0).ok());
  EXPECT_EQ((*a->Trials())[0]->value, 1.0);
  EXPECT_EQ((*b->Trials())[0]->value, 2.0);
}

TEST(TrialRulesTest, AFinishedTrialNeverChanges) {
  ScratchDir dir;
  auto study = *Study::Create(InFile(dir, "done"));
  auto trial = *study->Ask();
  ASSERT_TRUE(trial->SuggestFloat("x", 0, 1).ok());
  ASSERT_TRUE(trial->Report(0.5, 0).ok());
  ASSERT_TRUE(study->Tell(*trial, TrialState::kComplete, 0.25).ok());
  auto added = trial->SuggestFloat("new", 0, 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(added.status())) << added.status();
  EXPECT_NE(added.status().message().find("suggesting 'new'"), std::string::npos);
  EXPECT_TRUE(absl::IsFailedPrecondition(trial->SuggestFloat("x", 0, 1).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(trial->Report(0.1, 1)));
  EXPECT_TRUE(absl::IsFailedPrecondition(trial->ShouldPrune().status()));
  EXPECT_FALSE(study->Tell(*trial, TrialState::kComplete, 9.0).ok());
  auto stored = (*study->Trials())[0];
  EXPECT_EQ(stored->params.size(), 1u);
  EXPECT_EQ(stored->intermediate_values.size(), 1u);
  EXPECT_EQ(stored->value, 0.25);
}

TEST(TrialRulesTest, NegativeCountsAndTimesAreRefused) {
  auto study = *Study::Create(StudyOptions{});
  auto objective = [](Trial&) -> StatusOr<double> { return 1.0; };
  for (int which = 0; which < 4; ++which) {
    OptimizeOptions o;
    o.n_trials = 1;
    if (which == 0) o.n_trials = -1;
    if (which == 1) o.max_trials = -5;
    if (which == 2) o.max_failed_trials = -1;
    if (which == 3) o.timeout = absl::Seconds(-1);
    Status s = study->Optimize(objective, o);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << which << ": " << s;
    EXPECT_NE(s.message().find(">= 0"), std::string::npos) << s;
  }
  EXPECT_TRUE(study->Trials()->empty());
}

TEST(TrialRulesTest, ACommandTimeoutOfZeroOrLessIsRefusedAtOnce) {
  SearchSpace space;
  ASSERT_TRUE(space.Add("x", *Distribution::Float(0, 1)).ok());
  for (absl::Duration timeout : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    CommandObjectiveOptions o;
    o.command_template = "echo loss={x}";
    o.metric = "loss";
    o.timeout = timeout;
    auto objective = MakeCommandObjective(o, space);
    EXPECT_TRUE(absl::IsInvalidArgument(objective.status())) << objective.status();
    EXPECT_NE(objective.status().message().find("timeout must be positive"), std::string::npos);
  }
}

void SetOwnerOfAllTrials(const std::string& db, const std::string& owner) {
  sqlite3* conn = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &conn), SQLITE_OK);
  const std::string sql = "UPDATE hpo_trials SET owner = '" + owner + "'";
  EXPECT_EQ(sqlite3_exec(conn, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(conn);
  sqlite3_close(conn);
}

// PID reuse (or PID 1 in a restarted container): the owner's pid is alive, but it is a process
// started later than the one that took the trial.
TEST(TrialRulesTest, ATrialOwnedByARecycledPidIsStale) {
  ScratchDir dir;
  {
    auto study = *Study::Create(InFile(dir, "stale"));
    ASSERT_TRUE(study->Ask().ok());
  }
  internal::ProcessIdentity me = internal::ThisProcess();
  ASSERT_FALSE(me.start.empty());
  internal::ProcessIdentity recycled = me;
  recycled.start = "1";
  SetOwnerOfAllTrials(dir.Join("hpo.db"), internal::FormatOwner(recycled));
  auto study = *Study::Load(InFile(dir, "stale"));
  auto trial = (*study->Trials())[0];
  EXPECT_EQ(trial->state, TrialState::kFailed);
  EXPECT_NE(trial->error.find(internal::FormatOwner(recycled)), std::string::npos) << trial->error;
}

// Issue 12, record 7: `mlcore hpo show` between a kill and a resume marked the killed trials
// failed, so the resume did not re-run them. A reading open leaves them as stored.
TEST(TrialRulesTest, AReadingOpenLeavesStaleTrialsForTheResume) {
  ScratchDir dir;
  {
    auto study = *Study::Create(InFile(dir, "killed"));
    ASSERT_TRUE(study->Ask().ok());
  }
  internal::ProcessIdentity dead = internal::ThisProcess();
  dead.start = "1";
  SetOwnerOfAllTrials(dir.Join("hpo.db"), internal::FormatOwner(dead));
  StudyOptions reading = InFile(dir, "killed");
  reading.recover_stale_trials = false;
  for (int i = 0; i < 2; ++i) {
    auto shown = *Study::Load(reading);
    EXPECT_EQ((*shown->Trials())[0]->state, TrialState::kRunning);
  }
  StudyOptions resume = InFile(dir, "killed");
  resume.requeue_stale_trials = true;
  auto resumed = *Study::Load(resume);
  EXPECT_EQ((*resumed->Trials())[0]->state, TrialState::kWaiting);
}

TEST(TrialRulesTest, ALiveOwnerKeepsItsTrialAndOldOwnerTextStillReads) {
  ScratchDir dir;
  {
    auto study = *Study::Create(InFile(dir, "live"));
    ASSERT_TRUE(study->Ask().ok());
  }
  internal::ProcessIdentity me = internal::ThisProcess();
  // Written by an mlcore from before start times were recorded: pid only.
  SetOwnerOfAllTrials(dir.Join("hpo.db"), me.host + ":" + std::to_string(me.pid));
  auto study = *Study::Load(InFile(dir, "live"));
  EXPECT_EQ((*study->Trials())[0]->state, TrialState::kRunning);
}

TEST(ProcessIdentityTest, FormatsParsesAndChecksLiveness) {
  internal::ProcessIdentity me = internal::ThisProcess();
  EXPECT_EQ(me.pid, ::getpid());
  EXPECT_TRUE(internal::IsAlive(me));
  auto parsed = internal::ParseOwner(internal::FormatOwner(me));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->host, me.host);
  EXPECT_EQ(parsed->pid, me.pid);
  EXPECT_EQ(parsed->start, me.start);
  auto legacy = internal::ParseOwner("box:42");
  ASSERT_TRUE(legacy.has_value());
  EXPECT_EQ(legacy->host, "box");
  EXPECT_EQ(legacy->pid, 42);
  EXPECT_TRUE(legacy->start.empty());
  EXPECT_FALSE(internal::ParseOwner("nonsense").has_value());
  EXPECT_FALSE(internal::ParseOwner("box:-3:7").has_value());
  internal::ProcessIdentity elsewhere{"another-host-that-is-not-this-one", 1, "5"};
  EXPECT_TRUE(internal::IsAlive(elsewhere));
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(internal::IsAlive({me.host, child, ""}));
}

}  // namespace
}  // namespace mlcore::hpo
