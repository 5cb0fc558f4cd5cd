#include "mlcore/pipeline/compiler.h"

#include "gtest/gtest.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::pipeline {
namespace {

using testing::Cmd;
using testing::Fn;

TEST(Compiler, CommandPipelineToKfpIr) {
  auto make = Cmd("make", {{"n", ValueType::kInt}}, {{"data", ValueType::kDataset}},
                  "seq {{inputs.parameters.n}} > {{outputs.artifacts.data.path}}");
  make->retry.max_retries = 2;
  make->resources.gpu = 1;
  auto count = Cmd("count", {{"data", ValueType::kDataset}}, {{"lines", ValueType::kInt}},
                   "wc -l < {{inputs.artifacts.data.path}} > {{outputs.parameters.lines.path}}");
  auto p = Pipeline::Create("c", {{"n", ValueType::kInt, Json(3)}});
  ASSERT_TRUE(p->AddTask("make", make, {{"n", InputBinding::Parameter("n")}}).ok());
  ASSERT_TRUE(p->AddTask("count", count, {{"data", InputBinding::Output("make", "data")}}).ok());
  TaskOptions cond;
  cond.conditions = {{InputBinding::Output("count", "lines"), ">", 2}};
  ASSERT_TRUE(
      p->AddTask("again", count, {{"data", InputBinding::Output("make", "data")}}, cond).ok());
  auto spec = CompileToKfp(*p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& s = *spec;
  EXPECT_EQ(s["pipelineInfo"]["name"], "c");
  EXPECT_EQ(s["root"]["inputDefinitions"]["parameters"]["n"]["parameterType"], "NUMBER_INTEGER");
  EXPECT_EQ(s["root"]["dag"]["tasks"]["count"]["inputs"]["artifacts"]["data"]["taskOutputArtifact"]
             ["producerTask"],
            "make");
  EXPECT_EQ(s["root"]["dag"]["tasks"]["make"]["retryPolicy"]["maxRetryCount"], 2);
  EXPECT_EQ(s["root"]["dag"]["tasks"]["again"]["triggerPolicy"]["condition"],
            "int(inputs.parameter_values['pipelinechannel--count-lines']) > 2");
  const Json& cmd = s["deploymentSpec"]["executors"]["exec-make"]["container"]["command"];
  EXPECT_EQ(cmd[2], "seq {{$.inputs.parameters['n']}} > {{$.outputs.artifacts['data'].path}}");
  EXPECT_EQ(s["deploymentSpec"]["executors"]["exec-count"]["container"]["command"][2],
            "wc -l < {{$.inputs.artifacts['data'].path}} > "
            "{{$.outputs.parameters['lines'].output_file}}");
  EXPECT_EQ(s["deploymentSpec"]["executors"]["exec-make"]["container"]["resources"]["accelerator"]
             ["resourceCount"],
            "1");
}

// A cluster runs what is compiled: the mlcore image unless the component or the pipeline names
// another, packages installed before the command, a CPU limit only when one was set.
TEST(Compiler, ImagesPackagesAndNoDefaultCpuLimit) {
  auto plain = Cmd("plain", {}, {}, "true");
  auto custom = Cmd("custom", {}, {}, "true");
  custom->image = "registry.example/own:2";
  custom->packages_to_install = {"scipy>=1.10", "it's"};
  custom->resources.cpu_limit = 2;
  auto p = Pipeline::Create("c");
  ASSERT_TRUE(p->AddTask("plain", plain).ok());
  ASSERT_TRUE(p->AddTask("custom", custom).ok());
  auto spec = CompileToKfp(*p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& ex = (*spec)["deploymentSpec"]["executors"];
  EXPECT_EQ(ex["exec-plain"]["container"]["image"], kDefaultBaseImage);
  EXPECT_FALSE(ex["exec-plain"]["container"].contains("resources"));
  EXPECT_EQ(ex["exec-plain"]["container"]["command"][0], "sh");
  EXPECT_EQ(ex["exec-plain"]["container"]["command"][1], "-c");
  const Json& c = ex["exec-custom"]["container"];
  EXPECT_EQ(c["image"], "registry.example/own:2");
  EXPECT_EQ(c["resources"]["resourceCpuLimit"], "2");
  EXPECT_EQ(c["command"][0], "sh");
  EXPECT_EQ(c["command"][1], "-ec");
  EXPECT_HAS(c["command"][2].get<std::string>(),
             "python3 -m pip install --quiet --no-warn-script-location 'scipy>=1.10' "
             "'it'\"'\"'s'\nexec \"$0\" \"$@\"");
  EXPECT_EQ(c["command"][3], "sh");  // the component's own command follows

  CompileOptions options;
  options.base_image = "registry.example/mlcore:9";
  options.packages_to_install = {"numpy"};
  spec = CompileToKfp(*p, options);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const Json& ex2 = (*spec)["deploymentSpec"]["executors"];
  EXPECT_EQ(ex2["exec-plain"]["container"]["image"], "registry.example/mlcore:9");
  EXPECT_EQ(ex2["exec-custom"]["container"]["image"], "registry.example/own:2");
  EXPECT_HAS(ex2["exec-plain"]["container"]["command"][2].get<std::string>(),
             "--no-warn-script-location 'numpy'\n");
  EXPECT_HAS(ex2["exec-custom"]["container"]["command"][2].get<std::string>(),
             "'numpy' 'scipy>=1.10' 'it'");
}

TEST(Compiler, CallableWithoutCommandIsRefused) {
  auto fn = Fn("lambda", {}, {}, [](TaskContext&) { return absl::OkStatus(); });
  auto p = Pipeline::Create("c");
  ASSERT_TRUE(p->AddTask("t", fn).ok());
  auto spec = CompileToKfp(*p);
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_HAS(std::string(spec.status().message()), "component 'lambda'");
}

TEST(Compiler, YamlBlockStyle) {
  Json j = {{"a", {{"b", 1}, {"c", Json::array({"x", 2.0})}}},
            {"list", Json::array({Json{{"k", "v"}, {"m", true}}})},
            {"empty", Json::object()},
            {"key with space", "q\"uote"}};
  EXPECT_EQ(ToYaml(j),
            "a:\n  b: 1\n  c:\n    - \"x\"\n    - 2.0\nempty: {}\n\"key with space\": "
            "\"q\\\"uote\"\nlist:\n  - k: \"v\"\n    m: true\n");
}

}  // namespace
}  // namespace mlcore::pipeline
