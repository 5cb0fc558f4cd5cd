// Directory artifacts (a saved model is a directory): stored as a manifest of content digests,
// named by the manifest's digest (equal trees, equal names), read back whole and verified file
// by file; a damaged file, a manifest naming a path outside the directory, a link inside the
// tree and an existing destination are refused with errors naming them.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "mlcore/store/artifact_store.h"
#include "store/store_test_util.h"

namespace mlcore::store {
namespace {

namespace fs = std::filesystem;
using testing::ReadAll;
using testing::WriteAll;

// A checkpoint-like tree: two files at the top, one in a subdirectory, one empty file.
void MakeTree(const std::string& dir, const std::string& weights = "weights") {
  fs::create_directories(dir + "/assets");
  WriteAll(dir + "/architecture.json", "{\"format\": \"x\"}");
  WriteAll(dir + "/model.safetensors", weights);
  WriteAll(dir + "/assets/vocab.txt", "a\nb\n");
  WriteAll(dir + "/empty", "");
}

using ArtifactDirectoryTest = testing::ScratchStoreTest;

TEST_F(ArtifactDirectoryTest, RoundTripsAndEqualTreesShareADigest) {
  MakeTree(dir.Join("model"));
  auto artifact = store->PutDirectory(dir.Join("model"));
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  auto entries = store->ReadDirectoryManifest(artifact->digest);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].path, "architecture.json");
  EXPECT_EQ((*entries)[1].path, "assets/vocab.txt");
  EXPECT_EQ((*entries)[3].path, "model.safetensors");
  EXPECT_EQ((*entries)[3].size, 7);
  EXPECT_TRUE(store->VerifyDirectory(artifact->digest).ok());

  ASSERT_TRUE(store->GetDirectory(artifact->digest, dir.Join("copy")).ok());
  EXPECT_EQ(ReadAll(dir.Join("copy/model.safetensors")), "weights");
  EXPECT_EQ(ReadAll(dir.Join("copy/assets/vocab.txt")), "a\nb\n");
  EXPECT_EQ(ReadAll(dir.Join("copy/empty")), "");

  MakeTree(dir.Join("again"));
  EXPECT_EQ(store->PutDirectory(dir.Join("again"))->digest, artifact->digest);
  MakeTree(dir.Join("other"), "other weights");
  EXPECT_NE(store->PutDirectory(dir.Join("other"))->digest, artifact->digest);
  EXPECT_EQ(store->GetDirectory(artifact->digest, dir.Join("copy")).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(ArtifactDirectoryTest, ADamagedFileIsDataLossAndLeavesNothing) {
  MakeTree(dir.Join("model"));
  auto artifact = store->PutDirectory(dir.Join("model"));
  ASSERT_TRUE(artifact.ok()) << artifact.status();
  auto weights = store->Put("weights");
  ASSERT_TRUE(weights.ok());
  ::chmod(weights->path.c_str(), 0644);
  WriteAll(weights->path, "WEIGHTS");  // same size, other bytes
  Status verified = store->VerifyDirectory(artifact->digest);
  EXPECT_EQ(verified.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(verified.message().find("model.safetensors"), std::string::npos) << verified;
  Status got = store->GetDirectory(artifact->digest, dir.Join("copy"));
  EXPECT_EQ(got.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(got.message().find("model.safetensors"), std::string::npos) << got;
  EXPECT_FALSE(fs::exists(dir.Join("copy")));
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find("copy.partial"), std::string::npos);
  }
}

TEST_F(ArtifactDirectoryTest, ManifestsThatLeaveTheDirectoryAreRefused) {
  auto file = store->Put("x");
  ASSERT_TRUE(file.ok());
  for (const std::string path : {"../escape", "/etc/passwd", "a/../../b"}) {
    auto manifest =
        store->Put("{\"format\": \"mlcore.store.Directory\", \"files\": [{\"path\": \"" + path +
                   "\", \"digest\": \"" + file->digest + "\", \"size\": 1}]}");
    ASSERT_TRUE(manifest.ok());
    EXPECT_EQ(store->GetDirectory(manifest->digest, dir.Join("out")).code(),
              absl::StatusCode::kDataLoss)
        << path;
  }
  EXPECT_EQ(store->ReadDirectoryManifest(file->digest).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(ArtifactDirectoryTest, LinksAndMissingDirectoriesAreRefused) {
  MakeTree(dir.Join("model"));
  fs::create_symlink("/etc/hostname", dir.Join("model/link"));
  Status linked = store->PutDirectory(dir.Join("model")).status();
  EXPECT_EQ(linked.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(linked.message().find("link"), std::string::npos) << linked;
  EXPECT_EQ(store->PutDirectory(dir.Join("none")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mlcore::store
