// A pipeline of C++ callables run by the local executor: make writes a Dataset file, scale writes
// a Model directory from it, total reads the directory and returns a number. No component names
// a code_version, so the cache keys on this program's build-id: run it twice and the second run
// is served from the cache; rebuild it with other code (-DPIPELINE_SCALE=3) and it runs again.
// Prints "total <n>" and each task's state. Exits non-zero if anything fails.
#include <mlcore/mlcore.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#ifndef PIPELINE_SCALE
#define PIPELINE_SCALE 2
#endif

namespace {

using namespace mlcore::pipeline;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

absl::Status Run() {
  auto make = std::make_shared<Component>();
  make->name = "make";
  make->inputs = {{"n", ValueType::kInt, Json(4)}};
  make->outputs = {{"data", ValueType::kDataset}};
  make->fn = [](TaskContext& ctx) {
    std::ofstream out(ctx.outputs["data"].path);
    for (int i = 1; i <= ctx.params["n"].get<int>(); ++i) out << i << "\n";
    return absl::OkStatus();
  };
  auto scale = std::make_shared<Component>();
  scale->name = "scale";
  scale->inputs = {{"data", ValueType::kDataset}};
  scale->outputs = {{"model", ValueType::kModel}};
  scale->fn = [](TaskContext& ctx) {
    // A directory artifact, as a saved model is.
    const std::string dir = ctx.outputs["model"].path;
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/scale.txt") << PIPELINE_SCALE;
    std::ofstream(dir + "/data.txt") << ReadFile(ctx.inputs["data"].path);
    return absl::OkStatus();
  };
  auto total = std::make_shared<Component>();
  total->name = "total";
  total->inputs = {{"model", ValueType::kModel}};
  total->outputs = {{"total", ValueType::kInt}};
  total->fn = [](TaskContext& ctx) {
    const std::string dir = ctx.inputs["model"].path;
    const int factor = std::stoi(ReadFile(dir + "/scale.txt"));
    std::ifstream data(dir + "/data.txt");
    int sum = 0;
    for (int x; data >> x;) sum += factor * x;
    ctx.output_params["total"] = sum;
    return absl::OkStatus();
  };

  MLCORE_ASSIGN_OR_RETURN(Pipeline p, Pipeline::Create("cpp_example"));
  MLCORE_RETURN_IF_ERROR(p.AddTask("make", make));
  MLCORE_RETURN_IF_ERROR(
      p.AddTask("scale", scale, {{"data", InputBinding::Output("make", "data")}}));
  MLCORE_RETURN_IF_ERROR(
      p.AddTask("total", total, {{"model", InputBinding::Output("scale", "model")}}));
  MLCORE_RETURN_IF_ERROR(p.AddOutput("total", "total", "total"));

  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Open());
  MLCORE_ASSIGN_OR_RETURN(RunRecord run, client->Run(p, RunOptions{}));
  if (run.state != "succeeded") return absl::InternalError("run failed: " + run.error);
  std::cout << "total " << run.outputs["total"].dump() << "\n";
  MLCORE_ASSIGN_OR_RETURN(std::vector<TaskRecord> tasks, client->ListTasks(run.id));
  for (const TaskRecord& t : tasks) std::cout << t.name << " " << t.state << "\n";
  return absl::OkStatus();
}

}  // namespace

int main() {
  absl::Status status = Run();
  if (!status.ok()) {
    std::cerr << "pipeline_cpp: " << status << "\n";
    return 1;
  }
  return 0;
}
