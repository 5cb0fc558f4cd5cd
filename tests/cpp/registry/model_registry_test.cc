#include "mlcore/registry/model_registry.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "gtest/gtest.h"
#include "store/store_test_util.h"

namespace mlcore::registry {
namespace {

namespace fs = std::filesystem;
using store::testing::ReadAll;
using store::testing::ScratchDir;
using store::testing::WriteAll;

class ModelRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = ModelRegistry::Open({.home = home_.path()});
    ASSERT_TRUE(opened.ok()) << opened.status();
    registry_ = *std::move(opened);
  }

  // A model directory whose weights file holds `content`.
  std::string ModelDir(const std::string& name, const std::string& content) {
    const std::string dir = src_.Join(name);
    fs::create_directories(dir + "/sub");
    WriteAll(dir + "/weights.bin", content);
    WriteAll(dir + "/sub/signature.json", "{\"inputs\": []}");
    return dir;
  }

  ScratchDir home_;
  ScratchDir src_;
  std::unique_ptr<ModelRegistry> registry_;
};

TEST_F(ModelRegistryTest, VersionsCountUpAndAreImmutable) {
  const std::string dir = ModelDir("m", "one");
  RegisterOptions options;
  options.metrics = {{"accuracy", 0.9}};
  options.tags = {{"framework", "mlcore"}};
  auto v1 = registry_->Register("digits", dir, options);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->metrics["accuracy"], 0.9);
  EXPECT_EQ(v1->tags["framework"], "mlcore");
  EXPECT_EQ(v1->size, 3 + 14);
  EXPECT_EQ(v1->source, fs::absolute(dir).string());
  // Changing the source afterwards changes nothing registered.
  WriteAll(dir + "/weights.bin", "two");
  auto v2 = registry_->Register("digits", dir);
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_NE(v1->digest, v2->digest);
  auto path1 = registry_->Materialize("digits/1");
  ASSERT_TRUE(path1.ok()) << path1.status();
  EXPECT_EQ(ReadAll(*path1 + "/weights.bin"), "one");
  EXPECT_EQ(ReadAll(*path1 + "/sub/signature.json"), "{\"inputs\": []}");
  auto latest = registry_->Materialize("digits");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(ReadAll(*latest + "/weights.bin"), "two");
  // Materialising again reuses the shared copy.
  EXPECT_EQ(*registry_->Materialize("digits/1"), *path1);
  const std::string dest = src_.Join("copy");
  ASSERT_TRUE(registry_->Materialize("digits/2", dest).ok());
  EXPECT_EQ(ReadAll(dest + "/weights.bin"), "two");
}

TEST_F(ModelRegistryTest, SingleFileBecomesADirectory) {
  const std::string file = src_.Join("model.safetensors");
  WriteAll(file, "tensor bytes");
  auto v = registry_->Register("single", file);
  ASSERT_TRUE(v.ok()) << v.status();
  auto path = registry_->Materialize("single/1");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadAll(*path + "/model.safetensors"), "tensor bytes");
}

TEST_F(ModelRegistryTest, AliasesMoveAndProtectVersions) {
  const std::string dir = ModelDir("m", "a");
  ASSERT_TRUE(registry_->Register("m", dir).ok());
  WriteAll(dir + "/weights.bin", "b");
  ASSERT_TRUE(registry_->Register("m", dir).ok());
  ASSERT_TRUE(registry_->SetAlias("m", "production", 1).ok());
  ASSERT_TRUE(registry_->SetAlias("m", "staging", 2).ok());
  EXPECT_EQ(registry_->Resolve("m@production")->version, 1);
  ASSERT_TRUE(registry_->SetAlias("m", "production", 2).ok());
  EXPECT_EQ(registry_->Resolve("m@production")->version, 2);
  auto v2 = registry_->Resolve("m/2");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->aliases, (std::vector<std::string>{"production", "staging"}));
  auto model = registry_->GetModel("m");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->latest_version, 2);
  EXPECT_EQ(model->aliases.at("production"), 2);

  Status refused = registry_->DeleteVersion("m", 2);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("production, staging"), std::string::npos) << refused;
  ASSERT_TRUE(registry_->DeleteVersion("m", 1).ok());
  EXPECT_EQ(registry_->Resolve("m/1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(registry_->DeleteVersion("m", 2, /*force=*/true).ok());
  EXPECT_EQ(registry_->Resolve("m@production").status().code(), absl::StatusCode::kNotFound);
  // Numbers are never given out twice.
  auto v3 = registry_->Register("m", dir);
  ASSERT_TRUE(v3.ok());
  EXPECT_EQ(v3->version, 3);
  EXPECT_EQ(registry_->DeleteAlias("m", "staging").code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelRegistryTest, ClearErrorsForBadInput) {
  const std::string dir = ModelDir("m", "a");
  for (const char* bad : {"", "../x", "a/b", "..", ".hidden", "a..b", "white space", "x@y"}) {
    Status st = registry_->Register(bad, dir).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << st;
  }
  EXPECT_EQ(registry_->Register("m", src_.Join("missing")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Register("m", "").status().code(), absl::StatusCode::kInvalidArgument);
  RegisterOptions bad_tags;
  bad_tags.tags = {{"n", 3}};
  EXPECT_EQ(registry_->Register("m", dir, bad_tags).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(registry_->Register("m", dir).ok());
  Status unknown = registry_->Resolve("nope").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.message().find("unknown model 'nope'"), std::string::npos) << unknown;
  EXPECT_EQ(registry_->Resolve("m/7").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Resolve("m@prod").status().code(), absl::StatusCode::kNotFound);
  for (const char* bad : {"m/0", "m/x", "m/", "m@", "m@Prod", "m/1@a", "../m", "m/-1"}) {
    EXPECT_EQ(registry_->Resolve(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(registry_->SetAlias("m", "production", 9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->SetAlias("m", "1st", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->SetAlias("other", "production", 1).code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelRegistryTest, DamagedStoredFileIsDataLoss) {
  auto v = registry_->Register("m", ModelDir("m", "weights"));
  ASSERT_TRUE(v.ok());
  auto files = registry_->artifacts().ReadDirectoryManifest(v->digest);
  ASSERT_TRUE(files.ok());
  for (const store::DirectoryEntry& f : *files) {
    if (f.path == "weights.bin") WriteAll(*registry_->artifacts().PathFor(f.digest), "tampered");
  }
  Status st = registry_->Materialize("m/1").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
}

TEST_F(ModelRegistryTest, LineageFromAPipelineArtifactAndATrial) {
  // A pipeline run's recorded output, as the executor writes it.
  ASSERT_TRUE(registry_->metadata()
                  .Execute("CREATE TABLE IF NOT EXISTS pipeline_artifacts(id INTEGER PRIMARY KEY, "
                           "run_id TEXT, task TEXT, output TEXT, type TEXT, sha256 TEXT, uri TEXT, "
                           "metadata TEXT, created_at REAL)")
                  .ok());
  auto art = registry_->artifacts().Put("checkpoint bytes");
  ASSERT_TRUE(art.ok());
  ASSERT_TRUE(registry_->metadata()
                  .Query("INSERT INTO pipeline_artifacts(id, run_id, task, output, type, sha256, "
                         "uri, metadata, created_at) VALUES (7, 'r1', 'train', 'model', 'Model', "
                         "?1, '', '{}', 0)",
                         {art->digest})
                  .ok());
  auto v = registry_->Register("fromrun", "run://r1/train/model");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->lineage.run_id, "r1");
  EXPECT_EQ(v->lineage.task, "train");
  EXPECT_EQ(v->lineage.output, "model");
  EXPECT_EQ(v->lineage.artifact_id, 7);
  EXPECT_EQ(ReadAll(*registry_->Materialize("fromrun") + "/model"), "checkpoint bytes");
  EXPECT_EQ(registry_->Register("fromrun", "run://r1/train/other").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Register("fromrun", "run://r1/train").status().code(),
            absl::StatusCode::kInvalidArgument);

  RegisterOptions options;
  options.lineage.study = "search";
  options.lineage.trial = 12;
  auto t = registry_->Register("fromtrial", ModelDir("t", "w"), options);
  ASSERT_TRUE(t.ok());
  auto again = registry_->Resolve("fromtrial/1");
  EXPECT_EQ(again->lineage.study, "search");
  EXPECT_EQ(again->lineage.trial, 12);
}

// Real processes registering at once: every version number appears exactly once, 1..N.
TEST_F(ModelRegistryTest, ConcurrentProcessesGetContiguousVersions) {
  const std::string dir = ModelDir("m", "shared");
  registry_.reset();
  constexpr int kProcesses = 4;
  constexpr int kEach = 5;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto reg = ModelRegistry::Open({.home = home_.path()});
      int failures = reg.ok() ? 0 : 1;
      for (int i = 0; i < kEach && reg.ok(); ++i) {
        RegisterOptions options;
        options.tags = {{"writer", std::to_string(p)}};
        failures += (*reg)->Register("race", dir, options).ok() ? 0 : 1;
      }
      ::_exit(failures);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  auto reg = ModelRegistry::Open({.home = home_.path()});
  ASSERT_TRUE(reg.ok());
  auto versions = (*reg)->ListVersions("race");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), static_cast<size_t>(kProcesses * kEach));
  for (size_t i = 0; i < versions->size(); ++i) EXPECT_EQ((*versions)[i].version, int64_t(i) + 1);
}

TEST(ModelRefTest, ParsesTheThreeForms) {
  EXPECT_EQ(*ParseModelRef("digits"), (ModelRef{.name = "digits"}));
  EXPECT_EQ(*ParseModelRef("digits/12"), (ModelRef{.name = "digits", .version = 12}));
  EXPECT_EQ(*ParseModelRef("digits@production"),
            (ModelRef{.name = "digits", .alias = std::string("production")}));
  EXPECT_EQ(ParseModelRef("digits@production")->ToString(), "digits@production");
  EXPECT_FALSE(ParseModelRef("d/99999999999999999999").ok());
  EXPECT_FALSE(ParseModelRef(std::string(129, 'a')).ok());
  // Found by model_ref_fuzzer: "i/05" parsed as version 5 and printed back as "i/5".
  auto padded = ParseModelRef("i/05");
  EXPECT_EQ(padded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(padded.status().message().find("leading zero"), std::string::npos);
}

}  // namespace
}  // namespace mlcore::registry
