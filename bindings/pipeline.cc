// mlcore._mlcore.pipeline: components, pipelines, the local executor and its records. Values
// cross as JSON text (decoded with Python's json module), Python callables are wrapped into C++
// callables that take the GIL, and every call that runs or waits releases it.
#include "mlcore/pipeline/pipeline.h"

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bindings.h"
#include "convert.h"
#include "foreign_thread.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/compiler.h"
#include "mlcore/pipeline/component.h"
#include "mlcore/pipeline/io_type.h"

namespace mlcore::python {
namespace {

using namespace mlcore::pipeline;

py::dict RunDict(const RunRecord& r) {
  py::dict d;
  d["id"] = r.id;
  d["namespace"] = r.ns;
  d["pipeline"] = r.pipeline;
  d["pipeline_digest"] = r.pipeline_digest;
  d["experiment"] = r.experiment;
  d["state"] = r.state;
  d["arguments"] = JsonToPy(r.arguments);
  d["outputs"] = JsonToPy(r.outputs);
  d["error"] = r.error;
  d["created_at"] = UnixSeconds(r.created_at);
  d["finished_at"] = TimeOrNone(r.finished_at);
  return d;
}

py::dict TaskDict(const TaskRecord& t) {
  py::dict d;
  d["run_id"] = t.run_id;
  d["name"] = t.name;
  d["component"] = t.component;
  d["state"] = t.state;
  d["attempts"] = t.attempts;
  d["cache_key"] = t.cache_key;
  d["outputs"] = JsonToPy(t.outputs);
  d["error"] = t.error;
  d["stdout_path"] = t.stdout_path;
  d["stderr_path"] = t.stderr_path;
  d["started_at"] = TimeOrNone(t.started_at);
  d["finished_at"] = TimeOrNone(t.finished_at);
  return d;
}

py::dict ArtifactDict(const ArtifactRecord& a) {
  py::dict d;
  d["id"] = a.id;
  d["run_id"] = a.run_id;
  d["task"] = a.task;
  d["output"] = a.output;
  d["type"] = a.type;
  d["digest"] = a.digest;
  d["uri"] = a.uri;
  d["metadata"] = JsonToPy(a.metadata);
  return d;
}

// (name, type name, default as JSON text or None)
using IoTuple = std::tuple<std::string, std::string, std::optional<std::string>>;

std::vector<IoSpec> ToSpecs(const std::vector<IoTuple>& tuples) {
  std::vector<IoSpec> out;
  for (const auto& [name, type, def] : tuples) {
    IoSpec s = Unwrap(ParseIoSpec(name, type));
    if (def) s.default_value = ParseJsonArg(*def, "default of '" + name + "'");
    out.push_back(std::move(s));
  }
  return out;
}

// ("const", json) | ("param", name) | ("output", task, output)
using BindingTuple = std::vector<std::string>;

InputBinding ToBinding(const BindingTuple& b) {
  // Each kind by its tag and tuple length (the tag included).
  using Make = InputBinding (*)(const BindingTuple&);
  static const std::map<std::pair<std::string, size_t>, Make> kKinds = {
      {{"const", 2},
       [](const BindingTuple& t) { return InputBinding::Constant(ParseJsonArg(t[1], "value")); }},
      {{"collect", 2},
       [](const BindingTuple& t) {
         // The items as a JSON list of binding lists.
         std::vector<InputBinding> items;
         for (const Json& item : ParseJsonArg(t[1], "collected items")) {
           items.push_back(ToBinding(item.get<BindingTuple>()));
         }
         return InputBinding::Collect(std::move(items));
       }},
      {{"param", 2}, [](const BindingTuple& t) { return InputBinding::Parameter(t[1]); }},
      {{"output", 3}, [](const BindingTuple& t) { return InputBinding::Output(t[1], t[2]); }},
      {{"item", 3}, [](const BindingTuple& t) { return InputBinding::LoopItem(t[1], t[2]); }},
      {{"gather", 3}, [](const BindingTuple& t) { return InputBinding::Gather(t[1], t[2]); }},
      {{"oneof", 2},
       [](const BindingTuple& t) {
         // The branches' outputs as a JSON list of binding lists.
         std::vector<InputBinding> items;
         for (const Json& item : ParseJsonArg(t[1], "OneOf items")) {
           items.push_back(ToBinding(item.get<BindingTuple>()));
         }
         return InputBinding::OneOf(std::move(items));
       }},
  };
  if (!b.empty()) {
    auto it = kKinds.find({b[0], b.size()});
    if (it != kKinds.end()) return it->second(b);
  }
  throw py::value_error(
      "a binding is ('const', json), ('param', name), ('output', task, name), ('collect', "
      "json list of bindings), ('item', loop, field), ('gather', task, output) or ('oneof', json "
      "list of bindings)");
}

std::map<std::string, InputBinding> ToArguments(const std::map<std::string, BindingTuple>& args) {
  std::map<std::string, InputBinding> out;
  for (const auto& [name, b] : args) out[name] = ToBinding(b);
  return out;
}

// A condition as (lhs binding, op, rhs as JSON, negate), as add_task takes them.
using ConditionTuple = std::tuple<BindingTuple, std::string, std::string, bool>;

Condition ToCondition(const ConditionTuple& c) {
  const auto& [lhs, op, rhs, negate] = c;
  return {ToBinding(lhs), op, ParseJsonArg(rhs, "condition"), negate};
}

// An in-process component's Python callable as the C++ task function. It is interruptible: at
// its timeout, or when its run is cancelled (Ctrl-C in run.wait()), TimeoutError is raised in the
// task's thread at its next Python instruction (a blocking C call, e.g. time.sleep, finishes
// first).
std::function<Status(TaskContext&)> WrapTaskFn(PyCallable fn) {
  return [fn](TaskContext& ctx) -> Status {
    // RunWithGil and plain C API calls: a thread abandoned at its timeout may be ended by the
    // interpreter's exit inside the call, and must then unwind touching no Python object.
    return RunWithGil([&] {
      unsigned long tid = PyThread_get_thread_ident();
      ctx.interrupter->Set([tid] {
        if (InterpreterFinalizing()) return;
        RunWithGil([tid] { PyThreadState_SetAsyncExc(tid, PyExc_TimeoutError); });
      });
      Status st;
      PyObject* arg = py::cast(&ctx, py::return_value_policy::reference).release().ptr();
      PyObject* result = PyObject_CallOneArg(fn.get().ptr(), arg);
      Py_DECREF(arg);
      if (result == nullptr)
        st = absl::UnknownError(std::string("raised ") + py::error_already_set().what());
      Py_XDECREF(result);
      ctx.interrupter->Set(nullptr);
      return st;
    });
  };
}

// ~Client waits for the client's runs, whose Python tasks need the GIL: it runs without it.
// At interpreter exit, a client with runs still in flight is left alone instead: their tasks
// can no longer take the GIL and never end. The next process to open the store marks those
// runs interrupted (their owner is gone), as after kill -9.
struct ClientDeleter {
  void operator()(Client* c) const {
    if (InterpreterFinalizing() && c->HasRunsInFlight()) return;
    py::gil_scoped_release release;
    delete c;
  }
};

// RunHandle::Wait in short slices without the GIL, running Python's signal handlers between
// them: Ctrl-C cancels the run, waits (a bounded time) for it to end recorded, and raises
// KeyboardInterrupt.
RunRecord WaitInterruptibly(RunHandle& h, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;  // infinite stays infinite
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    StatusOr<RunRecord> r = absl::DeadlineExceededError("");
    {
      py::gil_scoped_release release;
      r = h.Wait(std::max(absl::ZeroDuration(), std::min(left, absl::Milliseconds(100))));
    }
    if (!absl::IsDeadlineExceeded(r.status())) return Unwrap(std::move(r));
    if (absl::Now() >= deadline) {
      ThrowIfError(absl::DeadlineExceededError(absl::StrCat(
          "run '", h.id(), "' did not finish within ", absl::FormatDuration(timeout))));
    }
    if (PyErr_CheckSignals() != 0) {
      py::error_already_set interrupted;
      {
        py::gil_scoped_release release;
        h.Cancel();
        (void)h.Wait(absl::Seconds(30));
      }
      throw interrupted;
    }
  }
}

void BindTaskContext(py::module_& m) {
  py::class_<TaskContext>(m, "TaskContext", "What an in-process callable gets while its task runs.")
      .def_readonly("run_id", &TaskContext::run_id)
      .def_readonly("task_name", &TaskContext::task_name)
      .def_readonly("attempt", &TaskContext::attempt)
      .def_readonly("task_dir", &TaskContext::task_dir)
      .def_readonly("stdout_path", &TaskContext::stdout_path)
      .def_readonly("stderr_path", &TaskContext::stderr_path)
      .def("executor_input", &TaskContext::ExecutorInput,
           "The task's inputs and output paths as JSON text (what {{$}} expands to).")
      .def("set_output_param",
           [](TaskContext& c, const std::string& name, const std::string& json) {
             c.output_params[name] = ParseJsonArg(json, "output parameter");
           })
      .def(
          "params",
          [](const TaskContext& c) {
            py::dict out;
            for (const auto& [k, v] : c.params) out[py::str(k)] = JsonToPy(v);
            return out;
          },
          "The input parameters as a dict (defaults applied).")
      .def(
          "set_output",
          [](TaskContext& c, const std::string& name, const py::handle& value) {
            c.output_params[name] = PyToJson(value, "output '" + name + "'");
          },
          "Sets output parameter `name` to a JSON-representable Python value.")
      .def("set_output_metadata",
           [](TaskContext& c, const std::string& name, const std::string& json) {
             auto it = c.outputs.find(name);
             if (it == c.outputs.end()) throw py::key_error("no output artifact '" + name + "'");
             it->second.metadata = ParseJsonArg(json, "metadata");
           });
}

void BindComponent(py::module_& m) {
  py::class_<Component, std::shared_ptr<Component>>(m, "Component", "A reusable step definition.")
      .def(py::init([](std::string name, const std::vector<IoTuple>& inputs,
                       const std::vector<IoTuple>& outputs, std::optional<py::function> fn,
                       std::vector<std::string> command, std::map<std::string, std::string> env,
                       std::string image, std::string code_version,
                       std::vector<std::string> compile_command, int retries, double backoff,
                       double backoff_factor, double max_backoff, std::optional<double> timeout,
                       bool caching, double cpu, int64_t memory, int gpu, double cpu_limit,
                       std::vector<std::string> packages_to_install) {
             auto c = std::make_shared<Component>();
             c->name = std::move(name);
             c->inputs = ToSpecs(inputs);
             c->outputs = ToSpecs(outputs);
             if (fn) {
               c->fn = WrapTaskFn(PyCallable(*fn, "component"));
             }
             c->command = std::move(command);
             c->env = std::move(env);
             c->image = std::move(image);
             c->code_version = std::move(code_version);
             c->compile_command = std::move(compile_command);
             c->retry.max_retries = retries;
             c->retry.backoff = absl::Seconds(backoff);
             c->retry.backoff_factor = backoff_factor;
             c->retry.max_backoff = absl::Seconds(max_backoff);
             c->timeout = SecondsOrInfinite(timeout);
             c->caching = caching;
             c->resources.cpu = cpu;
             c->resources.cpu_limit = cpu_limit;
             c->packages_to_install = std::move(packages_to_install);
             c->resources.memory_bytes = memory;
             c->resources.gpu = gpu;
             ThrowIfError(c->Validate());
             return c;
           }),
           py::arg("name"), py::arg("inputs") = std::vector<IoTuple>(),
           py::arg("outputs") = std::vector<IoTuple>(), py::arg("fn") = py::none(),
           py::arg("command") = std::vector<std::string>(),
           py::arg("env") = std::map<std::string, std::string>(), py::arg("image") = "",
           py::arg("code_version") = "", py::arg("compile_command") = std::vector<std::string>(),
           py::arg("retries") = 0, py::arg("backoff") = 0.1, py::arg("backoff_factor") = 2.0,
           py::arg("max_backoff") = 60.0, py::arg("timeout") = py::none(),
           py::arg("caching") = true, py::arg("cpu") = 1.0, py::arg("memory") = 0,
           py::arg("gpu") = 0, py::arg("cpu_limit") = 0.0,
           py::arg("packages_to_install") = std::vector<std::string>())
      .def_property_readonly("name", [](const Component& c) { return c.name; })
      .def_property_readonly("digest", &Component::DefinitionDigest)
      .def_property_readonly("inputs",
                             [](const Component& c) {
                               std::vector<std::pair<std::string, std::string>> out;
                               for (const IoSpec& s : c.inputs) {
                                 out.emplace_back(s.name, ValueTypeName(s.type));
                               }
                               return out;
                             })
      .def_property_readonly("outputs", [](const Component& c) {
        std::vector<std::pair<std::string, std::string>> out;
        for (const IoSpec& s : c.outputs) out.emplace_back(s.name, ValueTypeName(s.type));
        return out;
      });
}

// add_task, add_loop: what a pipeline runs.
void BindPipelineTasks(py::class_<Pipeline>& cls) {
  cls.def(py::init([](std::string name, const std::vector<IoTuple>& params) {
            return Unwrap(Pipeline::Create(std::move(name), ToSpecs(params)));
          }),
          py::arg("name"), py::arg("parameters") = std::vector<IoTuple>())
      .def(
          "add_task",
          [](Pipeline& p, std::string name, std::shared_ptr<Component> component,
             const std::map<std::string, BindingTuple>& arguments,
             const std::vector<ConditionTuple>& conditions, bool run_always,
             std::optional<bool> caching, std::string group, std::string loop) {
            TaskOptions o;
            for (const ConditionTuple& c : conditions) o.conditions.push_back(ToCondition(c));
            o.run_always = run_always;
            o.caching = caching;
            o.group = std::move(group);
            o.loop = std::move(loop);
            ThrowIfError(
                p.AddTask(std::move(name), std::move(component), ToArguments(arguments), o));
          },
          py::arg("name"), py::arg("component"), py::arg("arguments"),
          py::arg("conditions") = std::vector<ConditionTuple>(), py::arg("run_always") = false,
          py::arg("caching") = py::none(), py::arg("group") = "", py::arg("loop") = "")
      .def(
          "add_loop",
          [](Pipeline& p, std::string name, const BindingTuple& items, int parallelism,
             std::string parent) {
            ThrowIfError(
                p.AddLoop(std::move(name), ToBinding(items), parallelism, std::move(parent)));
          },
          py::arg("name"), py::arg("items"), py::arg("parallelism") = 0, py::arg("parent") = "",
          "Declares a ParallelFor decided at run time; body tasks name it in add_task(loop=).");
}

// Task groups (TaskGroup): what mlcore.If/Elif/Else, ExitHandler and a pipeline used as a
// component record for the compiler.
void BindPipelineGroups(py::class_<Pipeline>& cls) {
  cls.def(
         "begin_if",
         [](Pipeline& p, const ConditionTuple& c, std::string display_name, std::string loop) {
           return Unwrap(p.BeginIf(ToCondition(c), {std::move(display_name), std::move(loop)}));
         },
         py::arg("condition"), py::arg("display_name") = "", py::arg("loop") = "")
      .def(
          "begin_elif",
          [](Pipeline& p, const ConditionTuple& c, std::string display_name, std::string loop) {
            return Unwrap(p.BeginElif(ToCondition(c), {std::move(display_name), std::move(loop)}));
          },
          py::arg("condition"), py::arg("display_name") = "", py::arg("loop") = "")
      .def(
          "begin_else",
          [](Pipeline& p, std::string display_name, std::string loop) {
            return Unwrap(p.BeginElse({std::move(display_name), std::move(loop)}));
          },
          py::arg("display_name") = "", py::arg("loop") = "")
      .def(
          "begin_exit_handler",
          [](Pipeline& p, std::string exit_task, std::string display_name, std::string loop) {
            return Unwrap(p.BeginExitHandler(std::move(exit_task),
                                             {std::move(display_name), std::move(loop)}));
          },
          py::arg("exit_task"), py::arg("display_name") = "", py::arg("loop") = "")
      .def(
          "begin_pipeline",
          [](Pipeline& p, std::string name, const std::vector<IoTuple>& params,
             const std::map<std::string, BindingTuple>& arguments, std::string loop) {
            GroupOptions o;
            o.loop = std::move(loop);
            return Unwrap(
                p.BeginSubPipeline(std::move(name), ToSpecs(params), ToArguments(arguments), o));
          },
          py::arg("name"), py::arg("parameters"), py::arg("arguments"), py::arg("loop") = "")
      .def(
          "end_group",
          [](Pipeline& p,
             const std::vector<std::tuple<std::string, std::string, std::string>>& outputs) {
            std::vector<PipelineOutput> outs;
            for (const auto& [name, task, output] : outputs) outs.push_back({name, task, output});
            ThrowIfError(p.EndGroup(std::move(outs)));
          },
          py::arg("outputs") = std::vector<std::tuple<std::string, std::string, std::string>>())
      .def_property_readonly("groups", [](const Pipeline& p) {
        static const char* kKinds[] = {"condition", "condition-branches", "exit-handler",
                                       "pipeline"};
        std::vector<py::dict> out;
        for (const TaskGroup& g : p.groups()) {
          py::dict d;
          d["name"] = g.name;
          d["kind"] = kKinds[static_cast<int>(g.kind)];
          d["parent"] = g.parent;
          d["loop"] = g.loop;
          out.push_back(d);
        }
        return out;
      });
}

// Edges, outputs, names and the compiled forms.
void BindPipelineQueries(py::class_<Pipeline>& cls) {
  cls.def("after", [](Pipeline& p, const std::string& task,
                      const std::string& up) { ThrowIfError(p.After(task, up)); })
      .def("set_run_always", [](Pipeline& p, const std::string& task,
                                bool on) { ThrowIfError(p.SetRunAlways(task, on)); })
      .def("add_output",
           [](Pipeline& p, std::string name, std::string task, std::string output) {
             ThrowIfError(p.AddOutput(std::move(name), std::move(task), std::move(output)));
           })
      .def("unique_task_name", &Pipeline::UniqueTaskName)
      .def("output_type",
           [](const Pipeline& p, const std::string& task, const std::string& output) {
             return std::string(ValueTypeName(Unwrap(p.OutputType(task, output))));
           })
      .def_property_readonly("name", &Pipeline::name)
      .def_property_readonly("digest", &Pipeline::Digest)
      .def_property_readonly("task_names",
                             [](const Pipeline& p) {
                               std::vector<std::string> out;
                               for (const Task& t : p.tasks()) out.push_back(t.name);
                               return out;
                             })
      .def("to_json", [](const Pipeline& p) { return JsonToPy(p.ToJson()); })
      .def(
          "compile_kfp",
          [](const Pipeline& p, const std::string& sdk_version, const std::string& base_image,
             std::vector<std::string> packages_to_install) {
            CompileOptions o;
            if (!sdk_version.empty()) o.sdk_version = sdk_version;
            if (!base_image.empty()) o.base_image = base_image;
            o.packages_to_install = std::move(packages_to_install);
            return Unwrap(CompileToKfpYaml(p, o));
          },
          py::arg("sdk_version") = "", py::arg("base_image") = "",
          py::arg("packages_to_install") = std::vector<std::string>(),
          "The KFP v2 IR (PipelineSpec) as YAML text.");
  ;
}

void BindClientRuns(py::module_& m) {
  py::class_<RunHandle, std::shared_ptr<RunHandle>>(m, "RunHandle")
      .def_property_readonly("id", &RunHandle::id)
      .def_property_readonly("done", &RunHandle::done)
      .def(
          "wait",
          [](RunHandle& h, std::optional<double> timeout) {
            return RunDict(WaitInterruptibly(h, SecondsOrInfinite(timeout)));
          },
          py::arg("timeout") = py::none());

  py::class_<Client, std::unique_ptr<Client, ClientDeleter>>(
      m, "Client", "The local executor and the records of its runs.")
      .def(py::init([](std::optional<std::string> home, std::string ns, bool sync,
                       std::optional<double> busy_timeout, std::string artifacts,
                       std::optional<double> heartbeat_interval,
                       std::optional<double> heartbeat_timeout) {
             ClientOptions o;
             if (home) o.home = *home;
             o.ns = std::move(ns);
             o.sync_artifacts = sync;
             o.artifacts = std::move(artifacts);
             if (busy_timeout) o.busy_timeout = SecondsOrInfinite(busy_timeout);
             if (heartbeat_interval) o.run_heartbeat_interval = absl::Seconds(*heartbeat_interval);
             if (heartbeat_timeout) o.run_heartbeat_timeout = absl::Seconds(*heartbeat_timeout);
             return Released([&] { return Client::Open(o); }).release();
           }),
           py::arg("home") = py::none(), py::arg("namespace") = "default",
           py::arg("sync_artifacts") = true, py::arg("busy_timeout") = py::none(),
           py::arg("artifacts") = "", py::arg("run_heartbeat_interval") = py::none(),
           py::arg("run_heartbeat_timeout") = py::none(),
           "busy_timeout: seconds a store call waits for another connection's lock (default 30). "
           "run_heartbeat_interval/_timeout: seconds between a running driver's heartbeats (5) "
           "and the age after which a run owned on another host is interrupted (30).")
      .def(
          "start",
          [](Client& c, const Pipeline& p, const std::string& arguments, std::string experiment,
             int max_parallelism, double cpu_slots, int gpu_slots, bool enable_caching,
             std::string resume) {
            RunOptions o;
            o.arguments = ParseJsonArg(arguments, "arguments");
            o.experiment = std::move(experiment);
            o.max_parallelism = max_parallelism;
            o.cpu_slots = cpu_slots;
            o.gpu_slots = gpu_slots;
            o.enable_caching = enable_caching;
            o.resume_run_id = std::move(resume);
            return Released([&] { return c.Start(p, o); });
          },
          py::arg("pipeline"), py::arg("arguments") = "{}", py::arg("experiment") = "Default",
          py::arg("max_parallelism") = 0, py::arg("cpu_slots") = 0.0, py::arg("gpu_slots") = -1,
          py::arg("enable_caching") = true, py::arg("resume") = "");
}

// The records of runs, tasks and artifacts, and the artifact store.
void BindClientRecords(py::class_<Client>& cls) {
  cls.def("get_run",
          [](Client& c, const std::string& id) {
            RunRecord r = Released([&] { return c.GetRun(id); });
            return RunDict(r);
          })
      .def("get_run_spec",
           [](Client& c, const std::string& id) {
             return Released([&] { return c.GetRunSpec(id); });
           })
      .def(
          "list_runs",
          [](Client& c, std::string experiment, std::string pipeline, std::string state, int limit,
             bool newest_first) {
            std::vector<RunRecord> r = Released([&] {
              return c.ListRuns({experiment, pipeline, state, limit, newest_first});
            });
            py::list out;
            for (const RunRecord& rec : r) out.append(RunDict(rec));
            return out;
          },
          py::arg("experiment") = "", py::arg("pipeline") = "", py::arg("state") = "",
          py::arg("limit") = RunFilter{}.limit, py::arg("newest_first") = RunFilter{}.newest_first)
      .def("resolve_run_id",
           [](Client& c, const std::string& id) {
             return Released([&] { return c.ResolveRunId(id); });
           })
      .def("list_tasks",
           [](Client& c, const std::string& id) {
             std::vector<TaskRecord> r = Released([&] { return c.ListTasks(id); });
             py::list out;
             for (const TaskRecord& t : r) out.append(TaskDict(t));
             return out;
           })
      .def("list_artifacts",
           [](Client& c, const std::string& id) {
             std::vector<ArtifactRecord> r = Released([&] { return c.ListArtifacts(id); });
             py::list out;
             for (const ArtifactRecord& a : r) out.append(ArtifactDict(a));
             return out;
           })
      .def("get_artifact",
           [](Client& c, int64_t id) {
             ArtifactRecord r = Released([&] { return c.GetArtifact(id); });
             return ArtifactDict(r);
           })
      .def("artifact_consumers",
           [](Client& c, int64_t id) {
             std::vector<Consumer> r = Released([&] { return c.ArtifactConsumers(id); });
             py::list out;
             for (const Consumer& x : r) {
               py::dict d;
               d["run_id"] = x.run_id;
               d["task"] = x.task;
               d["input"] = x.input;
               out.append(d);
             }
             return out;
           })
      .def("verify_artifact",
           [](Client& c, const std::string& digest) {
             Released([&] { return c.artifacts().Verify(digest); });
           })
      .def("artifact_path",
           [](Client& c, const std::string& digest) {
             return Unwrap(c.artifacts().PathFor(digest));
           })
      .def("recover_interrupted",
           [](Client& c) { return Released([&] { return c.RecoverInterrupted(); }); })
      .def_property_readonly("home", &Client::home);
}

void BindPipeline(py::module_& m) {
  BindTaskContext(m);
  BindComponent(m);
  py::class_<Pipeline> pipeline(m, "Pipeline", "A DAG of tasks, validated as it is built.");
  BindPipelineTasks(pipeline);
  BindPipelineGroups(pipeline);
  BindPipelineQueries(pipeline);
  BindClientRuns(m);
  auto client = py::reinterpret_borrow<py::class_<Client>>(m.attr("Client"));
  BindClientRecords(client);
}

BinderRegistration reg("pipeline", "Pipelines: components, DAGs, the local executor, records",
                       &BindPipeline);

}  // namespace
}  // namespace mlcore::python
