// Gathering artifacts from a ParallelFor: a task after the loop gets the iterations' artifacts
// as a list input (KFP's Input[List[Model]]), each recorded as one of its consumed inputs, its
// cache keyed by their content digests; across nested loops the list holds one list per outer
// iteration.
#include <atomic>
#include <fstream>

#include "gtest/gtest.h"
#include "mlcore/pipeline/client.h"
#include "pipeline/pipeline_test_util.h"

// In the helpers' namespace, which they need no using-declarations for.
namespace mlcore::pipeline::testing {
namespace {

struct Counters {
  std::atomic<int> train_calls{0};
  std::atomic<int> pick_calls{0};
  std::atomic<int> salt{0};  // changes what train writes without changing its definition
};

std::shared_ptr<Component> Train(Counters* c) {
  auto t =
      Fn("train", {{"x", ValueType::kInt}}, {{"model", ValueType::kModel}}, [c](TaskContext& ctx) {
        ++c->train_calls;
        std::ofstream(ctx.outputs["model"].path)
            << "model-" << ctx.params["x"].get<int>() << "-" << c->salt.load();
        ctx.outputs["model"].metadata["x"] = ctx.params["x"];
        return absl::OkStatus();
      });
  t->caching = false;  // each run writes what `salt` says
  return t;
}

// Reads every gathered model (one level or nested) into "a,b;c" form.
std::shared_ptr<Component> Pick(Counters* c) {
  IoSpec models{"models", ValueType::kModel};
  models.list = true;
  return Fn("pick", {models}, {{"joined", ValueType::kString}}, [c](TaskContext& ctx) {
    ++c->pick_calls;
    std::string joined;
    const ArtifactList& l = ctx.input_lists.at("models");
    auto add = [&](const ArtifactList& level, const std::string& sep) {
      for (size_t i = 0; i < level.artifacts.size(); ++i) {
        if (i > 0) joined += sep;
        joined += ReadAll(level.artifacts[i].path);
      }
    };
    add(l, ",");
    for (size_t i = 0; i < l.lists.size(); ++i) {
      if (i > 0) joined += ";";
      add(l.lists[i], ",");
    }
    ctx.output_params["joined"] = joined;
    return absl::OkStatus();
  });
}

StatusOr<Pipeline> TrainAll(Counters* c) {
  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("train-all", {{"xs", ValueType::kList}}));
  MLCORE_RETURN_IF_ERROR(p.AddLoop("for-x", InputBinding::Parameter("xs")));
  TaskOptions in_loop;
  in_loop.loop = "for-x";
  MLCORE_RETURN_IF_ERROR(
      p.AddTask("train", Train(c), {{"x", InputBinding::LoopItem("for-x")}}, in_loop));
  MLCORE_RETURN_IF_ERROR(
      p.AddTask("pick", Pick(c), {{"models", InputBinding::Gather("train", "model")}}));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("joined", "pick", "joined"));
  return p;
}

using ArtifactGather = PipelineShapeTest<Counters, TrainAll>;

// Lineage: each of the run's three models is consumed once, by pick, as the input named by its
// place in the list (train[i] feeds models[i], train[i][j] models[i][j]).
void ExpectEachModelFedPick(Client& client, const std::string& run_id) {
  auto artifacts = client.ListArtifacts(run_id).value();
  ASSERT_EQ(artifacts.size(), 3u);
  for (const ArtifactRecord& a : artifacts) {
    auto consumers = client.ArtifactConsumers(a.id).value();
    ASSERT_EQ(consumers.size(), 1u) << a.task;
    EXPECT_EQ(consumers[0].task, "pick");
    EXPECT_EQ(consumers[0].input, "models" + a.task.substr(a.task.find('[')));
    EXPECT_EQ(consumers[0].run_id, run_id);
  }
}

TEST_F(ArtifactGather, TheConsumerGetsEveryIterationsArtifactInItemOrder) {
  RunRecord run = RunIt(*client, *p, {{"xs", Json::parse("[3, 1, 2]")}}, true);
  ASSERT_EQ(run.state, "succeeded") << run.error;
  EXPECT_EQ(run.outputs["joined"], Json("model-3-0,model-1-0,model-2-0"));

  ExpectEachModelFedPick(*client, run.id);
}

TEST_F(ArtifactGather, CachedByTheArtifactsContentDigests) {
  const Json args = {{"xs", Json::parse("[1, 2]")}};
  ASSERT_EQ(RunIt(*client, *p, args, true).state, "succeeded");
  EXPECT_EQ(c.pick_calls.load(), 1);
  // The trainers run again (caching off for them) and write the same bytes: pick is a hit.
  RunRecord same = RunIt(*client, *p, args, true);
  ASSERT_EQ(same.state, "succeeded") << same.error;
  EXPECT_EQ(c.train_calls.load(), 4);
  EXPECT_EQ(c.pick_calls.load(), 1);
  EXPECT_EQ(FindTask(client->ListTasks(same.id).value(), "pick")->state, "cached");
  // Different bytes, same definitions and parameters: the digests differ, pick runs.
  c.salt = 1;
  RunRecord changed = RunIt(*client, *p, args, true);
  ASSERT_EQ(changed.state, "succeeded") << changed.error;
  EXPECT_EQ(c.pick_calls.load(), 2);
  EXPECT_EQ(changed.outputs["joined"], Json("model-1-1,model-2-1"));
}

TEST_F(ArtifactGather, ADamagedGatheredArtifactIsHealedByRerunningItsProducer) {
  // Corrupt train[1]'s stored file after a first run.
  auto arts_before = RunIt(*client, *p, {{"xs", Json::parse("[7, 8]")}}, true);
  ASSERT_EQ(arts_before.state, "succeeded");
  auto artifacts = client->ListArtifacts(arts_before.id).value();
  ASSERT_EQ(artifacts.size(), 2u);
  const ArtifactRecord& second = artifacts[0].task == "train[1]" ? artifacts[0] : artifacts[1];
  auto path = client->artifacts().PathFor(second.digest);
  ASSERT_TRUE(path.ok());
  std::filesystem::permissions(*path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::ofstream(*path) << "model-8-X";  // same size
  // train[1] writes the same bytes again: the store sees its copy is damaged and rewrites it
  // (it used to keep it, and pick then failed on it), so the run succeeds.
  RunRecord healed = RunIt(*client, *p, {{"xs", Json::parse("[7, 8]")}}, false);
  EXPECT_EQ(healed.state, "succeeded") << healed.error;
  EXPECT_EQ(c.pick_calls.load(), 2);
  EXPECT_TRUE(client->artifacts().Verify(second.digest).ok());
}

TEST_F(ArtifactGather, AcrossNestedLoopsAListOfLists) {
  auto nested = Pipeline::Create("nested-models", {{"rows", ValueType::kList}});
  ASSERT_TRUE(nested.ok());
  ASSERT_TRUE(nested->AddLoop("rows", InputBinding::Parameter("rows")).ok());
  ASSERT_TRUE(nested->AddLoop("cells", InputBinding::LoopItem("rows"), 0, "rows").ok());
  TaskOptions in_cells;
  in_cells.loop = "cells";
  ASSERT_TRUE(
      nested->AddTask("train", Train(&c), {{"x", InputBinding::LoopItem("cells")}}, in_cells).ok());
  Status st =
      nested->AddTask("pick", Pick(&c), {{"models", InputBinding::Gather("train", "model")}});
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_TRUE(nested->AddOutput("joined", "pick", "joined").ok());
  RunRecord run = RunIt(*client, *nested, {{"rows", Json::parse("[[1, 2], [3]]")}}, true);
  ASSERT_EQ(run.state, "succeeded") << run.error;
  EXPECT_EQ(run.outputs["joined"], Json("model-1-0,model-2-0;model-3-0"));
  ExpectEachModelFedPick(*client, run.id);
}

TEST_F(ArtifactGather, MistakesAreCaughtWhenDefined) {
  // A single Model input cannot take the gathered list.
  auto one =
      Fn("one", {{"model", ValueType::kModel}}, {}, [](TaskContext&) { return absl::OkStatus(); });
  Status st = p->AddTask("one", one, {{"model", InputBinding::Gather("train", "model")}});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_HAS(std::string(st.message()), "must be a list of Model artifacts");
  // A list of Datasets cannot take Models.
  IoSpec datasets{"data", ValueType::kDataset};
  datasets.list = true;
  auto ds = Fn("ds", {datasets}, {}, [](TaskContext&) { return absl::OkStatus(); });
  st = p->AddTask("ds", ds, {{"data", InputBinding::Gather("train", "model")}});
  EXPECT_HAS(std::string(st.message()), "not a list of Dataset");
  // A list input fed one artifact.
  auto single = Fn("single", {}, {{"model", ValueType::kModel}},
                   [](TaskContext&) { return absl::OkStatus(); });
  ASSERT_TRUE(p->AddTask("single", single).ok());
  st = p->AddTask("pick2", Pick(&c), {{"models", InputBinding::Output("single", "model")}});
  EXPECT_HAS(std::string(st.message()), "takes a list of Model artifacts: gather");
  // Lists are for artifact inputs only.
  IoSpec bad{"xs", ValueType::kInt};
  bad.list = true;
  auto c1 = Fn("c1", {bad}, {}, [](TaskContext&) { return absl::OkStatus(); });
  EXPECT_HAS(std::string(c1->Validate().message()), "only artifact inputs take a list");
  IoSpec out{"m", ValueType::kModel};
  out.list = true;
  auto c2 = Fn("c2", {}, {out}, [](TaskContext&) { return absl::OkStatus(); });
  EXPECT_HAS(std::string(c2->Validate().message()), "an output is one artifact, not a list");
}

}  // namespace
}  // namespace mlcore::pipeline::testing
