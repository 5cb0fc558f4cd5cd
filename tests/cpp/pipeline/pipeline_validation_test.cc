#include <string>

#include "gtest/gtest.h"
#include "mlcore/pipeline/pipeline.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::Cmd;
using testing::Fn;

Status Noop(TaskContext&) { return absl::OkStatus(); }

std::shared_ptr<Component> Load() {
  return Fn("load", {}, {{"data", ValueType::kDataset}, {"rows", ValueType::kInt}}, Noop);
}
std::shared_ptr<Component> Train() {
  return Fn("train", {{"data", ValueType::kDataset}, {"epochs", ValueType::kInt, Json(3)}},
            {{"model", ValueType::kModel}}, Noop);
}

TEST(PipelineValidation, BuildsAValidDag) {
  auto p = Pipeline::Create("p", {{"epochs", ValueType::kInt, Json(2)}});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->AddTask("load", Load()).ok());
  ASSERT_TRUE(p->AddTask("train", Train(),
                         {{"data", InputBinding::Output("load", "data")},
                          {"epochs", InputBinding::Parameter("epochs")}})
                  .ok());
  EXPECT_EQ(p->FindTask("train")->Upstream(), std::vector<std::string>{"load"});
  EXPECT_EQ(p->UniqueTaskName("train"), "train-2");
  EXPECT_EQ(p->Digest().size(), 64u);
}

TEST(PipelineValidation, UnknownInputNamesComponentAndInput) {
  auto p = Pipeline::Create("p");
  ASSERT_TRUE(p->AddTask("load", Load()).ok());
  Status st = p->AddTask(
      "train", Train(),
      {{"data", InputBinding::Output("load", "data")}, {"lr", InputBinding::Constant(0.1)}});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_HAS(std::string(st.message()), ("component 'train' has no input 'lr'"));
}

TEST(PipelineValidation, MissingInput) {
  auto p = Pipeline::Create("p");
  Status st = p->AddTask("train", Train());
  EXPECT_HAS(std::string(st.message()), ("missing input 'data' (Dataset)"));
}

TEST(PipelineValidation, DatasetWhereIntExpected) {
  auto p = Pipeline::Create("p");
  ASSERT_TRUE(p->AddTask("load", Load()).ok());
  Status st = p->AddTask("train", Train(),
                         {{"data", InputBinding::Output("load", "data")},
                          {"epochs", InputBinding::Output("load", "data")}});
  EXPECT_HAS(std::string(st.message()),
             ("task 'train' (component 'train') input 'epochs' expects int but is "
              "given a Dataset"));
  st = p->AddTask("train", Train(),
                  {{"data", InputBinding::Output("load", "data")},
                   {"epochs", InputBinding::Constant("three")}});
  EXPECT_HAS(std::string(st.message()), ("expected int, got string"));
  st = p->AddTask("train", Train(), {{"data", InputBinding::Output("load", "rows")}});
  EXPECT_HAS(std::string(st.message()), ("expects Dataset but is given a int"));
}

TEST(PipelineValidation, UnknownParameterOutputAndTask) {
  auto p = Pipeline::Create("p");
  ASSERT_TRUE(p->AddTask("load", Load()).ok());
  Status st = p->AddTask("train", Train(),
                         {{"data", InputBinding::Output("load", "data")},
                          {"epochs", InputBinding::Parameter("nope")}});
  EXPECT_HAS(std::string(st.message()), ("unknown pipeline parameter 'nope'"));
  st = p->AddTask("train", Train(), {{"data", InputBinding::Output("load", "dataset")}});
  EXPECT_HAS(std::string(st.message()), ("has no output 'dataset' (outputs: data, rows)"));
  st = p->AddTask("train", Train(), {{"data", InputBinding::Output("ghost", "data")}});
  EXPECT_HAS(std::string(st.message()), ("no task 'ghost'"));
}

TEST(PipelineValidation, DuplicateNameAndCycle) {
  auto p = Pipeline::Create("p");
  ASSERT_TRUE(p->AddTask("load", Load()).ok());
  EXPECT_EQ(p->AddTask("load", Load()).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(p->AddTask("train", Train(), {{"data", InputBinding::Output("load", "data")}}).ok());
  Status st = p->After("load", "train");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_HAS(std::string(st.message()), ("cycle"));
  EXPECT_FALSE(p->After("load", "load").ok());
  EXPECT_FALSE(p->After("load", "ghost").ok());
}

TEST(PipelineValidation, ComponentDefinitionErrors) {
  auto bad = Cmd("echo", {{"x", ValueType::kInt}}, {}, "echo {{inputs.parameters.y}}");
  auto p = Pipeline::Create("p");
  Status st = p->AddTask("echo", bad, {{"x", InputBinding::Constant(1)}});
  EXPECT_HAS(std::string(st.message()), ("component 'echo' command"));
  EXPECT_HAS(std::string(st.message()), ("names no input 'y'"));
  auto wrong_kind = Cmd("echo", {{"x", ValueType::kInt}}, {}, "cat {{inputs.artifacts.x.path}}");
  EXPECT_HAS(std::string(wrong_kind->Validate().message()), ("not an artifact"));
  auto both = Fn("both", {}, {}, Noop);
  both->command = {"true"};
  EXPECT_HAS(std::string(both->Validate().message()), ("exactly one"));
  auto dup = Fn("dup", {{"a", ValueType::kInt}, {"a", ValueType::kInt}}, {}, Noop);
  EXPECT_HAS(std::string(dup->Validate().message()), ("duplicate input 'a'"));
}

TEST(PipelineValidation, ResolveArguments) {
  auto p = Pipeline::Create("p", {{"n", ValueType::kInt}, {"lr", ValueType::kFloat, Json(0.1)}});
  auto args = p->ResolveArguments({{"n", 3}});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ((*args)["lr"], Json(0.1));
  EXPECT_HAS(std::string(p->ResolveArguments({{"m", 3}}).status().message()),
             ("has no parameter 'm'"));
  EXPECT_HAS(std::string(p->ResolveArguments(Json::object()).status().message()),
             ("'n' (int) has no value"));
  EXPECT_HAS(std::string(p->ResolveArguments({{"n", "x"}}).status().message()),
             ("parameter 'n': expected int"));
}

}  // namespace
}  // namespace mlcore::pipeline
