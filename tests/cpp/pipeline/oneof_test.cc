// InputBinding::OneOf (KFP's dsl.OneOf): checks made when the reader is added, local runs that
// take each branch (parameters and artifacts, cached and not), and the IR CompileToKfp emits.
#include <fstream>

#include "gtest/gtest.h"
#include "mlcore/pipeline/compiler.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::Fn;
using testing::RunIt;
using testing::ScratchHome;

// What Kubeflow would run (the callables below are in-process only).
std::shared_ptr<Component> Compilable(std::shared_ptr<Component> c) {
  c->compile_command = {"run", c->name};
  return c;
}

// Echoes `msg` as `out`.
std::shared_ptr<Component> Say() {
  return Compilable(
      Fn("say", {{"msg", ValueType::kString}}, {{"out", ValueType::kString}}, [](TaskContext& c) {
        c.output_params["out"] = c.params["msg"];
        return absl::OkStatus();
      }));
}
// Echoes `msg` as `out`, a component of its own (its cache entries are not the branches').
std::shared_ptr<Component> Echo() {
  return Compilable(
      Fn("echo", {{"msg", ValueType::kString}}, {{"out", ValueType::kString}}, [](TaskContext& c) {
        c.output_params["out"] = c.params["msg"];
        return absl::OkStatus();
      }));
}

// Writes `msg` into a Dataset.
std::shared_ptr<Component> Make() {
  return Compilable(Fn(
      "make", {{"msg", ValueType::kString}}, {{"data", ValueType::kDataset}}, [](TaskContext& c) {
        std::ofstream(c.outputs["data"].path) << c.params["msg"].get<std::string>();
        return absl::OkStatus();
      }));
}
std::shared_ptr<Component> MakeModel() {
  return Compilable(Fn("make_model", {}, {{"model", ValueType::kModel}}, [](TaskContext& c) {
    std::ofstream(c.outputs["model"].path) << "m";
    return absl::OkStatus();
  }));
}
// Reads a Dataset back as `text`.
std::shared_ptr<Component> Read() {
  return Compilable(Fn("read", {{"data", ValueType::kDataset}}, {{"text", ValueType::kString}},
                       [](TaskContext& c) {
                         c.output_params["text"] = testing::ReadAll(c.inputs["data"].path);
                         return absl::OkStatus();
                       }));
}
std::shared_ptr<Component> Take() {
  return Compilable(
      Fn("take", {{"n", ValueType::kInt}}, {}, [](TaskContext&) { return absl::OkStatus(); }));
}

Condition Is(const std::string& value) {
  return {InputBinding::Parameter("pick"), "==", Json(value)};
}

// pick == "a" -> a, elif pick == "b" -> b, else c; `with_else` false stops after the Elif.
Pipeline Chain(bool with_else = true) {
  auto p = Pipeline::Create("oneof", {{"pick", ValueType::kString, Json("a")}});
  EXPECT_TRUE(p.ok());
  EXPECT_TRUE(p->BeginIf(Is("a")).ok());
  EXPECT_TRUE(p->AddTask("a", Say(), {{"msg", InputBinding::Constant("from a")}}).ok());
  EXPECT_TRUE(p->AddTask("a-data", Make(), {{"msg", InputBinding::Constant("data a")}}).ok());
  EXPECT_TRUE(p->EndGroup().ok());
  EXPECT_TRUE(p->BeginElif(Is("b")).ok());
  EXPECT_TRUE(p->AddTask("b", Say(), {{"msg", InputBinding::Constant("from b")}}).ok());
  EXPECT_TRUE(p->AddTask("b-data", Make(), {{"msg", InputBinding::Constant("data b")}}).ok());
  EXPECT_TRUE(p->EndGroup().ok());
  if (with_else) {
    EXPECT_TRUE(p->BeginElse().ok());
    EXPECT_TRUE(p->AddTask("c", Say(), {{"msg", InputBinding::Constant("from c")}}).ok());
    EXPECT_TRUE(p->AddTask("c-data", Make(), {{"msg", InputBinding::Constant("data c")}}).ok());
    EXPECT_TRUE(p->AddTask("c-model", MakeModel()).ok());
    EXPECT_TRUE(p->EndGroup().ok());
  }
  return *std::move(p);
}

InputBinding Outs(const std::string& output, std::vector<std::string> tasks) {
  std::vector<InputBinding> items;
  for (const std::string& t : tasks) items.push_back(InputBinding::Output(t, output));
  return InputBinding::OneOf(std::move(items));
}

Pipeline Readers() {
  Pipeline p = Chain();
  EXPECT_TRUE(p.AddTask("pick-say", Echo(), {{"msg", Outs("out", {"a", "b", "c"})}}).ok());
  EXPECT_TRUE(
      p.AddTask("pick-read", Read(), {{"data", Outs("data", {"a-data", "b-data", "c-data"})}})
          .ok());
  return p;
}

TEST(OneOf, EachBranchFeedsTheReaderLocally) {
  ScratchHome home;
  auto client = home.Open();
  const Pipeline p = Readers();
  for (const std::string pick : {"a", "b", "c"}) {
    RunRecord run = RunIt(*client, p, {{"pick", pick}});
    EXPECT_EQ(run.state, "succeeded") << pick << ": " << run.error;
    auto tasks = client->ListTasks(run.id);
    ASSERT_TRUE(tasks.ok());
    const TaskRecord* say = testing::FindTask(*tasks, "pick-say");
    const TaskRecord* read = testing::FindTask(*tasks, "pick-read");
    ASSERT_NE(say, nullptr);
    ASSERT_NE(read, nullptr);
    EXPECT_EQ(say->outputs["parameters"]["out"], "from " + pick);
    EXPECT_EQ(read->outputs["parameters"]["text"], "data " + pick);
    for (const std::string other : {"a", "b", "c"}) {
      EXPECT_EQ(testing::FindTask(*tasks, other)->state, other == pick ? "succeeded" : "skipped");
    }
  }
}

TEST(OneOf, CacheKeyHoldsTheValueTheReaderGot) {
  ScratchHome home;
  auto client = home.Open();
  const Pipeline p = Readers();
  RunRecord a1 = RunIt(*client, p, {{"pick", "a"}}, /*caching=*/true);
  RunRecord b1 = RunIt(*client, p, {{"pick", "b"}}, /*caching=*/true);
  RunRecord a2 = RunIt(*client, p, {{"pick", "a"}}, /*caching=*/true);
  auto tb = client->ListTasks(b1.id);
  auto ta = client->ListTasks(a2.id);
  ASSERT_TRUE(tb.ok() && ta.ok());
  // Another branch's value is another key: b's reader ran; a's second reader hit a's cache.
  EXPECT_EQ(testing::FindTask(*tb, "pick-say")->state, "succeeded");
  EXPECT_EQ(testing::FindTask(*tb, "pick-say")->outputs["parameters"]["out"], "from b");
  EXPECT_EQ(testing::FindTask(*ta, "pick-say")->state, "cached");
  EXPECT_EQ(testing::FindTask(*ta, "pick-say")->outputs["parameters"]["out"], "from a");
  EXPECT_EQ(testing::FindTask(*ta, "pick-read")->state, "cached");
}

TEST(OneOf, ABranchWithoutAnItemFailsTheReader) {
  ScratchHome home;
  auto client = home.Open();
  Pipeline p = Chain();
  // c's branch ran but the OneOf lists only a and b: no value, as KFP's "No value available".
  ASSERT_TRUE(p.AddTask("pick-say", Say(), {{"msg", Outs("out", {"a", "b"})}}).ok());
  RunRecord run = RunIt(*client, p, {{"pick", "z"}});
  EXPECT_EQ(run.state, "failed");
  auto tasks = client->ListTasks(run.id);
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ(testing::FindTask(*tasks, "pick-say")->state, "failed");
  EXPECT_HAS(testing::FindTask(*tasks, "pick-say")->error, "none of its branches' tasks (a, b)");
}

TEST(OneOf, UpstreamFailureSkipsTheReaderAndAFailingBranchToo) {
  ScratchHome home;
  auto client = home.Open();
  auto fails = Fn("fails", {}, {{"word", ValueType::kString}},
                  [](TaskContext&) { return absl::InternalError("no word"); });
  auto failing_say = Fn("failing_say", {{"msg", ValueType::kString}}, {{"out", ValueType::kString}},
                        [](TaskContext&) { return absl::InternalError("cannot say"); });
  for (const bool chain_fails : {true, false}) {
    auto p = Pipeline::Create("oneof-failures", {{"pick", ValueType::kString, Json("a")}});
    ASSERT_TRUE(p->AddTask("flip", fails).ok());
    // Either the chain's condition cannot be evaluated (its task failed), or the branch that
    // runs fails: the reader is skipped, as any task downstream of a failure.
    ASSERT_TRUE(p->BeginIf(chain_fails
                               ? Condition{InputBinding::Output("flip", "word"), "==", Json("a")}
                               : Is("a"))
                    .ok());
    ASSERT_TRUE(p->AddTask("a", chain_fails ? Say() : std::shared_ptr<Component>(failing_say),
                           {{"msg", InputBinding::Constant("a")}})
                    .ok());
    ASSERT_TRUE(p->EndGroup().ok());
    ASSERT_TRUE(p->BeginElse().ok());
    ASSERT_TRUE(p->AddTask("b", Say(), {{"msg", InputBinding::Constant("b")}}).ok());
    ASSERT_TRUE(p->EndGroup().ok());
    ASSERT_TRUE(p->AddTask("reader", Echo(), {{"msg", Outs("out", {"a", "b"})}}).ok());
    RunRecord run = RunIt(*client, *p, {{"pick", "a"}});
    EXPECT_EQ(run.state, "failed");
    auto tasks = client->ListTasks(run.id);
    ASSERT_TRUE(tasks.ok());
    EXPECT_EQ(testing::FindTask(*tasks, "a")->state, chain_fails ? "skipped" : "failed");
    EXPECT_EQ(testing::FindTask(*tasks, "reader")->state, "skipped") << chain_fails;
    EXPECT_HAS(testing::FindTask(*tasks, "reader")->error, "an upstream task failed");
  }
}

TEST(OneOf, DefinitionErrorsNameTheProblem) {
  auto add = [](Pipeline& p, InputBinding b, std::shared_ptr<Component> c = Say()) {
    const std::string input = c->inputs.front().name;
    return std::string(p.AddTask("reader", c, {{input, std::move(b)}}).message());
  };
  {
    Pipeline p = Chain();
    EXPECT_HAS(add(p, Outs("out", {"a", "a"})), "items 0 and 1 both come from branch");
    EXPECT_HAS(add(p, InputBinding::OneOf({})), "needs the outputs of tasks");
    EXPECT_HAS(add(p, InputBinding::OneOf({InputBinding::Constant("x")})),
               "item 0 is not a task output");
    // Parameter and artifact, and two artifact types.
    EXPECT_HAS(add(p, InputBinding::OneOf({InputBinding::Output("a", "out"),
                                           InputBinding::Output("c-data", "data")})),
               "item 1 (c-data.data) is a Dataset but item 0 is a str");
    EXPECT_HAS(add(p, InputBinding::OneOf({InputBinding::Output("a-data", "data"),
                                           InputBinding::Output("c-model", "model")})),
               "is a Model but item 0 is a Dataset");
    // The OneOf's type must suit the input.
    EXPECT_HAS(add(p, Outs("out", {"a", "c"}), Take()), "expects int but is given a str");
    ASSERT_TRUE(p.AddTask("outside", Say(), {{"msg", InputBinding::Constant("o")}}).ok());
    EXPECT_HAS(add(p, Outs("out", {"a", "outside"})),
               "task 'outside' is not directly in an If/Elif/Else branch");
    // A second chain.
    ASSERT_TRUE(p.BeginIf(Is("x")).ok());
    ASSERT_TRUE(p.AddTask("x", Say(), {{"msg", InputBinding::Constant("x")}}).ok());
    ASSERT_TRUE(p.EndGroup().ok());
    ASSERT_TRUE(p.BeginElse().ok());
    ASSERT_TRUE(p.AddTask("y", Say(), {{"msg", InputBinding::Constant("y")}}).ok());
    ASSERT_TRUE(p.EndGroup().ok());
    EXPECT_HAS(add(p, Outs("out", {"a", "y"})),
               "items 0 and 1 come from different If/Elif/Else chains ('condition-branches-1' "
               "and 'condition-branches-");
    // A lone If has no chain; a chain must end with an Else, as KFP requires.
    ASSERT_TRUE(p.BeginIf(Is("q")).ok());
    ASSERT_TRUE(p.AddTask("q", Say(), {{"msg", InputBinding::Constant("q")}}).ok());
    ASSERT_TRUE(p.EndGroup().ok());
    EXPECT_HAS(add(p, Outs("out", {"q"})), "which has no Elif or Else");
  }
  {
    Pipeline p = Chain(/*with_else=*/false);
    EXPECT_HAS(add(p, Outs("out", {"a", "b"})), "which has no Else");
    ASSERT_TRUE(p.BeginElse().ok());
    EXPECT_HAS(add(p, Outs("out", {"a", "b"})), "is read inside its own chain");
  }
  {
    // The chain sits in an If; reading it after that If is reading inside a branch from out.
    auto p = Pipeline::Create("nested", {{"pick", ValueType::kString, Json("a")}});
    ASSERT_TRUE(p->BeginIf(Is("a")).ok());
    ASSERT_TRUE(p->BeginIf(Is("a")).ok());
    ASSERT_TRUE(p->AddTask("a", Say(), {{"msg", InputBinding::Constant("a")}}).ok());
    ASSERT_TRUE(p->EndGroup().ok());
    ASSERT_TRUE(p->BeginElse().ok());
    ASSERT_TRUE(p->AddTask("b", Say(), {{"msg", InputBinding::Constant("b")}}).ok());
    ASSERT_TRUE(p->EndGroup().ok());
    Status inner = p->AddTask("inner", Say(), {{"msg", Outs("out", {"a", "b"})}});
    ASSERT_TRUE(inner.ok()) << inner;
    ASSERT_TRUE(p->EndGroup().ok());
    EXPECT_HAS(add(*p, Outs("out", {"a", "b"})), "from outside that group");
  }
}

TEST(OneOf, CompilesToTheChainsOutputsAsKfp) {
  Pipeline p = Readers();
  auto spec = CompileToKfp(p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& comps = (*spec)["components"];
  const Json& chain = comps["comp-condition-branches-1"];
  const Json& sel =
      chain["dag"]["outputs"]["parameters"]["pipelinechannel--condition-branches-1-oneof-1"]
           ["valueFromOneof"]["parameterSelectors"];
  ASSERT_EQ(sel.size(), 3u);
  EXPECT_EQ(sel[0], Json({{"producerSubtask", "condition-2"},
                          {"outputParameterKey", "pipelinechannel--a-out"}}));
  EXPECT_EQ(sel[2]["producerSubtask"], "condition-4");
  const Json& arts = chain["dag"]["outputs"]["artifacts"]
                          ["pipelinechannel--condition-branches-1-oneof-2"]["artifactSelectors"];
  ASSERT_EQ(arts.size(), 3u);
  EXPECT_EQ(arts[1], Json({{"producerSubtask", "condition-3"},
                           {"outputArtifactKey", "pipelinechannel--b-data-data"}}));
  EXPECT_EQ(chain["outputDefinitions"]["parameters"]
                 ["pipelinechannel--condition-branches-1-oneof-1"]["parameterType"],
            "STRING");
  // The branches hand their values out.
  EXPECT_EQ(
      comps["comp-condition-3"]["dag"]["outputs"]["parameters"]["pipelinechannel--b-out"],
      Json({{"valueFromParameter", {{"producerSubtask", "b"}, {"outputParameterKey", "out"}}}}));
  const Json& reader = (*spec)["root"]["dag"]["tasks"]["pick-read"];
  EXPECT_EQ(reader["dependentTasks"], Json::array({"condition-branches-1"}));
  EXPECT_EQ(reader["inputs"]["artifacts"]["data"],
            Json({{"taskOutputArtifact",
                   {{"producerTask", "condition-branches-1"},
                    {"outputArtifactKey", "pipelinechannel--condition-branches-1-oneof-2"}}}}));
}

TEST(OneOf, PlainReadOfABranchStillRefusedAtCompileNamingOneOf) {
  Pipeline p = Chain();
  ASSERT_TRUE(p.AddTask("plain", Say(), {{"msg", InputBinding::Output("a", "out")}}).ok());
  auto spec = CompileToKfp(p);
  ASSERT_FALSE(spec.ok());
  EXPECT_HAS(std::string(spec.status().message()), "OneOf");
}

}  // namespace
}  // namespace mlcore::pipeline
