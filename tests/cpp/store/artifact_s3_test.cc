// The ArtifactStore with an s3:// remote, against moto's S3 server: every Put is published,
// another machine's empty store reads it back checked against its digest, a damaged object is
// DataLoss naming its s3:// URL, directories travel file by file, and a failing endpoint leaves
// nothing recorded as written.
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/metadata_store.h"
#include "store/s3_test_util.h"
#include "store/store_test_util.h"

// In the helpers' namespace, which they need no using-declarations for.
namespace mlcore::store::testing {
namespace {

// The AWS environment pointing at a server, as a user's shell would.
struct AwsEnv {
  explicit AwsEnv(const std::string& endpoint)
      : endpoint_(endpoint),
        url("AWS_ENDPOINT_URL", endpoint),
        key("AWS_ACCESS_KEY_ID", "mlcore-test"),
        secret("AWS_SECRET_ACCESS_KEY", "mlcore-test-secret"),
        region("AWS_REGION", "us-east-1"),
        attempts("AWS_MAX_ATTEMPTS", "2") {}
  std::string endpoint_;
  ScopedEnv url, key, secret, region, attempts;
};

std::unique_ptr<ArtifactStore> OpenWithRemote(const std::string& root, const std::string& remote) {
  auto store = ArtifactStore::Open({.root = root, .sync = false, .remote = remote});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

TEST(ArtifactS3Test, PutPublishesAndAnotherStoreReadsItBackChecked) {
  SKIP_WITHOUT_MOTO();
  AwsEnv env("http://127.0.0.1:" + std::to_string(Moto().port()));
  ASSERT_TRUE(MotoClient()->CreateBucket("artifacts").ok());
  ScratchDir dir;
  auto here = OpenWithRemote(dir.Join("here"), "s3://artifacts/team/a");
  ASSERT_NE(here->remote(), nullptr);
  auto put = here->Put("model weights");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->uri(), "s3://artifacts/team/a/sha256/" + put->digest);
  auto object = MotoClient()->Get("artifacts", "team/a/sha256/" + put->digest);
  EXPECT_EQ(object.value_or(""), "model weights");

  // A second machine: nothing local, the remote fills it, checked.
  auto there = OpenWithRemote(dir.Join("there"), "s3://artifacts/team/a");
  EXPECT_TRUE(there->Contains(put->digest).value_or(false));
  EXPECT_EQ(there->Get(put->digest).value_or(""), "model weights");
  EXPECT_TRUE(std::filesystem::exists(*there->PathFor(put->digest)));
  EXPECT_TRUE(there->Verify(put->digest).ok());
  auto listed = there->remote()->List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(*listed, std::vector<std::string>{put->digest});

  // A damaged local copy is replaced from the remote rather than failing.
  WriteAll(*there->PathFor(put->digest), "model weighTs");
  EXPECT_EQ(there->Get(put->digest).value_or(""), "model weights");
}

TEST(ArtifactS3Test, ADamagedObjectIsDataLossNamingItsUrl) {
  SKIP_WITHOUT_MOTO();
  AwsEnv env("http://127.0.0.1:" + std::to_string(Moto().port()));
  ASSERT_TRUE(MotoClient()->CreateBucket("damaged").ok());
  ScratchDir dir;
  auto here = OpenWithRemote(dir.Join("here"), "s3://damaged");
  auto put = here->Put("the true bytes");
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_TRUE(MotoClient()->Put("damaged", "sha256/" + put->digest, "the TRUE bytes").ok());
  auto there = OpenWithRemote(dir.Join("there"), "s3://damaged");
  auto got = there->Get(put->digest);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find("s3://damaged/sha256/" + put->digest), std::string::npos)
      << got.status();
  EXPECT_FALSE(std::filesystem::exists(*there->PathFor(put->digest)));  // nothing unchecked kept
  // The producer's rerun heals it: the bad object was removed, so the Put uploads again.
  ASSERT_TRUE(here->Put("the true bytes").ok());
  EXPECT_EQ(there->Get(put->digest).value_or(""), "the true bytes");
}

TEST(ArtifactS3Test, DirectoriesTravelFileByFile) {
  SKIP_WITHOUT_MOTO();
  AwsEnv env("http://127.0.0.1:" + std::to_string(Moto().port()));
  ASSERT_TRUE(MotoClient()->CreateBucket("dirs").ok());
  ScratchDir dir;
  std::filesystem::create_directories(dir.Join("model/sub"));
  WriteAll(dir.Join("model/config.json"), "{}");
  WriteAll(dir.Join("model/sub/weights.bin"), std::string(1000, 'w'));
  auto here = OpenWithRemote(dir.Join("here"), "s3://dirs/models");
  auto put = here->PutDirectory(dir.Join("model"));
  ASSERT_TRUE(put.ok()) << put.status();
  auto there = OpenWithRemote(dir.Join("there"), "s3://dirs/models");
  ASSERT_TRUE(there->VerifyDirectory(put->digest).ok());
  ASSERT_TRUE(there->GetDirectory(put->digest, dir.Join("copy")).ok());
  EXPECT_EQ(ReadAll(dir.Join("copy/sub/weights.bin")), std::string(1000, 'w'));
}

TEST(ArtifactS3Test, AFailingEndpointLeavesNothingRecorded) {
  ScriptedHttpServer server({{404, ""}, {500, ErrorDocument("InternalError", "disk on fire")}});
  AwsEnv env(server.endpoint());
  ScratchDir dir;
  auto metadata = MetadataStore::Open({.path = dir.Join("mlcore.db")});
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  auto store = OpenWithRemote(dir.Join("artifacts"), "s3://broken-bucket/p");
  // What a pipeline does with an output: put it, and record it only when the put succeeded.
  auto put = store->Put("an output");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(put.status().message().find("s3://broken-bucket/p/sha256/"), std::string::npos)
      << put.status();
  EXPECT_NE(put.status().message().find("HTTP 500 InternalError"), std::string::npos)
      << put.status();
  auto rows = (*metadata)->Query("SELECT COUNT(*) FROM artifacts");
  if (rows.ok()) EXPECT_EQ(std::get<int64_t>((*rows)[0][0]), 0);
}

TEST(ArtifactS3Test, TheRemoteComesFromMlcoreArtifactsUnlessTurnedOff) {
  AwsEnv env("http://127.0.0.1:9");
  ScopedEnv remote("MLCORE_ARTIFACTS", "s3://from-env/prefix");
  ScratchDir dir;
  auto from_env = ArtifactStore::Open({.root = dir.Join("a")});
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  ASSERT_NE((*from_env)->remote(), nullptr);
  EXPECT_EQ((*from_env)->remote()->url(), "s3://from-env/prefix");
  auto local = ArtifactStore::Open({.root = dir.Join("b"), .remote = "none"});
  ASSERT_TRUE(local.ok());
  EXPECT_EQ((*local)->remote(), nullptr);
  auto unknown = ArtifactStore::Open({.root = dir.Join("c"), .remote = "ftp://x/y"});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("s3"), std::string::npos) << unknown.status();
}

}  // namespace
}  // namespace mlcore::store::testing
