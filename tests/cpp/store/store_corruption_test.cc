#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "mlcore/store/metadata_store.h"
#include "store/store_test_util.h"

namespace mlcore::store {
namespace {

using testing::ReadAll;
using testing::ScratchDir;
using testing::WriteAll;

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

// A closed store of `rows` rows of padding, big enough to span many pages.
void MakeStoreWithData(const std::string& path, int rows) {
  auto store = MetadataStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Execute("CREATE TABLE data (id INTEGER PRIMARY KEY, payload TEXT)").ok());
  ASSERT_TRUE((*store)
                  ->Transaction([&]() -> Status {
                    for (int i = 0; i < rows; ++i) {
                      MLCORE_RETURN_IF_ERROR(
                          (*store)
                              ->Query("INSERT INTO data (payload) VALUES (?1)",
                                      {std::string(200, static_cast<char>('a' + i % 26))})
                              .status());
                    }
                    return absl::OkStatus();
                  })
                  .ok());
}

void ExpectDataLossNaming(const Status& status, const std::string& path, const std::string& what) {
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(path), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find(what), absl::string_view::npos) << status;
}

TEST(StoreCorruptionTest, GarbageFileIsDataLossAndLeftUntouched) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  std::string garbage = RandomBytes(8192, 1);
  WriteAll(path, garbage);
  auto store = MetadataStore::Open({.path = path});
  ExpectDataLossNaming(store.status(), path, "not an SQLite database");
  EXPECT_EQ(ReadAll(path), garbage);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(StoreCorruptionTest, FileShorterThanTheHeaderIsDataLoss) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  WriteAll(path, std::string("SQLite format 3\0", 16) + RandomBytes(20, 2));
  ExpectDataLossNaming(MetadataStore::Open({.path = path}).status(), path, "truncated");
}

TEST(StoreCorruptionTest, TruncatedFileIsDataLossNamingTheSizes) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  MakeStoreWithData(path, 2000);
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));  // checkpointed and removed at close
  auto size = std::filesystem::file_size(path);
  ASSERT_GT(size, 100000u);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(size / 2)), 0);
  Status status = MetadataStore::Open({.path = path}).status();
  ExpectDataLossNaming(status, path, "truncated");
  EXPECT_NE(status.message().find(std::to_string(size / 2)), absl::string_view::npos) << status;
  EXPECT_EQ(std::filesystem::file_size(path), size / 2);
}

TEST(StoreCorruptionTest, DamagedPagesAreDataLossAtOpenOrVerify) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  MakeStoreWithData(path, 500);
  std::string bytes = ReadAll(path);
  // Keep the header page, scramble every other page: the schema is readable, the tables not.
  const size_t page = 4096;
  ASSERT_GT(bytes.size(), 4 * page);
  std::string scrambled = bytes.substr(0, page) + RandomBytes(bytes.size() - page, 3);
  WriteAll(path, scrambled);

  auto store = MetadataStore::Open({.path = path});
  if (!store.ok()) {
    ExpectDataLossNaming(store.status(), path, "corrupted");
    return;
  }
  ExpectDataLossNaming((*store)->Verify(), path, "integrity check");
  auto rows = (*store)->Query("SELECT count(*), sum(length(payload)) FROM data");
  if (!rows.ok()) ExpectDataLossNaming(rows.status(), path, "corrupted");
}

TEST(StoreCorruptionTest, HealthyStorePassesVerify) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  MakeStoreWithData(path, 100);
  auto store = MetadataStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Verify().ok());
}

TEST(StoreCorruptionTest, EmptyFileBecomesANewStore) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  WriteAll(path, "");
  auto store = MetadataStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->SchemaVersion("store"), static_cast<int>(CoreMigrations().size()));
}

TEST(StoreCorruptionTest, DirectoryInPlaceOfTheFileIsRefused) {
  ScratchDir dir;
  std::string path = dir.Join("mlcore.db");
  ASSERT_TRUE(std::filesystem::create_directory(path));
  Status status = MetadataStore::Open({.path = path}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find(path), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace mlcore::store
