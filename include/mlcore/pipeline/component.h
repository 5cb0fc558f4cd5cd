// A component: a reusable, self-contained step (prepare data, train, evaluate) with typed inputs
// and outputs and one way to run (an in-process callable or a command line). Typing the inputs
// lets a pipeline catch a Dataset passed where an int is expected when it is defined, not half-way
// through a run; the definition digest is what the cache and the pipeline versions key on.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/json.h"
#include "mlcore/core/status.h"

namespace mlcore::pipeline {

namespace internal {
class TaskLog;
}  // namespace internal

// Parameters, metadata and outputs are mlcore::Json (mlcore/core/json.h), mlcore's own value
// type: an application's JSON library and its settings cannot change what the API passes.
using Json = ::mlcore::Json;

// What flows along an edge: a parameter (a JSON-representable value) or an artifact (a file in
// the artifact store plus metadata). kArtifact accepts any artifact type; the others match only
// themselves.
enum class ValueType {
  kInt,
  kFloat,
  kString,
  kBool,
  kList,
  kDict,
  kArtifact,
  kDataset,
  kModel,
  kMetrics,
};

// "int", "float", "str", "bool", "list", "dict", "Artifact", "Dataset", "Model", "Metrics".
const char* ValueTypeName(ValueType type);
// The inverse of ValueTypeName; InvalidArgument naming the string otherwise.
StatusOr<ValueType> ParseValueType(std::string_view name);
bool IsArtifactType(ValueType type);
// Whether a value of type `from` may feed an input of type `to` (an int feeds a float input, any
// artifact feeds an Artifact input).
bool TypeAccepts(ValueType to, ValueType from);
// OK when `value` is a valid `type` parameter; InvalidArgument describing the mismatch otherwise.
Status CheckParameterValue(ValueType type, const Json& value);

struct IoSpec {
  std::string name;  // lowercase letters, digits, '_', starting with a letter
  ValueType type = ValueType::kString;
  // A parameter input with a default may be left unbound. Artifacts have no defaults.
  std::optional<Json> default_value;
  // An artifact input that takes a list of artifacts of `type` (KFP's Input[List[Model]]): fed
  // by gathering a ParallelFor body task's artifact output (InputBinding::Gather). Inputs only.
  bool list = false;
};

// How often a failing task is tried again and how long to wait in between: backoff, then
// backoff * factor, ... capped at max_backoff.
struct RetryPolicy {
  int max_retries = 0;
  absl::Duration backoff = absl::Milliseconds(100);
  double backoff_factor = 2.0;
  absl::Duration max_backoff = absl::Seconds(60);
};

// What a task holds while it runs. The scheduler starts a task only when this much is free;
// a task with gpu > 0 waits for a device and never holds back tasks that need none.
struct Resources {
  double cpu = 1.0;  // CPU slots held locally; not a Kubeflow limit (cpu_limit is)
  // CPU limit of the task's container on Kubeflow (compile only); 0: none, the cluster decides.
  double cpu_limit = 0;
  int64_t memory_bytes = 0;  // recorded and compiled for Kubeflow; not enforced locally
  int gpu = 0;
};

// An artifact as a running task sees it: where to read (inputs) or write (outputs) it, and
// free-form metadata recorded with it. An artifact is a file or a directory (a saved model is
// one): a task writes either at an output's `path`, and the store keeps a directory as a
// manifest of its files' digests (ArtifactStore::PutDirectory). An input directory is copied
// into the task's directory, every file checked against its digest, before the task starts.
struct ArtifactRef {
  ValueType type = ValueType::kArtifact;
  std::string path;
  Json metadata = Json::object();
  std::string digest;      // sha256 of the content (of a directory's manifest); empty for outputs
  bool directory = false;  // inputs: `path` is a directory
};

// How a running in-process callable is stopped early. A callable that can be interrupted
// registers a function (the Python binding raises TimeoutError in the thread running it); the
// executor fires it when the task passes its timeout. Copies of a TaskContext share one.
class Interrupter {
 public:
  // Registers `fn` (nullptr: none). Thread-safe.
  void Set(std::function<void()> fn);
  // Calls the registered function once, if any. Thread-safe.
  void Fire();

 private:
  std::mutex mu_;
  std::function<void()> fn_;
};

// The artifacts of a list input (IoSpec::list), in item order. Gathered from one loop level they
// are `artifacts`; gathered across nested loops each outer iteration gives one of `lists`.
struct ArtifactList {
  std::vector<ArtifactRef> artifacts;
  std::vector<ArtifactList> lists;
};

// Everything an in-process callable gets, and fills in: its resolved parameters and input
// artifacts, the paths to write output artifacts at, and output parameters to set.
struct TaskContext {
  std::string run_id;
  std::string task_name;
  int attempt = 1;  // 1 for the first try
  // The GPU slots (CUDA device indices) this task holds; commands also get them as
  // CUDA_VISIBLE_DEVICES (empty when the task asked for no GPU).
  std::vector<int> gpus;
  std::map<std::string, Json> params;          // input parameters, defaults applied
  std::map<std::string, ArtifactRef> inputs;   // input artifacts (read-only files)
  std::map<std::string, ArtifactRef> outputs;  // output artifacts: write `path`, fill metadata
  std::map<std::string, Json> output_params;   // set each output parameter here
  // List inputs' artifacts (IoSpec::list; read-only files).
  std::map<std::string, ArtifactList> input_lists;
  // The task's stdout/stderr logs (what `mlcore pipelines runs logs` and Task.logs() show). A
  // command's output is redirected into them, as is everything a kSubprocess callable writes.
  // An in-process callable's std::cout, std::cerr, std::clog and MLCORE_LOG output on the thread
  // that runs it lands there too (see CallableMode); Out() and Err() reach them from any thread.
  std::string stdout_path;
  std::string stderr_path;
  // Streams into the logs above, created on the first write (most tasks print nothing); for
  // threads the callable starts itself, whose std::cout is the program's. Thread-safe; a line
  // is flushed as it ends. Under RunTaskMain they are the process's own stdout/stderr.
  std::ostream& Out();
  std::ostream& Err();
  // Behind Out()/Err(), shared by copies of this context; set up on first use.
  std::shared_ptr<internal::TaskLog> log;
  // Where a command writes each output parameter (callables set output_params instead).
  std::map<std::string, std::string> output_param_paths;
  std::string task_dir;
  std::shared_ptr<Interrupter> interrupter = std::make_shared<Interrupter>();
  // The executor's JSON description of all of the above (what "{{$}}" expands to).
  std::string ExecutorInput() const;
};

using Callable = std::function<Status(TaskContext& context)>;

// Where a callable component runs when the pipeline runs locally.
enum class CallableMode {
  // On one of the executor's threads, beside other tasks. Its output through std::cout,
  // std::cerr, std::clog and MLCORE_LOG on that thread, and through TaskContext::Out()/Err()
  // from any thread, goes to the task's logs; printf, writes to file descriptors 1 and 2, and
  // the output of child processes it starts go to the program's own stdout/stderr, since every
  // thread of a process shares those descriptors (as for Python's in-process components).
  kInProcess,
  // In a child process: the program itself, run as
  //   <this program> --mlcore-task <component> --executor-input <JSON>
  // (what Kubeflow runs; see task_main.h), so main must hand argv to RunTaskMain before it runs
  // the pipeline. Everything the task writes, at the descriptor level, lands in its logs; a
  // crash fails only the task; a timeout kills its process group. Costs a process start.
  kSubprocess,
};

// A step definition. Exactly one of `fn` and `command` is set.
//
// Command placeholders, replaced by whole-argument or in-argument substitution:
//   {{inputs.parameters.NAME}}        the value (strings as they are, others as JSON)
//   {{inputs.artifacts.NAME.path}}    the input artifact's file
//   {{outputs.artifacts.NAME.path}}   where to write the output artifact
//   {{outputs.parameters.NAME.path}}  where to write the output parameter (JSON or plain text)
//   {{$}}                             the executor input JSON (TaskContext::ExecutorInput)
// An output artifact's metadata may be written as JSON to "<its path>.metadata.json".
struct Component {
  std::string name;
  std::vector<IoSpec> inputs;
  std::vector<IoSpec> outputs;

  Callable fn;
  std::vector<std::string> command;
  std::map<std::string, std::string> env;  // added to the command's environment
  // What Kubeflow runs the command in (compile only); empty: CompileOptions::base_image, an
  // image with mlcore installed (the repository's Containerfile builds it).
  std::string image;
  // Installed with pip when the container starts, before the command (compile only), as kfp's
  // lightweight components do; CompileOptions::packages_to_install come first.
  std::vector<std::string> packages_to_install;

  // What Kubeflow runs for a callable component (a Python function's runner); the same
  // placeholders as `command`. Commands compile as they are; a callable without it cannot be
  // compiled (a C++ lambda has no container to run in).
  std::vector<std::string> compile_command;

  // Identifies fn's code for the cache and pipeline versions (C++ lambdas have no readable
  // source). Empty: ProgramCodeVersion(), which changes whenever the program or one of its own
  // libraries is rebuilt with other code, so a cached result never outlives the code that made
  // it; set it (and bump it when the code changes) to keep hits across rebuilds that leave this
  // callable alone. Commands are identified by the command itself.
  std::string code_version;
  CallableMode mode = CallableMode::kInProcess;  // callables only

  RetryPolicy retry;
  // Commands are killed at the deadline. A callable with a finite timeout runs on a thread of
  // its own: at the deadline the task fails (DeadlineExceeded naming it) and its Interrupter
  // fires; a C++ callable that cannot be interrupted is left to finish in the background, its
  // results discarded.
  absl::Duration timeout = absl::InfiniteDuration();
  bool caching = true;
  Resources resources;

  // Names, types, placeholders and the fn/command choice; errors name the component and field.
  Status Validate() const;
  // sha256 over the definition (name, io, command or code_version, env, image).
  std::string DefinitionDigest() const;
  // code_version, or ProgramCodeVersion() for a callable that has none.
  std::string EffectiveCodeVersion() const;
  const IoSpec* FindInput(std::string_view name) const;
  const IoSpec* FindOutput(std::string_view name) const;
};

// The code version of a callable that names none: "build-id:" and the sha256 over the GNU
// build-ids (which the linker derives from the code) of the running program and of every shared
// library it has loaded from outside the system's library directories (/lib, /usr/lib, CUDA's):
// the application, its own libraries, libmlcore. An object without a build-id counts by its
// path, size and modification time. Computed when first asked, and again after the program
// loads or unloads a library (dlopen). A callable's version (EffectiveCodeVersion) also holds
// the build-id of the object defining it when that object is in a system directory.
const std::string& ProgramCodeVersion();

}  // namespace mlcore::pipeline
