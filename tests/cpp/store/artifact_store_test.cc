#include "mlcore/store/artifact_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace mlcore::store {
namespace {

using testing::ReadAll;
using testing::ScopedEnv;
using testing::WriteAll;

// sha256("hello") and sha256(""), from any sha256 tool.
constexpr char kHelloDigest[] = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
constexpr char kEmptyDigest[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

size_t EntriesIn(const std::string& directory) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory)) ++n;
  return n;
}

using ArtifactStoreTest = testing::ScratchStoreTest;

TEST_F(ArtifactStoreTest, PutThenGetByDigest) {
  auto artifact = store->Put("hello");
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  EXPECT_EQ(artifact->digest, kHelloDigest);
  EXPECT_EQ(artifact->size, 5);
  std::string expected_path = dir.Join("artifacts/sha256/2c/") + kHelloDigest;
  EXPECT_EQ(artifact->path, expected_path);
  EXPECT_EQ(artifact->uri(), "file://" + expected_path);
  EXPECT_EQ(ReadAll(expected_path), "hello");
  EXPECT_EQ(*store->Get(kHelloDigest), "hello");
  EXPECT_EQ(*store->Get(std::string("sha256:") + kHelloDigest), "hello");
  EXPECT_TRUE(*store->Contains(kHelloDigest));
  EXPECT_EQ(*store->PathFor(kHelloDigest), expected_path);
  EXPECT_EQ(store->Stat(kHelloDigest)->size, 5);
  EXPECT_TRUE(store->Verify(kHelloDigest).ok());
  // Stored files are read-only: they never change once named.
  EXPECT_EQ(
      std::filesystem::status(expected_path).permissions() & std::filesystem::perms::owner_write,
      std::filesystem::perms::none);
}

TEST_F(ArtifactStoreTest, EmptyContentIsAnArtifactToo) {
  auto artifact = store->Put("");
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  EXPECT_EQ(artifact->digest, kEmptyDigest);
  EXPECT_EQ(*store->Get(kEmptyDigest), "");
}

TEST_F(ArtifactStoreTest, SameContentTwiceIsStoredOnce) {
  auto first = store->Put("hello");
  ASSERT_TRUE(first.ok());
  struct stat before;
  ASSERT_EQ(::stat(first->path.c_str(), &before), 0);
  auto second = store->Put("hello");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->digest, first->digest);
  EXPECT_EQ(second->path, first->path);
  struct stat after;
  ASSERT_EQ(::stat(first->path.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the second Put rewrote the file";

  std::string source = dir.Join("hello.txt");
  WriteAll(source, "hello");
  auto from_file = store->PutFile(source);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->digest, kHelloDigest);
  EXPECT_EQ(EntriesIn(dir.Join("artifacts/sha256/2c")), 1u);
  EXPECT_EQ(EntriesIn(dir.Join("artifacts/tmp")), 0u);
}

TEST_F(ArtifactStoreTest, PutFileStreamsLargeFiles) {
  // Not a multiple of the 1 MiB read chunk, so the last partial chunk is exercised.
  std::string content(5 * (1 << 20) + 7, '\0');
  std::mt19937 rng(7);
  for (char& c : content) c = static_cast<char>(rng());
  std::string source = dir.Join("weights.safetensors");
  WriteAll(source, content);
  auto artifact = store->PutFile(source);
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  EXPECT_EQ(artifact->digest, *Sha256Hex(content));
  EXPECT_EQ(artifact->size, static_cast<int64_t>(content.size()));
  EXPECT_EQ(*store->Get(artifact->digest), content);
  EXPECT_TRUE(store->Verify(artifact->digest).ok());
  EXPECT_EQ(EntriesIn(dir.Join("artifacts/tmp")), 0u);
}

TEST_F(ArtifactStoreTest, PutFileOfMissingFileIsNotFound) {
  std::string missing = dir.Join("no-such-file");
  auto artifact = store->PutFile(missing);
  EXPECT_EQ(artifact.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(artifact.status().message().find(missing), absl::string_view::npos);
  EXPECT_EQ(EntriesIn(dir.Join("artifacts/tmp")), 0u) << "the failed Put left its temp file";
}

TEST_F(ArtifactStoreTest, TamperedFileFailsVerify) {
  auto artifact = store->Put("model weights v1");
  ASSERT_TRUE(artifact.ok());
  WriteAll(artifact->path, "model weights v2");
  Status status = store->Verify(artifact->digest);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(artifact->path), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find(*Sha256Hex("model weights v2")), absl::string_view::npos)
      << status;

  // A damaged copy of a different size is replaced by the next Put of the real content.
  WriteAll(artifact->path, "short");
  ASSERT_TRUE(store->Put("model weights v1").ok());
  EXPECT_TRUE(store->Verify(artifact->digest).ok());
}

// Issue 12: same-size damage used to pass Put's size check, so re-running the producer never
// healed it, and Get handed the wrong bytes on.
TEST_F(ArtifactStoreTest, SameSizeDamageIsHealedByPutAndRefusedByGet) {
  auto artifact = store->Put("model weights v1");
  ASSERT_TRUE(artifact.ok());
  WriteAll(artifact->path, "model weights v2");  // same size
  StatusOr<std::string> got = store->Get(artifact->digest);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find(artifact->path), absl::string_view::npos);

  auto again = store->Put("model weights v1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->digest, artifact->digest);
  EXPECT_TRUE(store->Verify(artifact->digest).ok());
  EXPECT_EQ(*store->Get(artifact->digest), "model weights v1");

  WriteAll(artifact->path, "model weights v3");
  const std::string source = dir.Join("weights.bin");
  WriteAll(source, "model weights v1");
  ASSERT_TRUE(store->PutFile(source).ok());
  EXPECT_TRUE(store->Verify(artifact->digest).ok());
  EXPECT_EQ(EntriesIn(store->root() + "/tmp"), 0u);  // no temp file left behind
}

TEST_F(ArtifactStoreTest, BadDigestsAreInvalidArgumentNamingThem) {
  std::string upper(kHelloDigest);
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  const std::vector<std::string> bad = {"",
                                        "abc",
                                        upper,
                                        std::string(64, 'g'),
                                        std::string(kHelloDigest) + "0",
                                        std::string("sha256:") + std::string(63, 'a'),
                                        "md5:" + std::string(kHelloDigest),
                                        "../../etc/passwd"};
  for (const std::string& digest : bad) {
    for (const Status& status :
         {store->Get(digest).status(), store->Contains(digest).status(),
          store->PathFor(digest).status(), store->Verify(digest), store->Stat(digest).status()}) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << digest;
      EXPECT_NE(status.message().find("'" + digest + "'"), absl::string_view::npos) << status;
    }
  }
}

TEST_F(ArtifactStoreTest, MissingArtifactIsNotFound) {
  EXPECT_FALSE(*store->Contains(kHelloDigest));
  Status status = store->Get(kHelloDigest).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find(kHelloDigest), absl::string_view::npos);
  EXPECT_EQ(store->Verify(kHelloDigest).code(), absl::StatusCode::kNotFound);
}

TEST_F(ArtifactStoreTest, ConcurrentPutsOfTheSameContentAgree) {
  std::string content(300000, 'x');
  std::vector<std::thread> threads;
  std::vector<std::string> digests(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto artifact = store->Put(content);
      if (artifact.ok()) digests[i] = artifact->digest;
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& digest : digests) EXPECT_EQ(digest, *Sha256Hex(content));
  EXPECT_TRUE(store->Verify(digests[0]).ok());
  EXPECT_EQ(EntriesIn(dir.Join("artifacts/tmp")), 0u);
}

TEST_F(ArtifactStoreTest, DefaultRootIsUnderMlcoreHome) {
  ScopedEnv home("MLCORE_HOME", dir.Join("home"));
  auto home_store = ArtifactStore::Open();
  ASSERT_TRUE(home_store.ok()) << home_store.status();
  EXPECT_EQ((*home_store)->root(), dir.Join("home/artifacts"));
  auto artifact = (*home_store)->Put("hello");
  ASSERT_TRUE(artifact.ok());
  EXPECT_TRUE(std::filesystem::exists(dir.Join("home/artifacts/sha256/2c/") + kHelloDigest));
}

TEST_F(ArtifactStoreTest, RecordArtifactInTheMetadataStore) {
  auto metadata = MetadataStore::Open({.path = dir.Join("mlcore.db")});
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  auto artifact = store->Put("hello");
  ASSERT_TRUE(artifact.ok());
  ASSERT_TRUE(RecordArtifact(**metadata, *artifact, "text/plain").ok());
  ASSERT_TRUE(RecordArtifact(**metadata, *artifact, "application/json").ok());
  auto rows = (*metadata)->Query("SELECT sha256, size, uri, media_type, created_at FROM artifacts");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(std::get<std::string>((*rows)[0][0]), kHelloDigest);
  EXPECT_EQ(std::get<int64_t>((*rows)[0][1]), 5);
  EXPECT_EQ(std::get<std::string>((*rows)[0][2]), artifact->uri());
  EXPECT_EQ(std::get<std::string>((*rows)[0][3]), "text/plain");
  Artifact bad = *artifact;
  bad.digest = "nope";
  EXPECT_EQ(RecordArtifact(**metadata, bad).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlcore::store
