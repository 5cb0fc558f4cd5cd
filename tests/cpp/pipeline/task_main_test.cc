// C++ pipelines on Kubeflow: compiled with CompileOptions::task_binary, every callable's
// container command is the program itself with --mlcore-task; each compiled command is run here
// (through RunTaskMain, with "{{$}}" replaced by the ExecutorInput a KFP launcher passes), and
// its outputs land where the launcher reads them.
#include "mlcore/pipeline/task_main.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "mlcore/pipeline/compiler.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

namespace fs = std::filesystem;
using testing::Fn;
using testing::ReadAll;
using testing::ScratchHome;

// make (n: int, scale: float) -> data: Dataset, label: str; fit (data) -> model: Model (a
// directory), score: float.
StatusOr<Pipeline> TwoStep() {
  auto make =
      Fn("make", {{"n", ValueType::kInt}, {"scale", ValueType::kFloat, Json(1.5)}},
         {{"data", ValueType::kDataset}, {"label", ValueType::kString}}, [](TaskContext& ctx) {
           if (!ctx.params["scale"].is_number_float()) {
             return absl::InternalError("scale is not a float");
           }
           std::ofstream(ctx.outputs["data"].path) << ctx.params["n"].get<int>();
           ctx.outputs["data"].metadata["rows"] = ctx.params["n"];
           ctx.output_params["label"] = "made";
           return absl::OkStatus();
         });
  auto fit = Fn("fit", {{"data", ValueType::kDataset}},
                {{"model", ValueType::kModel}, {"score", ValueType::kFloat}}, [](TaskContext& ctx) {
                  const int n = std::stoi(ReadAll(ctx.inputs["data"].path));
                  fs::create_directories(ctx.outputs["model"].path);
                  std::ofstream(ctx.outputs["model"].path + "/w.txt") << n * 2;
                  ctx.output_params["score"] = n * 0.25;
                  return absl::OkStatus();
                });
  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("kfp_cpp", {{"n", ValueType::kInt}}));
  MLCORE_RETURN_IF_ERROR(p.AddTask("make", make, {{"n", InputBinding::Parameter("n")}}));
  MLCORE_RETURN_IF_ERROR(p.AddTask("fit", fit, {{"data", InputBinding::Output("make", "data")}}));
  return p;
}

// Runs a compiled container command as the launcher would: "{{$}}" is the executor input.
std::optional<int> Launch(const Json& container, const Json& executor_input, const Pipeline& p) {
  std::vector<std::string> args;
  for (const Json& a : container["command"]) {
    const std::string s = a.get<std::string>();
    args.push_back(s == "{{$}}" ? executor_input.dump() : s);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return RunTaskMain(static_cast<int>(argv.size()), argv.data(), p);
}

TEST(TaskMain, CompiledCommandsRunEachTask) {
  auto p = TwoStep();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(CompileToKfp(*p).status().code(), absl::StatusCode::kFailedPrecondition);
  CompileOptions o;
  o.task_binary = "/app/kfp_cpp";
  o.task_image = "registry.example/kfp-cpp:1";
  auto spec = CompileToKfp(*p, o);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& executors = (*spec)["deploymentSpec"]["executors"];
  const Json& make = executors["exec-make"]["container"];
  EXPECT_EQ(make["image"], Json("registry.example/kfp-cpp:1"));
  EXPECT_EQ(make["command"],
            Json({"/app/kfp_cpp", "--mlcore-task", "make", "--executor-input", "{{$}}"}));

  ScratchHome home;
  const std::string root = home.path() + "/gcs/bucket";
  // What the launcher passes make: its parameters, where to write (gs:// URIs stay as given
  // when not under a mount, as a local launcher's paths are).
  Json make_input = {{"inputs", {{"parameterValues", {{"n", 8}, {"scale", 2}}}}},
                     {"outputs",
                      {{"artifacts", {{"data", {{"artifacts", {{{"uri", root + "/make/data"}}}}}}}},
                       {"parameters", {{"label", {{"outputFile", root + "/make/label"}}}}}}}};
  EXPECT_EQ(Launch(make, make_input, *p), std::optional<int>(0));
  EXPECT_EQ(ReadAll(root + "/make/data"), "8");
  EXPECT_EQ(ReadAll(root + "/make/label"), "made");
  EXPECT_EQ(Json::parse(ReadAll(root + "/make/data.metadata.json")), Json({{"rows", 8}}));

  Json fit_input = {
      {"inputs", {{"artifacts", {{"data", {{"artifacts", {{{"uri", root + "/make/data"}}}}}}}}}},
      {"outputs",
       {{"artifacts", {{"model", {{"artifacts", {{{"uri", root + "/fit/model"}}}}}}}},
        {"parameters", {{"score", {{"outputFile", root + "/fit/score"}}}}}}}};
  EXPECT_EQ(Launch(executors["exec-fit"]["container"], fit_input, *p), std::optional<int>(0));
  EXPECT_EQ(ReadAll(root + "/fit/model/w.txt"), "16");
  EXPECT_EQ(Json::parse(ReadAll(root + "/fit/score")), Json(2.0));
}

TEST(TaskMain, NotATaskOrBadArguments) {
  auto p = TwoStep();
  ASSERT_TRUE(p.ok());
  std::string prog = "app", flag = "--other";
  char* plain[] = {prog.data(), flag.data()};
  EXPECT_EQ(RunTaskMain(2, plain, *p), std::nullopt);
  std::string task = "--mlcore-task", nobody = "nobody", input = "--executor-input", json = "{}";
  char* unknown[] = {prog.data(), task.data(), nobody.data(), input.data(), json.data()};
  EXPECT_EQ(RunTaskMain(5, unknown, *p), std::optional<int>(2));
  std::string make = "make";
  char* missing[] = {prog.data(), task.data(), make.data(), input.data(), json.data()};
  EXPECT_EQ(RunTaskMain(5, missing, *p), std::optional<int>(1));  // no value for 'n'
  EXPECT_TRUE(absl::IsInvalidArgument(RunTask(*p->FindTask("make")->component, "[1]")));
}

}  // namespace
}  // namespace mlcore::pipeline
