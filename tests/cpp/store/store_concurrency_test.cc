// Several real processes (this test binary, started again in a child mode) writing one store at
// once, starting from no file at all, so concurrent creation and migration are exercised too.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mlcore/store/metadata_store.h"
#include "store/store_test_util.h"

extern char** environ;

namespace mlcore::store {
namespace {

using testing::ScratchDir;

constexpr char kChildDbVariable[] = "MLCORE_STORE_TEST_CHILD_DB";
constexpr char kChildIdVariable[] = "MLCORE_STORE_TEST_CHILD_ID";
constexpr int kProcesses = 4;
constexpr int kTransactionsPerProcess = 300;

const std::vector<Migration> kLedgerMigrations = {
    {1, "create_ledger",
     "CREATE TABLE ledger (process INTEGER NOT NULL, seq INTEGER NOT NULL, counter_seen INTEGER,"
     "  PRIMARY KEY (process, seq));"
     "CREATE TABLE counter (n INTEGER NOT NULL);"
     "INSERT INTO counter VALUES (0);"}};

// The child's work: each transaction reads the shared counter, writes it back plus one and logs a
// row. A lost update or a lost row shows in the parent's totals.
TEST(StoreChildProcess, WriteLedger) {
  const char* db = std::getenv(kChildDbVariable);
  const char* id = std::getenv(kChildIdVariable);
  if (db == nullptr || id == nullptr) GTEST_SKIP() << "runs only as a child of a store test";
  // Start together: wait for the parent's go signal.
  while (!std::filesystem::exists(std::string(db) + ".go")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto store = MetadataStore::Open({.path = db});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Migrate("ledger", kLedgerMigrations).ok());
  const int64_t process = std::atoi(id);
  for (int64_t seq = 0; seq < kTransactionsPerProcess; ++seq) {
    Status status = (*store)->Transaction([&]() -> Status {
      MLCORE_ASSIGN_OR_RETURN(auto rows, (*store)->Query("SELECT n FROM counter"));
      int64_t n = std::get<int64_t>(rows.at(0).at(0));
      MLCORE_RETURN_IF_ERROR((*store)->Query("UPDATE counter SET n = ?1", {n + 1}).status());
      return (*store)->Query("INSERT INTO ledger VALUES (?1, ?2, ?3)", {process, seq, n}).status();
    });
    ASSERT_TRUE(status.ok()) << status;
  }
}

pid_t SpawnChild(const std::string& db, int id) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(std::string(kChildDbVariable) + "=" + db);
  env_strings.push_back(std::string(kChildIdVariable) + "=" + std::to_string(id));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=StoreChildProcess.WriteLedger";
  std::vector<char*> argv = {exe.data(), filter.data(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data());
  EXPECT_EQ(rc, 0) << "posix_spawn " << exe;
  return rc == 0 ? pid : -1;
}

TEST(StoreConcurrencyTest, ProcessesWritingAtOnceLoseNoRows) {
  ScratchDir dir;
  std::string db = dir.Join("home/mlcore.db");
  std::filesystem::create_directories(dir.Join("home"));
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) children.push_back(SpawnChild(db, i));
  testing::WriteAll(db + ".go", "");
  for (pid_t pid : children) {
    ASSERT_GT(pid, 0);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        << "child " << pid << " failed, wait status " << wstatus;
  }

  auto store = MetadataStore::Open({.path = db});
  ASSERT_TRUE(store.ok()) << store.status();
  auto totals = (*store)->Query(
      "SELECT (SELECT count(*) FROM ledger), (SELECT n FROM counter),"
      "       (SELECT count(DISTINCT counter_seen) FROM ledger),"
      "       (SELECT count(*) FROM schema_migrations WHERE module = 'ledger'),"
      "       (SELECT count(*) FROM schema_migrations WHERE module = 'store')");
  ASSERT_TRUE(totals.ok()) << totals.status();
  const Row& row = totals->at(0);
  const int64_t expected = kProcesses * kTransactionsPerProcess;
  EXPECT_EQ(std::get<int64_t>(row[0]), expected) << "rows lost";
  EXPECT_EQ(std::get<int64_t>(row[1]), expected) << "counter updates lost";
  // Serializable: every transaction saw a different counter value.
  EXPECT_EQ(std::get<int64_t>(row[2]), expected);
  EXPECT_EQ(std::get<int64_t>(row[3]), 1) << "a migration was applied twice";
  EXPECT_EQ(std::get<int64_t>(row[4]), static_cast<int64_t>(CoreMigrations().size()));
  EXPECT_TRUE((*store)->Verify().ok());
}

}  // namespace
}  // namespace mlcore::store
