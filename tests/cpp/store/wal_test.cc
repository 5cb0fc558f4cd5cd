// Issue 12, record 5: after a kill -9 committed rows can live only in the -wal file. A damaged
// log must be reported (SQLite would drop it silently and the store would open with rows
// missing), and a log whose database was moved away must not be replayed into a new store.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "mlcore/store/metadata_store.h"
#include "store/store_test_util.h"

namespace mlcore::store {
namespace {

using testing::ScratchDir;

// A child process commits `rows` rows and dies without closing the store or checkpointing,
// as a killed driver does: the rows are then only in the WAL.
void CommitAndDie(const std::string& path, int rows) {
  pid_t child = ::fork();
  if (child == 0) {
    MetadataStoreOptions o;
    o.path = path;
    auto store = MetadataStore::Open(o);
    if (!store.ok()) ::_exit(2);
    if (!(*store)->Execute("CREATE TABLE IF NOT EXISTS kept (n INTEGER)").ok()) ::_exit(3);
    for (int i = 0; i < rows; ++i) {
      if (!(*store)->Execute("INSERT INTO kept VALUES (" + std::to_string(i) + ")").ok()) {
        ::_exit(4);
      }
    }
    ::_exit(0);  // no destructor, no checkpoint: what kill -9 leaves
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u);
}

StatusOr<std::unique_ptr<MetadataStore>> OpenAt(const std::string& path) {
  MetadataStoreOptions o;
  o.path = path;
  return MetadataStore::Open(o);
}

TEST(WalTest, RowsOnlyInTheLogAreRecoveredFromASoundLog) {
  ScratchDir dir;
  const std::string path = dir.Join("mlcore.db");
  CommitAndDie(path, 7);
  auto store = OpenAt(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto rows = (*store)->Query("SELECT COUNT(*) FROM kept");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(std::get<int64_t>(rows->front().front()), 7);
}

TEST(WalTest, ADamagedLogIsDataLossNamingItAndNothingIsWritten) {
  ScratchDir dir;
  const std::string path = dir.Join("mlcore.db");
  CommitAndDie(path, 5);
  const auto wal_size = std::filesystem::file_size(path + "-wal");
  {
    std::fstream wal(path + "-wal", std::ios::in | std::ios::out | std::ios::binary);
    wal.seekp(0);
    wal.write("garbage garbage garbage garbage!", 32);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {  // refused every time, not only the first
    auto store = OpenAt(path);
    ASSERT_FALSE(store.ok());
    EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
    const std::string message(store.status().message());
    EXPECT_NE(message.find(path + "-wal is damaged"), std::string::npos) << message;
    EXPECT_NE(message.find("move " + path + "-wal and " + path + "-shm with it"), std::string::npos)
        << message;
  }
  EXPECT_EQ(std::filesystem::file_size(path + "-wal"), wal_size);
}

TEST(WalTest, ALogTooShortForItsHeaderIsDataLoss) {
  ScratchDir dir;
  const std::string path = dir.Join("mlcore.db");
  CommitAndDie(path, 1);
  std::filesystem::resize_file(path + "-wal", 20);
  auto store = OpenAt(path);
  EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
}

TEST(WalTest, ALogWhoseDatabaseWasMovedAwayIsNotReplayedIntoANewStore) {
  ScratchDir dir;
  const std::string path = dir.Join("mlcore.db");
  CommitAndDie(path, 3);
  std::filesystem::rename(path, dir.Join("moved.db"));  // the old, incomplete remedy
  auto store = OpenAt(path);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  EXPECT_NE(store.status().message().find(path + "-wal"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
  // Moving the three files together keeps every committed row.
  std::filesystem::rename(path + "-wal", dir.Join("moved.db-wal"));
  if (std::filesystem::exists(path + "-shm")) {
    std::filesystem::rename(path + "-shm", dir.Join("moved.db-shm"));
  }
  auto moved = OpenAt(dir.Join("moved.db"));
  ASSERT_TRUE(moved.ok()) << moved.status();
  auto rows = (*moved)->Query("SELECT COUNT(*) FROM kept");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(std::get<int64_t>(rows->front().front()), 3);
  EXPECT_TRUE(OpenAt(path).ok());  // and the old place now starts a new store
}

}  // namespace
}  // namespace mlcore::store
