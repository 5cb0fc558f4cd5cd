// Task groups through the C++ API (Pipeline::BeginIf/BeginElif/BeginElse/BeginExitHandler/
// BeginSubPipeline/EndGroup): what the tasks inherit, and the sub-DAGs CompileToKfp makes.
#include "gtest/gtest.h"
#include "mlcore/pipeline/compiler.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::Cmd;

std::shared_ptr<Component> Word() {
  return Cmd("word", {{"n", ValueType::kInt}}, {{"word", ValueType::kString}},
             "echo heads > {{outputs.parameters.word.path}}");
}
std::shared_ptr<Component> Say() {
  return Cmd("say", {{"msg", ValueType::kString}}, {{"out", ValueType::kString}},
             "echo {{inputs.parameters.msg}} > {{outputs.parameters.out.path}}");
}

Condition Is(const std::string& task, const std::string& value) {
  return {InputBinding::Output(task, "word"), "==", Json(value)};
}

TEST(CompileGroups, IfElifElseChainIsWrappedAndNumberedAsKfp) {
  auto p = Pipeline::Create(
      "branches", {{"n", ValueType::kInt, Json(1)}, {"tag", ValueType::kString, Json("t")}});
  ASSERT_TRUE(p->AddTask("flip", Word(), {{"n", InputBinding::Parameter("n")}}).ok());
  auto first = p->BeginIf(Is("flip", "heads"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, "condition-1");
  ASSERT_TRUE(p->AddTask("a", Say(), {{"msg", InputBinding::Output("flip", "word")}}).ok());
  ASSERT_TRUE(p->EndGroup().ok());
  auto elif = p->BeginElif(Is("flip", "tails"));
  ASSERT_TRUE(elif.ok()) << elif.status();
  ASSERT_TRUE(p->AddTask("b", Say(), {{"msg", InputBinding::Constant("t")}}).ok());
  ASSERT_TRUE(p->EndGroup().ok());
  auto other = p->BeginElse();
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(p->AddTask("c", Say(), {{"msg", InputBinding::Parameter("tag")}}).ok());
  ASSERT_TRUE(p->EndGroup().ok());
  ASSERT_TRUE(p->AddTask("after", Say(), {{"msg", InputBinding::Constant("x")}}).ok());

  // KFP's numbering: the wrapper takes the If's number, the If a fresh one.
  EXPECT_EQ(*elif, "condition-3");
  EXPECT_EQ(*other, "condition-4");
  ASSERT_NE(p->FindGroup("condition-branches-1"), nullptr);
  EXPECT_EQ(p->FindGroup("condition-2")->parent, "condition-branches-1");
  EXPECT_EQ(p->FindTask("a")->options.group, "condition-2");
  EXPECT_EQ(p->FindTask("after")->options.group, "");
  // Run-time conditions are inherited from the branch: Else is "neither earlier branch".
  ASSERT_EQ(p->FindTask("c")->options.conditions.size(), 2u);
  EXPECT_TRUE(p->FindTask("c")->options.conditions[0].negate);
  EXPECT_TRUE(p->FindTask("c")->options.conditions[1].negate);
  ASSERT_EQ(p->FindTask("b")->options.conditions.size(), 2u);
  EXPECT_FALSE(p->FindTask("b")->options.conditions[1].negate);

  auto spec = CompileToKfp(*p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& s = *spec;
  const Json& root = s["root"]["dag"]["tasks"];
  EXPECT_TRUE(root.contains("condition-branches-1"));
  EXPECT_FALSE(root.contains("a"));
  EXPECT_EQ(root["condition-branches-1"]["dependentTasks"], Json::array({"flip"}));
  EXPECT_EQ(root["condition-branches-1"]["inputs"]["parameters"]["pipelinechannel--flip-word"]
                ["taskOutputParameter"]["producerTask"],
            "flip");
  const Json& chain = s["components"]["comp-condition-branches-1"]["dag"]["tasks"];
  EXPECT_EQ(chain["condition-2"]["triggerPolicy"]["condition"],
            "inputs.parameter_values['pipelinechannel--flip-word'] == 'heads'");
  EXPECT_EQ(chain["condition-3"]["triggerPolicy"]["condition"],
            "!(inputs.parameter_values['pipelinechannel--flip-word'] == 'heads') && "
            "inputs.parameter_values['pipelinechannel--flip-word'] == 'tails'");
  EXPECT_EQ(chain["condition-4"]["inputs"]["parameters"]["pipelinechannel--tag"]
                 ["componentInputParameter"],
            "pipelinechannel--tag");
  EXPECT_EQ(root["condition-branches-1"]["inputs"]["parameters"]["pipelinechannel--tag"]
                ["componentInputParameter"],
            "tag");
  const Json& branch = s["components"]["comp-condition-2"];
  EXPECT_EQ(branch["dag"]["tasks"]["a"]["inputs"]["parameters"]["msg"]["componentInputParameter"],
            "pipelinechannel--flip-word");
  EXPECT_FALSE(branch["dag"]["tasks"]["a"].contains("triggerPolicy"));
  EXPECT_FALSE(branch["dag"]["tasks"]["a"].contains("dependentTasks"));
  EXPECT_EQ(branch["inputDefinitions"]["parameters"]["pipelinechannel--flip-word"]["parameterType"],
            "STRING");
}

TEST(CompileGroups, ExitHandlerAndSubPipeline) {
  auto p = Pipeline::Create("outer", {{"n", ValueType::kInt, Json(1)}});
  ASSERT_TRUE(p->AddTask("cleanup", Say(), {{"msg", InputBinding::Constant("bye")}}).ok());
  auto handler = p->BeginExitHandler("cleanup");
  ASSERT_TRUE(handler.ok()) << handler.status();
  EXPECT_EQ(*handler, "exit-handler-1");
  auto inner =
      p->BeginSubPipeline("inner", {{"k", ValueType::kInt}, {"tag", ValueType::kString, Json("q")}},
                          {{"k", InputBinding::Parameter("n")}});
  ASSERT_TRUE(inner.ok()) << inner.status();
  ASSERT_TRUE(p->AddTask("flip", Word(), {{"n", InputBinding::Parameter("n")}}).ok());
  ASSERT_TRUE(p->EndGroup({{"result", "flip", "word"}}).ok());
  ASSERT_TRUE(p->AddTask("use", Say(), {{"msg", InputBinding::Output("flip", "word")}}).ok());
  ASSERT_TRUE(p->EndGroup().ok());
  // Locally: the exit task runs after everything it guards, whatever happens.
  EXPECT_TRUE(p->FindTask("cleanup")->options.run_always);
  EXPECT_EQ(p->FindTask("cleanup")->after, (std::vector<std::string>{"flip", "use"}));

  auto spec = CompileToKfp(*p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& s = *spec;
  const Json& root = s["root"]["dag"]["tasks"];
  EXPECT_EQ(root.size(), 2u);
  EXPECT_EQ(root["cleanup"]["dependentTasks"], Json::array({"exit-handler-1"}));
  EXPECT_EQ(root["cleanup"]["triggerPolicy"]["strategy"], "ALL_UPSTREAM_TASKS_COMPLETED");
  EXPECT_EQ(root["exit-handler-1"]["inputs"]["parameters"]["pipelinechannel--n"]
                ["componentInputParameter"],
            "n");
  const Json& guarded = s["components"]["comp-exit-handler-1"]["dag"]["tasks"];
  EXPECT_EQ(guarded["inner"]["inputs"]["parameters"]["k"]["componentInputParameter"],
            "pipelinechannel--n");
  EXPECT_EQ(guarded["use"]["inputs"]["parameters"]["msg"]["taskOutputParameter"],
            (Json{{"producerTask", "inner"}, {"outputParameterKey", "result"}}));
  EXPECT_EQ(guarded["use"]["dependentTasks"], Json::array({"inner"}));
  const Json& sub = s["components"]["comp-inner"];
  EXPECT_EQ(sub["inputDefinitions"]["parameters"]["tag"]["defaultValue"], "q");
  EXPECT_EQ(sub["dag"]["tasks"]["flip"]["inputs"]["parameters"]["n"]["componentInputParameter"],
            "k");
  EXPECT_EQ(sub["dag"]["outputs"]["parameters"]["result"]["valueFromParameter"],
            (Json{{"producerSubtask", "flip"}, {"outputParameterKey", "word"}}));
  EXPECT_EQ(sub["outputDefinitions"]["parameters"]["result"]["parameterType"], "STRING");
}

TEST(CompileGroups, LoopInsideABranchAndLiteralLists) {
  auto items = Cmd("items", {}, {{"list", ValueType::kList}},
                   "echo [1,2] > {{outputs.parameters.list.path}}");
  auto square = Cmd("square", {{"x", ValueType::kInt}}, {{"y", ValueType::kInt}},
                    "echo 1 > {{outputs.parameters.y.path}}");
  auto total =
      Cmd("total", {{"values", ValueType::kList}}, {}, "echo {{inputs.parameters.values}}");
  auto p = Pipeline::Create("l", {{"n", ValueType::kInt, Json(1)}});
  ASSERT_TRUE(p->AddTask("items", items).ok());
  auto branch = p->BeginIf({InputBinding::Parameter("n"), ">", Json(1)});
  ASSERT_TRUE(branch.ok()) << branch.status();
  ASSERT_TRUE(p->AddLoop("for-loop-1", InputBinding::Output("items", "list")).ok());
  TaskOptions body;
  body.loop = "for-loop-1";
  ASSERT_TRUE(
      p->AddTask("square", square, {{"x", InputBinding::LoopItem("for-loop-1")}}, body).ok());
  ASSERT_TRUE(p->AddTask("total", total, {{"values", InputBinding::Gather("square", "y")}}).ok());
  ASSERT_TRUE(p->EndGroup().ok());
  ASSERT_TRUE(p->AddTask("sum", total,
                         {{"values", InputBinding::Collect({InputBinding::Parameter("n"),
                                                            InputBinding::Constant(3)})}})
                  .ok());
  EXPECT_EQ(*branch, "condition-1");
  EXPECT_EQ(p->FindLoop("for-loop-1")->group, "condition-1");
  // Loop body tasks inherit the branch's condition too (run time is unchanged).
  EXPECT_EQ(p->FindTask("square")->options.conditions.size(), 1u);

  auto spec = CompileToKfp(*p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& s = *spec;
  const Json& root = s["root"]["dag"]["tasks"];
  EXPECT_EQ(root["condition-1"]["triggerPolicy"]["condition"],
            "int(inputs.parameter_values['pipelinechannel--n']) > 1");
  EXPECT_EQ(root["condition-1"]["dependentTasks"], Json::array({"items"}));
  // On Kubeflow the loop is numbered after the If, as KFP numbers it: for-loop-2.
  const Json& inside = s["components"]["comp-condition-1"]["dag"]["tasks"];
  ASSERT_TRUE(inside.contains("for-loop-2")) << inside.dump();
  EXPECT_EQ(inside["for-loop-2"]["parameterIterator"]["items"]["inputParameter"],
            "pipelinechannel--items-list");
  EXPECT_EQ(inside["for-loop-2"]["inputs"]["parameters"]["pipelinechannel--items-list"]
                  ["componentInputParameter"],
            "pipelinechannel--items-list");
  EXPECT_FALSE(inside["for-loop-2"].contains("dependentTasks"));
  EXPECT_EQ(
      inside["total"]["inputs"]["parameters"]["values"]["taskOutputParameter"]["producerTask"],
      "for-loop-2");
  const Json& sum = root["sum"]["inputs"]["parameters"];
  EXPECT_EQ(sum["values"]["runtimeValue"]["constant"],
            Json::array({"{{$.inputs.parameters['pipelinechannel--n']}}", 3}));
  EXPECT_EQ(sum["pipelinechannel--n"]["componentInputParameter"], "n");
}

TEST(CompileGroups, ArtifactsCollectedAcrossNestedLoopsAndKfpLoopNumbers) {
  auto train = Cmd("train", {{"x", ValueType::kInt}}, {{"model", ValueType::kModel}},
                   "echo {{inputs.parameters.x}} > {{outputs.artifacts.model.path}}");
  IoSpec models{"models", ValueType::kModel};
  models.list = true;
  auto pick = Cmd("pick", {models}, {}, "echo picked");
  auto p = Pipeline::Create("grid", {{"n", ValueType::kInt, Json(2)}});
  ASSERT_TRUE(p->AddLoop("rows", InputBinding::Constant(Json::array({1, 2}))).ok());
  ASSERT_TRUE(p->AddLoop("cols", InputBinding::Constant(Json::array({3, 4})), 0, "rows").ok());
  TaskOptions body;
  body.loop = "cols";
  ASSERT_TRUE(p->AddTask("train", train, {{"x", InputBinding::LoopItem("cols")}}, body).ok());
  ASSERT_TRUE(p->AddTask("pick", pick, {{"models", InputBinding::Gather("train", "model")}}).ok());

  auto spec = CompileToKfp(*p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& comps = (*spec)["components"];
  // Constant lists take two numbers each: rows is for-loop-2 (item param 1), cols for-loop-4.
  ASSERT_TRUE(comps.contains("comp-for-loop-2")) << comps.dump();
  ASSERT_TRUE(comps.contains("comp-for-loop-4")) << comps.dump();
  EXPECT_EQ(
      comps["comp-for-loop-2"]["dag"]["tasks"]["for-loop-4"]["parameterIterator"],
      Json({{"itemInput", "pipelinechannel--loop-item-param-3"}, {"items", {{"raw", "[3,4]"}}}}));
  const Json list_type = {
      {"artifactType", {{"schemaTitle", "system.Model"}, {"schemaVersion", "0.0.1"}}},
      {"isArtifactList", true}};
  for (const char* loop : {"comp-for-loop-2", "comp-for-loop-4"}) {
    EXPECT_EQ(comps[loop]["outputDefinitions"]["artifacts"]["pipelinechannel--train-model"],
              list_type)
        << loop;
  }
  EXPECT_EQ(comps["comp-for-loop-4"]["dag"]["outputs"]["artifacts"]["pipelinechannel--train-model"]
                 ["artifactSelectors"][0],
            Json({{"producerSubtask", "train"}, {"outputArtifactKey", "model"}}));
  EXPECT_EQ(comps["comp-for-loop-2"]["dag"]["outputs"]["artifacts"]["pipelinechannel--train-model"]
                 ["artifactSelectors"][0],
            Json({{"producerSubtask", "for-loop-4"},
                  {"outputArtifactKey", "pipelinechannel--train-model"}}));
  EXPECT_EQ(comps["comp-pick"]["inputDefinitions"]["artifacts"]["models"], list_type);
  const Json& read = (*spec)["root"]["dag"]["tasks"]["pick"];
  EXPECT_EQ(read["inputs"]["artifacts"]["models"],
            Json({{"taskOutputArtifact",
                   {{"producerTask", "for-loop-2"},
                    {"outputArtifactKey", "pipelinechannel--train-model"}}}}));
  EXPECT_EQ(read["dependentTasks"], Json::array({"for-loop-2"}));
}

TEST(CompileGroups, ListCollectedInsideABranchCannotLeaveIt) {
  auto square = Cmd("square", {{"x", ValueType::kInt}}, {{"y", ValueType::kInt}},
                    "echo 1 > {{outputs.parameters.y.path}}");
  auto total =
      Cmd("total", {{"values", ValueType::kList}}, {}, "echo {{inputs.parameters.values}}");
  auto p = Pipeline::Create("l", {{"n", ValueType::kInt, Json(1)}});
  ASSERT_TRUE(p->BeginIf({InputBinding::Parameter("n"), ">", Json(1)}).ok());
  ASSERT_TRUE(p->AddLoop("xs", InputBinding::Constant(Json::array({1, 2}))).ok());
  TaskOptions body;
  body.loop = "xs";
  ASSERT_TRUE(p->AddTask("square", square, {{"x", InputBinding::LoopItem("xs")}}, body).ok());
  ASSERT_TRUE(p->EndGroup().ok());
  ASSERT_TRUE(p->AddTask("total", total, {{"values", InputBinding::Gather("square", "y")}}).ok());
  auto spec = CompileToKfp(*p);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(spec.status().message().find("task 'total' input 'values' collects task 'square' "
                                         "of ParallelFor 'xs' (for-loop-3 on Kubeflow) from "
                                         "outside If/Elif/Else branch 'condition-1'"),
            std::string::npos)
      << spec.status();
}

TEST(CompileGroups, MistakesAreNamed) {
  auto p = Pipeline::Create("m", {{"n", ValueType::kInt, Json(1)}});
  ASSERT_TRUE(p->AddTask("flip", Word(), {{"n", InputBinding::Parameter("n")}}).ok());
  EXPECT_EQ(p->BeginElse().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->EndGroup().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->BeginExitHandler("nope").status().code(), absl::StatusCode::kInvalidArgument);
  auto bad =
      p->BeginSubPipeline("inner", {{"k", ValueType::kInt}}, {{"z", InputBinding::Constant(1)}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_HAS(std::string(bad.status().message()), "no parameter 'z'");
  auto mistyped = p->BeginSubPipeline("inner", {{"k", ValueType::kInt}},
                                      {{"k", InputBinding::Output("flip", "word")}});
  EXPECT_EQ(mistyped.status().code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(p->BeginExitHandler("flip").ok());
  Status empty = p->EndGroup();
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_HAS(std::string(empty.message()), "guards no tasks");

  ASSERT_TRUE(p->BeginIf(Is("flip", "heads")).ok());
  ASSERT_TRUE(p->AddTask("inside", Word(), {{"n", InputBinding::Constant(2)}}).ok());
  ASSERT_TRUE(p->EndGroup().ok());
  // Locally a reader of a branch's output is skipped with it; Kubeflow cannot express it.
  ASSERT_TRUE(p->AddTask("reader", Say(), {{"msg", InputBinding::Output("inside", "word")}}).ok());
  auto spec = CompileToKfp(*p);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_HAS(std::string(spec.status().message()), "task 'reader' input 'msg'");
  EXPECT_HAS(std::string(spec.status().message()), "task 'inside'");
}

}  // namespace
}  // namespace mlcore::pipeline
