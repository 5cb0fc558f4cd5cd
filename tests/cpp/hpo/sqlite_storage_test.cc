// The SQLite storage with real files and real processes: persistence, several processes on one
// study, and kill -9 in the middle of a trial followed by resume.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "gtest/gtest.h"
#include "mlcore/hpo/study.h"
#include "mlcore/store/metadata_store.h"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

using store::testing::ScratchDir;

StudyOptions Named(const ScratchDir& dir, const std::string& name) {
  StudyOptions o;
  o.name = name;
  o.storage = dir.Join("hpo.db");
  o.sampler_options.seed = 1;
  return o;
}

StatusOr<double> Objective1(Trial& t) {
  MLCORE_ASSIGN_OR_RETURN(double x, t.SuggestFloat("x", -3, 3));
  MLCORE_ASSIGN_OR_RETURN(ParamValue c,
                          t.SuggestCategorical("c", {std::string("a"), int64_t{2}, true}));
  MLCORE_RETURN_IF_ERROR(t.Report(x * x + 1, 0));
  return x * x;
}

TEST(SqliteStorageTest, StudiesSurviveReopening) {
  ScratchDir dir;
  {
    auto study = *Study::Create(Named(dir, "s1"));
    OptimizeOptions o;
    o.n_trials = 12;
    ASSERT_TRUE(study->Optimize(Objective1, o).ok());
    ASSERT_TRUE(study->Enqueue({{"x", 0.5}}).ok());
  }
  auto again = Study::Create(Named(dir, "s1"));
  EXPECT_TRUE(absl::IsAlreadyExists(again.status()));
  StudyOptions lo = Named(dir, "s1");
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
  EXPECT_TRUE(absl::IsNotFound(Study::Load(Named(dir, "nope")).status()));
  auto storage = *OpenStorage(dir.Join("hpo.db"));
  EXPECT_EQ(storage->ListStudies()->size(), 1u);
  ASSERT_TRUE(storage->DeleteStudy("s1").ok());
  EXPECT_TRUE(storage->ListStudies()->empty());
}

TEST(SqliteStorageTest, SeveralProcessesShareOneStudy) {
  ScratchDir dir;
  { ASSERT_TRUE(Study::Create(Named(dir, "shared")).ok()); }
  constexpr int kProcesses = 4, kTrialsEach = 15;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      StudyOptions o = Named(dir, "shared");
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
  auto study = *Study::Load(Named(dir, "shared"));
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
pid_t StartAndKill(const ScratchDir& dir) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    auto study = Study::Load(Named(dir, "crash"));
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

TEST(SqliteStorageTest, ResumesAfterKillNine) {
  ScratchDir dir;
  {
    auto study = *Study::Create(Named(dir, "crash"));
    OptimizeOptions o;
    o.n_trials = 3;
    ASSERT_TRUE(study->Optimize(Objective1, o).ok());
  }
  pid_t dead = StartAndKill(dir);
  {
    auto study = *Study::Load(Named(dir, "crash"));  // default: mark failed
    TrialList trials = *study->Trials();
    ASSERT_EQ(trials.size(), 4u);
    EXPECT_EQ(trials[3]->state, TrialState::kFailed);
    EXPECT_NE(trials[3]->error.find(std::to_string(dead)), std::string::npos) << trials[3]->error;
    EXPECT_EQ(trials[3]->intermediate_values.size(), 1u);
  }
  StartAndKill(dir);
  StudyOptions requeue = Named(dir, "crash");
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

}  // namespace
}  // namespace mlcore::hpo
