// The busy timeout of a SQLite study storage, against a real second connection holding the
// file's write lock: a short timeout fails fast naming the store, the default one waits.
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "mlcore/hpo/study.h"
#include "store/store_test_util.h"

namespace mlcore::hpo {
namespace {

using store::testing::ScratchDir;

// Bounds a hang; it times nothing (speed belongs in benchmarks).
constexpr auto kGenerous = std::chrono::seconds(20);

// Another process's view of the file: a plain SQLite connection holding the write lock.
class LockHolder {
 public:
  explicit LockHolder(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~LockHolder() {
    Release();
    sqlite3_close(db_);
  }
  void Release() {
    if (held_) EXPECT_EQ(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    held_ = false;
  }

 private:
  sqlite3* db_ = nullptr;
  bool held_ = true;
};

StudyOptions Named(const std::string& path, absl::Duration busy_timeout) {
  StudyOptions o;
  o.name = "busy";
  o.storage = path;
  o.busy_timeout = busy_timeout;
  o.sampler = "random";
  o.sampler_options.seed = 3;
  return o;
}

TEST(StorageBusyTimeoutTest, ShortTimeoutFailsFastThenSucceedsAfterRelease) {
  ScratchDir dir;
  const std::string path = dir.Join("hpo.db");
  auto study = Study::Create(Named(path, absl::Milliseconds(200)));
  ASSERT_TRUE(study.ok()) << study.status();
  auto trial = (*study)->Ask();
  ASSERT_TRUE(trial.ok()) << trial.status();

  LockHolder other(path);
  auto start = std::chrono::steady_clock::now();
  Status status = (*study)->Tell(**trial, 1.5);
  EXPECT_LT(std::chrono::steady_clock::now() - start, kGenerous);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find(path), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("lock"), absl::string_view::npos) << status;

  other.Release();
  ASSERT_TRUE((*study)->Tell(**trial, 1.5).ok());
  auto reopened = Study::Load(Named(path, absl::Seconds(30)));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  TrialList trials = *(*reopened)->Trials();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0]->state, TrialState::kComplete);
  EXPECT_DOUBLE_EQ(trials[0]->value, 1.5);
}

TEST(StorageBusyTimeoutTest, DefaultTimeoutWaitsForTheOtherWriter) {
  ScratchDir dir;
  const std::string path = dir.Join("hpo.db");
  StudyOptions o = Named(path, absl::Seconds(30));
  o.busy_timeout = StudyOptions().busy_timeout;  // the default, spelled out for the reader
  auto study = Study::Create(o);
  ASSERT_TRUE(study.ok()) << study.status();
  auto trial = (*study)->Ask();
  ASSERT_TRUE(trial.ok()) << trial.status();

  LockHolder other(path);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    other.Release();
  });
  Status status = (*study)->Tell(**trial, 2.5);
  release.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ((*(*study)->Trials())[0]->state, TrialState::kComplete);
}

TEST(StorageBusyTimeoutTest, NegativeTimeoutIsRejectedNamingTheOption) {
  ScratchDir dir;
  for (const std::string& url : {dir.Join("hpo.db"), std::string("memory")}) {
    auto storage = OpenStorage(url, absl::Seconds(-1));
    EXPECT_EQ(storage.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_NE(storage.status().message().find("busy_timeout"), absl::string_view::npos)
        << storage.status();
  }
  SqliteStorageOptions so;
  so.path = dir.Join("other.db");
  so.busy_timeout = absl::Milliseconds(-5);
  auto sqlite = OpenSqliteStorage(so);
  EXPECT_EQ(sqlite.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sqlite.status().message().find("busy_timeout"), absl::string_view::npos)
      << sqlite.status();
  auto study = Study::Create(Named(dir.Join("hpo.db"), absl::Seconds(-2)));
  EXPECT_EQ(study.status().code(), absl::StatusCode::kInvalidArgument) << study.status();
}

TEST(StorageBusyTimeoutTest, ZeroTimeoutDoesNotWaitAtAll) {
  ScratchDir dir;
  const std::string path = dir.Join("hpo.db");
  auto study = Study::Create(Named(path, absl::ZeroDuration()));
  ASSERT_TRUE(study.ok()) << study.status();
  auto trial = (*study)->Ask();
  ASSERT_TRUE(trial.ok()) << trial.status();
  LockHolder other(path);
  EXPECT_EQ((*study)->Tell(**trial, 1.0).code(), absl::StatusCode::kDeadlineExceeded);
  other.Release();
  EXPECT_TRUE((*study)->Tell(**trial, 1.0).ok());
}

}  // namespace
}  // namespace mlcore::hpo
