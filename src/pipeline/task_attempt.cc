#include "pipeline/task_attempt.h"

#include <cxxabi.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlcore/core/subprocess.h"
#include "mlcore/pipeline/task_main.h"
#include "pipeline/placeholders.h"
#include "pipeline/task_log.h"

namespace mlcore::pipeline::internal {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs an in-process callable with this thread's std::cout/std::cerr routed to its logs.
Status CallFn(const Callable& fn, TaskContext& ctx) {
  if (!ctx.log) ctx.log = std::make_shared<TaskLog>(ctx.stdout_path, ctx.stderr_path);
  ScopedTaskOutput output(ctx.log.get());
  try {
    return fn(ctx);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("threw: ", e.what()));
  } catch (abi::__forced_unwind&) {
    throw;  // the thread is being ended (pthread_exit at interpreter exit): swallowing aborts
  } catch (...) {
    return absl::InternalError("threw an exception");
  }
}

Json ParseOutputParameter(const std::string& text, ValueType type) {
  if (type == ValueType::kString) {
    // Strings are written as plain text (what a shell step echoes); a JSON string also works.
    Json j = Json::parse(text, nullptr, false);
    if (!j.is_discarded() && j.is_string()) return j;
    std::string t = text;
    if (!t.empty() && t.back() == '\n') t.pop_back();
    return t;
  }
  return Json::parse(text, nullptr, false);
}

// A command step's outcome as the task's error: Unavailable "exited with status N" / "killed by
// signal S (name)", DeadlineExceeded "timed out after T", Cancelled, NotFound when the program
// cannot be started; messages end with the tail of the stderr log when it has one.
Status CommandStatus(const SubprocessOptions& so) {
  MLCORE_ASSIGN_OR_RETURN(SubprocessResult r, RunSubprocess(so));
  if (r.ok()) return absl::OkStatus();
  std::string tail = r.stderr_tail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  auto with_tail = [&](std::string message) {
    if (!tail.empty()) absl::StrAppend(&message, "; stderr ends with:\n", tail);
    return message;
  };
  if (r.cancelled) return absl::CancelledError("cancelled; its process group was killed");
  if (r.timed_out) {
    return absl::DeadlineExceededError(with_tail(absl::StrCat(
        "timed out after ", absl::FormatDuration(so.timeout), "; its process group was killed")));
  }
  return absl::UnavailableError(with_tail(r.Describe()));
}

// A callable with a deadline runs on a thread of its own (with its own copy of the context) so
// that this one can stop waiting. At the deadline the callable is interrupted where it can be
// (Python) and abandoned; it may still be running, but nothing it does is recorded.
Status CallWithTimeout(const Task& task, TaskContext& ctx) {
  const Component& comp = *task.component;
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status;
    TaskContext ctx;
  };
  auto call = std::make_shared<Call>();
  call->ctx = ctx;
  Callable fn = comp.fn;
  std::thread runner([call, fn] {
    Status st = CallFn(fn, call->ctx);
    std::lock_guard<std::mutex> lock(call->mu);
    call->status = std::move(st);
    call->done = true;
    call->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(call->mu);
  const bool finished =
      call->cv.wait_for(lock, absl::ToChronoNanoseconds(comp.timeout), [&] { return call->done; });
  if (finished) {
    lock.unlock();
    runner.join();
    ctx = std::move(call->ctx);
    return call->status;
  }
  lock.unlock();
  runner.detach();  // first: Fire may end this thread (interpreter exit), with `runner` joinable
  call->ctx.interrupter->Fire();
  return absl::DeadlineExceededError(absl::StrCat("task '", task.name, "' ran past its timeout of ",
                                                  absl::FormatDuration(comp.timeout),
                                                  " and was stopped"));
}

// Set in the environment of a kSubprocess callable's process: the task it was started for.
constexpr char kTaskProcessEnv[] = "MLCORE_TASK_PROCESS";

// This program's path, for running one of its callables in a child process.
StatusOr<std::string> ProgramPath() {
  std::error_code ec;
  fs::path path = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot find this program: ", ec.message()));
  return path.string();
}

// The argv of a kSubprocess callable: this program with RunTaskMain's arguments. A program
// started that way whose main ran the pipeline instead (it never called RunTaskMain) would start
// itself again for the same task, without end: refused, naming the fix.
StatusOr<std::vector<std::string>> CallableArgv(const Task& task, const TaskContext& ctx) {
  if (const char* parent_task = std::getenv(kTaskProcessEnv)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this program was started to run task '", parent_task,
        "' in a subprocess (CallableMode::kSubprocess), but main ran a pipeline instead: main "
        "must call mlcore::pipeline::RunTaskMain(argc, argv, pipeline) first and return its "
        "exit code when it has one"));
  }
  MLCORE_ASSIGN_OR_RETURN(std::string program, ProgramPath());
  std::vector<std::string> argv = TaskMainCommand(program, task.component->name);
  argv.back() = ctx.ExecutorInput();
  return argv;
}

// A command (or a kSubprocess callable) as a child process in the task directory, with the
// task's devices and logs.
Status RunCommand(const Task& task, TaskContext& ctx, const std::atomic<bool>* cancelled) {
  const Component& comp = *task.component;
  std::error_code ec;
  fs::create_directories(ctx.task_dir, ec);
  SubprocessOptions so;
  if (comp.fn) {
    MLCORE_ASSIGN_OR_RETURN(so.argv, CallableArgv(task, ctx));
    so.env[kTaskProcessEnv] = task.name;
  } else {
    for (const std::string& arg : comp.command) {
      MLCORE_ASSIGN_OR_RETURN(std::string expanded, ExpandPlaceholders(arg, ctx));
      so.argv.push_back(std::move(expanded));
    }
  }
  for (const auto& [k, v] : comp.env) so.env[k] = v;
  so.env["MLCORE_RUN_ID"] = ctx.run_id;
  so.env["MLCORE_TASK"] = ctx.task_name;
  // The devices this task holds, so that parallel GPU tasks never share one by accident; a task
  // that asked for none sees none.
  std::string visible;
  for (int d : ctx.gpus) absl::StrAppend(&visible, visible.empty() ? "" : ",", d);
  so.env["CUDA_VISIBLE_DEVICES"] = visible;
  so.working_dir = ctx.task_dir;
  so.stdout_path = ctx.stdout_path;
  so.stderr_path = ctx.stderr_path;
  so.timeout = comp.timeout;
  so.cancel_flag = cancelled;
  return CommandStatus(so);
}

// What a task wrote next to an output it was asked for and did not write: `train.npz` beside
// `train` is numpy's savez adding its suffix, the most common way to miss an output path. Names
// the files whose name is the expected one plus a suffix ("" when there are none).
std::string WroteBeside(const std::string& expected) {
  const fs::path path(expected);
  const std::string stem = path.filename().string() + ".";
  std::vector<std::string> found;
  std::error_code ec;
  for (fs::directory_iterator it(path.parent_path(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(stem, 0) == 0 && !name.ends_with(".metadata.json")) {
      found.push_back(it->path().string());
    }
  }
  if (found.empty()) return "";
  std::sort(found.begin(), found.end());
  return absl::StrCat("; it wrote ", absl::StrJoin(found, ", "),
                      " instead: write to the path exactly as given (numpy's savez and save add "
                      "a suffix to a name without one; pass an open file, or rename afterwards)");
}

}  // namespace

void PrepareOutputs(const Component& comp, TaskContext& ctx) {
  ctx.output_params.clear();
  ctx.outputs.clear();
  ctx.output_param_paths.clear();
  // Commands run in the task directory; callables get one only when they write artifacts
  // (creating directories is most of an in-process no-op task's cost).
  bool has_artifacts = false;
  for (const IoSpec& out : comp.outputs) has_artifacts |= IsArtifactType(out.type);
  const bool in_process = comp.fn && comp.mode == CallableMode::kInProcess;
  if (!in_process || has_artifacts) {
    std::error_code ec;
    fs::remove_all(ctx.task_dir + "/outputs", ec);
    fs::create_directories(ctx.task_dir + "/outputs/params", ec);
  }
  for (const IoSpec& out : comp.outputs) {
    if (IsArtifactType(out.type)) {
      ArtifactRef ref;
      ref.type = out.type;
      ref.path = ctx.task_dir + "/outputs/" + out.name;
      ctx.outputs[out.name] = ref;
    } else {
      ctx.output_param_paths[out.name] = ctx.task_dir + "/outputs/params/" + out.name;
    }
  }
}

Status Attempt(const Task& task, TaskContext& ctx, const std::atomic<bool>* cancelled) {
  const Component& comp = *task.component;
  if (!comp.fn || comp.mode == CallableMode::kSubprocess) return RunCommand(task, ctx, cancelled);
  if (comp.timeout == absl::InfiniteDuration()) return CallFn(comp.fn, ctx);
  return CallWithTimeout(task, ctx);
}

StatusOr<Json> CollectOutputs(const Task& task, TaskContext& ctx, store::ArtifactStore& artifacts,
                              std::vector<Produced>* produced) {
  const Component& comp = *task.component;
  Json outputs = {{"parameters", Json::object()}, {"artifacts", Json::object()}};
  for (const IoSpec& out : comp.outputs) {
    if (IsArtifactType(out.type)) continue;
    Json value;
    auto it = ctx.output_params.find(out.name);
    if (it != ctx.output_params.end()) {
      value = it->second;
    } else {
      const std::string& path = ctx.output_param_paths[out.name];
      if (!fs::exists(path)) {
        return absl::FailedPreconditionError(absl::StrCat("did not set its output parameter '",
                                                          out.name, "' (", ValueTypeName(out.type),
                                                          "; a command writes it to ", path, ")"));
      }
      value = ParseOutputParameter(ReadFile(path), out.type);
    }
    Status st = CheckParameterValue(out.type, value);
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("output parameter '", out.name, "': ", st.message()));
    }
    outputs["parameters"][out.name] = value;
  }
  for (const IoSpec& out : comp.outputs) {
    if (!IsArtifactType(out.type)) continue;
    ArtifactRef& ref = ctx.outputs[out.name];
    std::error_code ec;
    const bool directory = fs::is_directory(ref.path, ec);
    if (!directory && !fs::is_regular_file(ref.path, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "did not write its output artifact '", out.name, "' (", ValueTypeName(out.type),
          ") as a file or directory at ", ref.path, WroteBeside(ref.path)));
    }
    Json metadata = ref.metadata.is_object() ? ref.metadata : Json::object();
    std::string meta_path = ref.path + ".metadata.json";
    if (fs::exists(meta_path)) {
      Json file_meta = Json::parse(ReadFile(meta_path), nullptr, false);
      if (file_meta.is_object()) metadata.update(file_meta);
    }
    // A directory (a saved model) is stored file by file under a manifest whose digest names
    // it, so equal trees get equal digests and the cache keys on content as it does for files.
    MLCORE_ASSIGN_OR_RETURN(store::Artifact art, directory ? artifacts.PutDirectory(ref.path)
                                                           : artifacts.PutFile(ref.path));
    produced->push_back({out.name, art, metadata, out.type, directory});
  }
  return outputs;
}

}  // namespace mlcore::pipeline::internal
