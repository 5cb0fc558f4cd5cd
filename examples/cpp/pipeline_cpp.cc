// A pipeline of C++ callables run by the local executor: make writes a Dataset file, scale writes
// a Model directory from it, total reads the directory and returns a number. No component names
// a code_version, so the cache keys on this program's build-id: run it twice and the second run
// is served from the cache; rebuild it with other code (-DPIPELINE_SCALE=3) and it runs again.
// Prints "total <n>", each task's state and what the tasks printed, read back from their logs:
// `scale` runs in process (std::cout on its thread is routed to its log), `make` in a child
// process (CallableMode::kSubprocess: printf and everything else is captured). Exits non-zero
// if anything fails.
//
// The same program is the container command of every task on Kubeflow: `pipeline_cpp --compile
// pipeline.yaml /app/pipeline_cpp` writes the KFP pipeline, whose tasks run
// `/app/pipeline_cpp --mlcore-task <component> --executor-input <json>`, handled by RunTaskMain.
#include <mlcore/mlcore.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
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

absl::StatusOr<Pipeline> Build() {
  auto make = std::make_shared<Component>();
  make->name = "make";
  make->inputs = {{"n", ValueType::kInt, Json(4)}};
  make->outputs = {{"data", ValueType::kDataset}};
  make->mode = CallableMode::kSubprocess;  // this program, run again through RunTaskMain
  make->fn = [](TaskContext& ctx) {
    std::printf("making %d rows\n", ctx.params["n"].get<int>());
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
    std::cout << "scaling by " << PIPELINE_SCALE << "\n";
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
  return p;
}

// Writes the pipeline for Kubeflow, each callable running as `binary` in `image`.
absl::Status Compile(const Pipeline& p, const std::string& path, const std::string& binary) {
  CompileOptions options;
  options.task_binary = binary;
  options.task_image = "registry.example.com/pipeline-cpp:1";
  MLCORE_ASSIGN_OR_RETURN(Json spec, CompileToKfp(p, options));
  std::ofstream out(path);
  out << ToYaml(spec);
  if (!out) return absl::UnavailableError("cannot write " + path);
  std::cout << "wrote " << path << "\n";
  return absl::OkStatus();
}

absl::Status Run(const Pipeline& p) {
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Open());
  MLCORE_ASSIGN_OR_RETURN(RunRecord run, client->Run(p, RunOptions{}));
  if (run.state != "succeeded") return absl::InternalError("run failed: " + run.error);
  std::cout << "total " << run.outputs["total"].dump() << "\n";
  MLCORE_ASSIGN_OR_RETURN(std::vector<TaskRecord> tasks, client->ListTasks(run.id));
  for (const TaskRecord& t : tasks) {
    std::cout << t.name << " " << t.state << "\n";
    if (!t.Logs().empty()) std::cout << t.name << " log: " << t.Logs();
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<Pipeline> p = Build();
  if (!p.ok()) {
    std::cerr << "pipeline_cpp: " << mlcore::StatusText(p.status()) << "\n";
    return 1;
  }
  // Inside a Kubeflow task: run that one component from the executor input, and exit.
  if (std::optional<int> code = RunTaskMain(argc, argv, *p)) return *code;
  const bool compile = argc > 1 && std::string(argv[1]) == "--compile";
  absl::Status status = compile ? Compile(*p, argc > 2 ? argv[2] : "pipeline_cpp.yaml",
                                          argc > 3 ? argv[3] : "/app/pipeline_cpp")
                                : Run(*p);
  if (!status.ok()) {
    std::cerr << "pipeline_cpp: " << mlcore::StatusText(status) << "\n";
    return 1;
  }
  return 0;
}
