// Directory artifacts in pipelines: an output written as a directory (a saved model) is stored
// as a manifest of its files' digests, a reader gets a checked copy in its task directory, the
// cache serves it again, and a damaged file in the stored tree fails the reader, naming the file.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::Cmd;
using testing::FindTask;
using testing::Fn;
using testing::ReadAll;

// save (writes a directory Model) -> load (reads two files of it, writes into its own copy).
struct Counters {
  std::atomic<int> saves{0};
  std::atomic<int> loads{0};
};

StatusOr<Pipeline> SaveLoadPipeline(Counters* c) {
  auto save = Fn("save", {{"tag", ValueType::kString}}, {{"model", ValueType::kModel}},
                 [c](TaskContext& ctx) {
                   ++c->saves;
                   const std::string dir = ctx.outputs["model"].path;
                   fs::create_directories(dir + "/weights");
                   std::ofstream(dir + "/architecture.json")
                       << "{\"tag\": \"" << ctx.params["tag"].get<std::string>() << "\"}";
                   std::ofstream(dir + "/weights/w.bin") << "0123456789";
                   ctx.outputs["model"].metadata["framework"] = "mlcore";
                   return absl::OkStatus();
                 });
  auto load = Fn("load", {{"model", ValueType::kModel}}, {{"text", ValueType::kString}},
                 [c](TaskContext& ctx) {
                   ++c->loads;
                   const ArtifactRef& in = ctx.inputs["model"];
                   if (!in.directory || !fs::is_directory(in.path)) {
                     return absl::InternalError("input is not a directory: " + in.path);
                   }
                   ctx.output_params["text"] = ReadAll(in.path + "/architecture.json") +
                                               ReadAll(in.path + "/weights/w.bin");
                   // The copy is the task's own: writing into it changes nothing stored.
                   std::ofstream(in.path + "/weights/w.bin") << "scribbled";
                   return absl::OkStatus();
                 });
  MLCORE_ASSIGN_OR_RETURN(Pipeline p,
                          Pipeline::Create("dirs", {{"tag", ValueType::kString, Json("a")}}));
  MLCORE_RETURN_IF_ERROR(p.AddTask("save", save, {{"tag", InputBinding::Parameter("tag")}}));
  MLCORE_RETURN_IF_ERROR(
      p.AddTask("load", load, {{"model", InputBinding::Output("save", "model")}}));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("text", "load", "text"));
  return p;
}

// Most tests run save -> load; all start with a scratch home.
using DirectoryArtifacts = testing::PipelineShapeTest<Counters, SaveLoadPipeline>;

TEST_F(DirectoryArtifacts, StoredCheckedCopiedAndCached) {
  auto run = client->Run(*p, {});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->state, "succeeded") << run->error;
  EXPECT_EQ(run->outputs["text"], Json("{\"tag\": \"a\"}0123456789"));

  // One artifact: the manifest, listing both files by content.
  auto artifacts = client->ListArtifacts(run->id).value();
  ASSERT_EQ(artifacts.size(), 1u);
  EXPECT_EQ(artifacts[0].type, "Model");
  EXPECT_EQ(artifacts[0].metadata["framework"], Json("mlcore"));
  auto files = client->artifacts().ReadDirectoryManifest(artifacts[0].digest);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].path, "architecture.json");
  EXPECT_EQ((*files)[1].path, "weights/w.bin");
  EXPECT_EQ(client->artifacts().Get((*files)[1].digest).value(), "0123456789");
  auto media = client->metadata().Query("SELECT media_type FROM artifacts WHERE sha256 = ?1",
                                        {artifacts[0].digest});
  ASSERT_TRUE(media.ok() && media->size() == 1);
  EXPECT_EQ(std::get<std::string>((*media)[0][0]), store::kDirectoryMediaType);
  // Lineage as for a file.
  auto consumers = client->ArtifactConsumers(artifacts[0].id).value();
  ASSERT_EQ(consumers.size(), 1u);
  EXPECT_EQ(consumers[0].task, "load");

  // Again: both cached, the same output.
  auto again = client->Run(*p, {});
  ASSERT_EQ(again->state, "succeeded") << again->error;
  EXPECT_EQ(c.saves.load(), 1);
  EXPECT_EQ(c.loads.load(), 1);
  auto tasks = client->ListTasks(again->id).value();
  EXPECT_EQ(FindTask(tasks, "save")->state, "cached");
  EXPECT_EQ(FindTask(tasks, "load")->state, "cached");
  EXPECT_EQ(again->outputs["text"], run->outputs["text"]);

  // Another tag: save writes another tree, so load runs on it too.
  auto other = client->Run(*p, {.arguments = {{"tag", "b"}}});
  ASSERT_EQ(other->state, "succeeded") << other->error;
  EXPECT_EQ(c.saves.load(), 2);
  EXPECT_EQ(c.loads.load(), 2);
}

TEST_F(DirectoryArtifacts, DamagedStoredFileIsDetectedAndHealedByTheProducer) {
  auto run = client->Run(*p, {});
  ASSERT_EQ(run->state, "succeeded") << run->error;
  auto artifacts = client->ListArtifacts(run->id).value();
  auto files = client->artifacts().ReadDirectoryManifest(artifacts[0].digest).value();
  // Same size, other bytes: only hashing finds it.
  const std::string stored = client->artifacts().PathFor(files[1].digest).value();
  const std::string original = ReadAll(stored);
  ::chmod(stored.c_str(), 0644);
  std::ofstream(stored, std::ios::trunc) << "9876543210";
  ASSERT_NE(ReadAll(stored), original);

  auto again = client->Run(*p, {});
  ASSERT_TRUE(again.ok()) << again.status();
  // save's cache entry is no hit (its tree fails the check), so it runs again, and storing its
  // tree rewrites the damaged copy (ArtifactStore::Put checks a same-size copy's digest); load
  // then reads the healed tree and gives what the first run gave.
  EXPECT_EQ(c.saves.load(), 2);
  EXPECT_EQ(again->state, "succeeded") << again->error;
  EXPECT_EQ(again->outputs["text"], run->outputs["text"]);
  EXPECT_EQ(ReadAll(stored), original);
  EXPECT_TRUE(client->artifacts().VerifyDirectory(artifacts[0].digest).ok());
}

TEST_F(DirectoryArtifacts, CommandsWriteAndReadDirectories) {
  auto make = Cmd("make", {}, {{"model", ValueType::kModel}},
                  "mkdir -p {{outputs.artifacts.model.path}}/sub && "
                  "echo hello > {{outputs.artifacts.model.path}}/sub/greeting");
  auto read = Cmd("read", {{"model", ValueType::kModel}}, {{"text", ValueType::kString}},
                  "cat {{inputs.artifacts.model.path}}/sub/greeting > "
                  "{{outputs.parameters.text.path}}");
  auto cmd_dirs = Pipeline::Create("cmd_dirs");
  ASSERT_TRUE(cmd_dirs->AddTask("make", make).ok());
  ASSERT_TRUE(
      cmd_dirs->AddTask("read", read, {{"model", InputBinding::Output("make", "model")}}).ok());
  ASSERT_TRUE(cmd_dirs->AddOutput("text", "read", "text").ok());
  auto run = client->Run(*cmd_dirs, {});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->state, "succeeded") << run->error;
  EXPECT_EQ(run->outputs["text"], Json("hello"));

  // Neither a file nor a directory: the task fails saying so.
  auto none = Cmd("none", {}, {{"model", ValueType::kModel}}, "true");
  auto q = Pipeline::Create("no_output");
  ASSERT_TRUE(q->AddTask("none", none).ok());
  auto failed = client->Run(*q, {});
  ASSERT_EQ(failed->state, "failed");
  EXPECT_HAS(failed->error, "as a file or directory at");
}

}  // namespace
}  // namespace mlcore::pipeline
