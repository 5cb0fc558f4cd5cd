// mlcore._mlcore.pipeline: components, pipelines, the local executor and its records. Values
// cross as JSON text (decoded with Python's json module), Python callables are wrapped into C++
// callables that take the GIL, and every call that runs or waits releases it.
#include "mlcore/pipeline/pipeline.h"

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/compiler.h"
#include "mlcore/pipeline/component.h"

namespace mlcore::python {
namespace {

using namespace mlcore::pipeline;

py::object FromJson(const Json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

Json ParseJsonArg(const std::string& text, const char* what) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) throw py::value_error(std::string(what) + " is not valid JSON");
  return j;
}

double TimeOrNone(const std::optional<absl::Time>& t) {
  return t ? absl::ToDoubleSeconds(*t - absl::UnixEpoch()) : -1;
}

py::object OptTime(const std::optional<absl::Time>& t) {
  return t ? py::object(py::float_(TimeOrNone(t))) : py::object(py::none());
}

py::dict RunDict(const RunRecord& r) {
  py::dict d;
  d["id"] = r.id;
  d["namespace"] = r.ns;
  d["pipeline"] = r.pipeline;
  d["pipeline_digest"] = r.pipeline_digest;
  d["experiment"] = r.experiment;
  d["state"] = r.state;
  d["arguments"] = FromJson(r.arguments);
  d["outputs"] = FromJson(r.outputs);
  d["error"] = r.error;
  d["created_at"] = absl::ToDoubleSeconds(r.created_at - absl::UnixEpoch());
  d["finished_at"] = OptTime(r.finished_at);
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
  d["outputs"] = FromJson(t.outputs);
  d["error"] = t.error;
  d["stdout_path"] = t.stdout_path;
  d["stderr_path"] = t.stderr_path;
  d["started_at"] = OptTime(t.started_at);
  d["finished_at"] = OptTime(t.finished_at);
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
  d["metadata"] = FromJson(a.metadata);
  return d;
}

// (name, type name, default as JSON text or None)
using IoTuple = std::tuple<std::string, std::string, std::optional<std::string>>;

std::vector<IoSpec> ToSpecs(const std::vector<IoTuple>& tuples) {
  std::vector<IoSpec> out;
  for (const auto& [name, type, def] : tuples) {
    IoSpec s;
    s.name = name;
    s.type = Unwrap(ParseValueType(type));
    if (def) s.default_value = ParseJsonArg(*def, ("default of '" + name + "'").c_str());
    out.push_back(std::move(s));
  }
  return out;
}

// ("const", json) | ("param", name) | ("output", task, output)
using BindingTuple = std::vector<std::string>;

InputBinding ToBinding(const BindingTuple& b) {
  if (b.size() == 2 && b[0] == "const") return InputBinding::Constant(ParseJsonArg(b[1], "value"));
  if (b.size() == 2 && b[0] == "collect") {
    // The items as a JSON list of binding lists.
    Json items = ParseJsonArg(b[1], "collected items");
    std::vector<InputBinding> out;
    for (const Json& item : items) out.push_back(ToBinding(item.get<BindingTuple>()));
    return InputBinding::Collect(std::move(out));
  }
  if (b.size() == 2 && b[0] == "param") return InputBinding::Parameter(b[1]);
  if (b.size() == 3 && b[0] == "output") return InputBinding::Output(b[1], b[2]);
  throw py::value_error(
      "a binding is ('const', json), ('param', name), ('output', task, name) or ('collect', "
      "json list of bindings)");
}

absl::Duration Seconds(std::optional<double> s) {
  return s ? absl::Seconds(*s) : absl::InfiniteDuration();
}

void BindPipeline(py::module_& m) {
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
      .def("set_output_metadata",
           [](TaskContext& c, const std::string& name, const std::string& json) {
             auto it = c.outputs.find(name);
             if (it == c.outputs.end()) throw py::key_error("no output artifact '" + name + "'");
             it->second.metadata = ParseJsonArg(json, "metadata");
           });

  py::class_<Component, std::shared_ptr<Component>>(m, "Component", "A reusable step definition.")
      .def(py::init([](std::string name, const std::vector<IoTuple>& inputs,
                       const std::vector<IoTuple>& outputs, std::optional<py::function> fn,
                       std::vector<std::string> command, std::map<std::string, std::string> env,
                       std::string image, std::string code_version,
                       std::vector<std::string> compile_command, int retries, double backoff,
                       double backoff_factor, double max_backoff, std::optional<double> timeout,
                       bool caching, double cpu, int64_t memory, int gpu) {
             auto c = std::make_shared<Component>();
             c->name = std::move(name);
             c->inputs = ToSpecs(inputs);
             c->outputs = ToSpecs(outputs);
             if (fn) {
               // Holds the Python callable; the GIL is taken to call it and to drop it.
               auto holder =
                   std::shared_ptr<py::function>(new py::function(*fn), [](py::function* f) {
                     py::gil_scoped_acquire acquire;
                     delete f;
                   });
               c->fn = [holder](TaskContext& ctx) -> Status {
                 py::gil_scoped_acquire acquire;
                 try {
                   (*holder)(py::cast(&ctx, py::return_value_policy::reference));
                   return absl::OkStatus();
                 } catch (py::error_already_set& e) {
                   return absl::UnknownError(std::string("raised ") + e.what());
                 }
               };
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
             c->timeout = Seconds(timeout);
             c->caching = caching;
             c->resources.cpu = cpu;
             c->resources.memory_bytes = memory;
             c->resources.gpu = gpu;
             ThrowIfError(c->Validate());
             return c;
           }),
           py::arg("name"), py::arg("inputs") = std::vector<IoTuple>(),
           py::arg("outputs") = std::vector<IoTuple>(), py::arg("fn") = py::none(),
           py::arg("command") = std::vector<std::string>(),
           py::arg("env") = std::map<std::string, std::string>(), py::arg("image") = "python:3.11",
           py::arg("code_version") = "", py::arg("compile_command") = std::vector<std::string>(),
           py::arg("retries") = 0, py::arg("backoff") = 0.1, py::arg("backoff_factor") = 2.0,
           py::arg("max_backoff") = 60.0, py::arg("timeout") = py::none(),
           py::arg("caching") = true, py::arg("cpu") = 1.0, py::arg("memory") = 0,
           py::arg("gpu") = 0)
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

  py::class_<Pipeline>(m, "Pipeline", "A DAG of tasks, validated as it is built.")
      .def(py::init([](std::string name, const std::vector<IoTuple>& params) {
             return Unwrap(Pipeline::Create(std::move(name), ToSpecs(params)));
           }),
           py::arg("name"), py::arg("parameters") = std::vector<IoTuple>())
      .def(
          "add_task",
          [](Pipeline& p, std::string name, std::shared_ptr<Component> component,
             const std::map<std::string, BindingTuple>& arguments,
             const std::vector<std::tuple<BindingTuple, std::string, std::string, bool>>&
                 conditions,
             bool run_always, std::optional<bool> caching, std::string group) {
            std::map<std::string, InputBinding> args;
            for (const auto& [k, b] : arguments) args[k] = ToBinding(b);
            TaskOptions o;
            for (const auto& [lhs, op, rhs, negate] : conditions) {
              o.conditions.push_back({ToBinding(lhs), op, ParseJsonArg(rhs, "condition"), negate});
            }
            o.run_always = run_always;
            o.caching = caching;
            o.group = std::move(group);
            ThrowIfError(p.AddTask(std::move(name), std::move(component), std::move(args), o));
          },
          py::arg("name"), py::arg("component"), py::arg("arguments"),
          py::arg("conditions") =
              std::vector<std::tuple<BindingTuple, std::string, std::string, bool>>(),
          py::arg("run_always") = false, py::arg("caching") = py::none(), py::arg("group") = "")
      .def("after", [](Pipeline& p, const std::string& task,
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
      .def("to_json", [](const Pipeline& p) { return FromJson(p.ToJson()); })
      .def(
          "compile_kfp",
          [](const Pipeline& p, const std::string& sdk_version) {
            CompileOptions o;
            if (!sdk_version.empty()) o.sdk_version = sdk_version;
            return Unwrap(CompileToKfpYaml(p, o));
          },
          py::arg("sdk_version") = "", "The KFP v2 IR (PipelineSpec) as YAML text.");

  py::class_<RunHandle, std::shared_ptr<RunHandle>>(m, "RunHandle")
      .def_property_readonly("id", &RunHandle::id)
      .def_property_readonly("done", &RunHandle::done)
      .def(
          "wait",
          [](RunHandle& h, std::optional<double> timeout) {
            StatusOr<RunRecord> r;
            {
              py::gil_scoped_release release;
              r = h.Wait(Seconds(timeout));
            }
            return RunDict(Unwrap(std::move(r)));
          },
          py::arg("timeout") = py::none());

  py::class_<Client>(m, "Client", "The local executor and the records of its runs.")
      .def(py::init([](std::optional<std::string> home, std::string ns, bool sync) {
             ClientOptions o;
             if (home) o.home = *home;
             o.ns = std::move(ns);
             o.sync_artifacts = sync;
             py::gil_scoped_release release;
             return Unwrap(Client::Open(o));
           }),
           py::arg("home") = py::none(), py::arg("namespace") = "default",
           py::arg("sync_artifacts") = true)
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
            py::gil_scoped_release release;
            return Unwrap(c.Start(p, o));
          },
          py::arg("pipeline"), py::arg("arguments") = "{}", py::arg("experiment") = "Default",
          py::arg("max_parallelism") = 0, py::arg("cpu_slots") = 0.0, py::arg("gpu_slots") = -1,
          py::arg("enable_caching") = true, py::arg("resume") = "")
      .def("get_run",
           [](Client& c, const std::string& id) {
             StatusOr<RunRecord> r;
             {
               py::gil_scoped_release release;
               r = c.GetRun(id);
             }
             return RunDict(Unwrap(std::move(r)));
           })
      .def(
          "list_runs",
          [](Client& c, std::string experiment, std::string pipeline, std::string state,
             int limit) {
            StatusOr<std::vector<RunRecord>> r;
            {
              py::gil_scoped_release release;
              r = c.ListRuns({experiment, pipeline, state, limit});
            }
            py::list out;
            for (const RunRecord& rec : Unwrap(std::move(r))) out.append(RunDict(rec));
            return out;
          },
          py::arg("experiment") = "", py::arg("pipeline") = "", py::arg("state") = "",
          py::arg("limit") = 1000)
      .def("list_tasks",
           [](Client& c, const std::string& id) {
             StatusOr<std::vector<TaskRecord>> r;
             {
               py::gil_scoped_release release;
               r = c.ListTasks(id);
             }
             py::list out;
             for (const TaskRecord& t : Unwrap(std::move(r))) out.append(TaskDict(t));
             return out;
           })
      .def("list_artifacts",
           [](Client& c, const std::string& id) {
             StatusOr<std::vector<ArtifactRecord>> r;
             {
               py::gil_scoped_release release;
               r = c.ListArtifacts(id);
             }
             py::list out;
             for (const ArtifactRecord& a : Unwrap(std::move(r))) out.append(ArtifactDict(a));
             return out;
           })
      .def("get_artifact",
           [](Client& c, int64_t id) {
             StatusOr<ArtifactRecord> r;
             {
               py::gil_scoped_release release;
               r = c.GetArtifact(id);
             }
             return ArtifactDict(Unwrap(std::move(r)));
           })
      .def("artifact_consumers",
           [](Client& c, int64_t id) {
             StatusOr<std::vector<Consumer>> r;
             {
               py::gil_scoped_release release;
               r = c.ArtifactConsumers(id);
             }
             py::list out;
             for (const Consumer& x : Unwrap(std::move(r))) {
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
             py::gil_scoped_release release;
             ThrowIfError(c.artifacts().Verify(digest));
           })
      .def("artifact_path",
           [](Client& c, const std::string& digest) {
             return Unwrap(c.artifacts().PathFor(digest));
           })
      .def("recover_interrupted",
           [](Client& c) {
             py::gil_scoped_release release;
             return Unwrap(c.RecoverInterrupted());
           })
      .def_property_readonly("home", &Client::home);
}

BinderRegistration reg("pipeline", "Pipelines: components, DAGs, the local executor, records",
                       &BindPipeline);

}  // namespace
}  // namespace mlcore::python
