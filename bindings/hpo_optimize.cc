// Study.optimize, optimize_command and optimize_pipeline: the study runs trials on C++ threads
// without the GIL; a Python objective or callback takes it for its call. The keyword defaults
// are those of a default OptimizeOptions and TrialResources, written once, in C++.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "bindings.h"
#include "convert.h"
#include "foreign_thread.h"
#include "hpo_convert.h"
#include "mlcore/hpo/command_objective.h"
#include "mlcore/hpo/pipeline_objective.h"
#include "mlcore/hpo/study.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

// The keyword arguments every optimize binding takes, as Study::Optimize's options.
struct OptimizeArgs {
  int64_t n_trials;
  std::optional<double> timeout;
  int n_parallel;
  int64_t max_trials;
  int64_t max_failed_trials;
  std::optional<double> goal;
  int gpus_per_trial;
  std::optional<std::vector<int>> gpus;  // None: every CUDA device; [] is refused
  int cpus_per_trial;
  int cpus;

  OptimizeOptions ToOptions() && {
    OptimizeOptions o;
    o.n_trials = n_trials;
    o.timeout = SecondsOrInfinite(timeout);
    o.n_parallel = n_parallel;
    o.max_trials = max_trials;
    o.max_failed_trials = max_failed_trials;
    o.goal = goal;
    o.resources.gpus_per_trial = gpus_per_trial;
    if (gpus.has_value()) {
      if (gpus->empty() && gpus_per_trial > 0) {
        throw py::value_error("gpus is an empty list but gpus_per_trial is " +
                              std::to_string(gpus_per_trial));
      }
      o.resources.gpus = std::move(*gpus);
    }
    o.resources.cpus_per_trial = cpus_per_trial;
    o.resources.cpus = cpus;
    return o;
  }
};

// The OptimizeArgs keywords, after the binding's own, with C++'s defaults.
template <typename... Extra>
auto WithOptimizeArgs(Extra... extra) {
  const OptimizeOptions d;
  return std::make_tuple(
      extra..., py::arg("n_trials") = d.n_trials, py::arg("timeout") = py::none(),
      py::arg("n_parallel") = d.n_parallel, py::arg("max_trials") = d.max_trials,
      py::arg("max_failed_trials") = d.max_failed_trials, py::arg("goal") = py::none(),
      py::arg("gpus_per_trial") = d.resources.gpus_per_trial, py::arg("gpus") = py::none(),
      py::arg("cpus_per_trial") = d.resources.cpus_per_trial, py::arg("cpus") = d.resources.cpus);
}

// An exception an objective or callback raised that stops the study (KeyboardInterrupt,
// SystemExit, a callback's error): kept to be raised again once the workers are done.
using Interrupt = std::shared_ptr<py::object>;

void Keep(const Interrupt& interrupt, py::error_already_set& e) {
  if (*interrupt && !interrupt->is_none()) return;
  if (e.trace() && !e.trace().is_none()) {
    // The traceback goes with the exception, so that raising it again shows where it came from.
    PyException_SetTraceback(e.value().ptr(), e.trace().ptr());
    // Without the locals of its (finished) frames: the objective's `trial` is a Python view of a
    // C++ Trial that ends with the call. Kept alive past it, a later Trial at the same address
    // would come back from ask() as that stale view (pybind11 finds instances by address).
    try {
      py::module_::import("traceback").attr("clear_frames")(e.trace());
    } catch (py::error_already_set&) {  // the exception is still raised, with its locals
    }
  }
  *interrupt = e.value();
}

// Marks the status of an exception the objective raised that `catch` does not name: Optimize
// stops (OptimizeOptions::catch_error) and the exception itself is raised again.
constexpr char kUncaughtPayload[] = "mlcore.python/uncaught";

bool CaughtByCatch(const Status& status) {
  return !status.GetPayload(kUncaughtPayload).has_value();
}

// "ValueError: message" and then the Python traceback, for the trial's record and log.
std::string DescribeException(py::error_already_set& e) {
  std::string text =
      std::string(py::str(e.type().attr("__name__"))) + ": " + std::string(py::str(e.value()));
  try {
    py::object lines =
        py::module_::import("traceback").attr("format_exception")(e.type(), e.value(), e.trace());
    text += "\n" + py::str("").attr("join")(lines).cast<std::string>();
    while (!text.empty() && text.back() == '\n') text.pop_back();
  } catch (py::error_already_set&) {  // the summary line still says what went wrong
  }
  return text;
}

// One objective call, with the GIL. Plain C API calls: no temporaries whose destructors would
// touch Python if the interpreter ends this thread inside the call (see foreign_thread.h).
StatusOr<std::vector<double>> CallObjective(const PyCallable& fn, Study* study,
                                            const Interrupt& interrupt, const PyCallable& catch_,
                                            Trial& trial) {
  try {
    PyObject* arg = py::cast(&trial, py::return_value_policy::reference).release().ptr();
    PyObject* r = PyObject_CallOneArg(fn.get().ptr(), arg);
    Py_DECREF(arg);
    if (r == nullptr) throw py::error_already_set();
    return ToValues(py::reinterpret_steal<py::object>(r));
  } catch (py::error_already_set& e) {
    if (e.matches(TrialPrunedType())) return TrialPrunedError(e.what());
    if (e.matches(PyExc_KeyboardInterrupt) || e.matches(PyExc_SystemExit)) {
      study->Stop();
      Keep(interrupt, e);
      return absl::CancelledError("interrupted");
    }
    const bool uncaught = !e.matches(catch_.get());
    // Before the traceback is formatted: other workers would start trials while this thread
    // waits for the GIL.
    if (uncaught) study->Stop();
    Status failed = absl::UnknownError(DescribeException(e));
    if (uncaught) {
      Keep(interrupt, e);
      failed.SetPayload(kUncaughtPayload, absl::Cord("1"));
    }
    return failed;
  }
}

// The Python threads running an objective call now, so that Ctrl-C can interrupt them.
struct InObjective {
  std::mutex mu;
  std::set<unsigned long> threads;
};

// The C++ objective that calls a Python callable; runs on C++ threads without the GIL.
MultiObjective WrapObjective(PyCallable fn, Study* study, Interrupt interrupt,
                             std::shared_ptr<InObjective> running, PyCallable catch_) {
  return [fn, study, interrupt, running, catch_](Trial& trial) -> StatusOr<std::vector<double>> {
    return RunWithGil([&]() -> StatusOr<std::vector<double>> {
      const unsigned long tid = PyThread_get_thread_ident();
      {
        std::lock_guard<std::mutex> lock(running->mu);
        running->threads.insert(tid);
      }
      StatusOr<std::vector<double>> result = CallObjective(fn, study, interrupt, catch_, trial);
      std::lock_guard<std::mutex> lock(running->mu);
      running->threads.erase(tid);
      return result;
    });
  };
}

// Runs the study's workers off this thread and waits for them in short slices, running Python's
// signal handlers between: Ctrl-C stops asking for trials and raises KeyboardInterrupt in the
// objectives running now; their trials are recorded failed ("interrupted") before it is raised.
Status OptimizeInterruptibly(Study& s, const MultiObjective& fn, const OptimizeOptions& o,
                             const Interrupt& interrupt,
                             const std::shared_ptr<InObjective>& running) {
  std::promise<Status> result;
  std::future<Status> done = result.get_future();
  std::thread workers([&] { result.set_value(s.OptimizeMultiObjective(fn, o)); });
  bool stopping = false;
  while (true) {
    std::future_status ready;
    {
      py::gil_scoped_release release;
      ready = done.wait_for(std::chrono::milliseconds(100));
    }
    if (ready == std::future_status::ready) break;
    if (stopping || PyErr_CheckSignals() == 0) continue;
    py::error_already_set e;
    Keep(interrupt, e);
    stopping = true;
    s.Stop();
    std::lock_guard<std::mutex> lock(running->mu);
    for (unsigned long tid : running->threads)
      PyThreadState_SetAsyncExc(tid, PyExc_KeyboardInterrupt);
  }
  {
    py::gil_scoped_release release;
    workers.join();
  }
  return done.get();
}

void Optimize(Study& s, py::function objective, std::optional<py::function> callback,
              py::tuple catch_, OptimizeArgs args) {
  auto interrupt = std::make_shared<py::object>();
  OptimizeOptions o = std::move(args).ToOptions();
  o.catch_error = &CaughtByCatch;
  if (callback.has_value()) {
    PyCallable cb(std::move(*callback), "callback");
    o.callback = [cb, interrupt, &s](const FrozenTrial& t) {
      py::gil_scoped_acquire gil;
      try {
        cb.get()(FrozenToDict(t));
      } catch (py::error_already_set& e) {
        s.Stop();
        Keep(interrupt, e);
      }
    };
  }
  auto running = std::make_shared<InObjective>();
  MultiObjective fn = WrapObjective(PyCallable(std::move(objective), "objective"), &s, interrupt,
                                    running, PyCallable(std::move(catch_), "catch"));
  Status status;
  if (o.n_parallel == 1) {
    // The objective runs on this (main) thread, where Python raises KeyboardInterrupt itself.
    py::gil_scoped_release release;
    status = s.OptimizeMultiObjective(fn, o);
  } else {
    status = OptimizeInterruptibly(s, fn, o, interrupt, running);
  }
  if (static_cast<bool>(*interrupt) && !interrupt->is_none()) {
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(interrupt->ptr())), interrupt->ptr());
    throw py::error_already_set();
  }
  ThrowIfError(status);
}

// Runs `optimize` (a study of command or pipeline trials, which run no Python) off this thread
// and waits in 100 ms slices, running Python's signal handlers between: Ctrl-C stops asking for
// trials and raises `cancel`, which stops the running commands or cancels the running pipeline
// runs (their trials are recorded failed, "interrupted"); KeyboardInterrupt is raised once every
// worker is done.
void OptimizeStoppingOnCtrlC(Study& s, std::atomic<bool>& cancel,
                             const std::function<Status()>& optimize) {
  std::promise<Status> result;
  std::future<Status> done = result.get_future();
  std::thread workers([&] { result.set_value(optimize()); });
  std::unique_ptr<py::error_already_set> interrupted;
  while (true) {
    std::future_status ready;
    {
      py::gil_scoped_release release;
      ready = done.wait_for(std::chrono::milliseconds(100));
    }
    if (ready == std::future_status::ready) break;
    if (interrupted || PyErr_CheckSignals() == 0) continue;
    interrupted = std::make_unique<py::error_already_set>();
    s.Stop();
    cancel = true;
  }
  {
    py::gil_scoped_release release;
    workers.join();
  }
  Status status = done.get();
  if (interrupted) throw py::error_already_set(*interrupted);
  ThrowIfError(status);
}

void OptimizeCommand(Study& s, const std::string& command, const std::string& metric,
                     const py::list& search_space, const std::string& format,
                     const std::string& metrics_file, std::optional<double> trial_timeout,
                     const std::string& working_dir, const std::map<std::string, std::string>& env,
                     const std::vector<std::string>& metrics, const std::string& log_dir,
                     int64_t max_log_bytes, OptimizeArgs args) {
  CommandObjectiveOptions c;
  c.log_dir = log_dir;
  c.max_log_bytes = max_log_bytes;
  c.command_template = command;
  c.metric = metric;
  c.format = Unwrap(ParseMetricsFormat(format));
  c.metrics_file = metrics_file;
  c.timeout = SecondsOrInfinite(trial_timeout);
  c.working_dir = working_dir;
  c.env = env;
  std::atomic<bool> cancel{false};
  c.cancel_flag = &cancel;
  SearchSpace space = ToSearchSpace(search_space);
  OptimizeOptions o = std::move(args).ToOptions();
  // A command that fails (exit code, timeout, no metric) fails its trial and the study goes on,
  // as in Katib; max_failed_trials bounds how many. Bad templates fail at construction.
  o.catch_error = CatchAllErrors();
  if (metrics.empty()) {
    Objective objective = Unwrap(MakeCommandObjective(std::move(c), std::move(space)));
    OptimizeStoppingOnCtrlC(s, cancel, [&] { return s.Optimize(objective, o); });
  } else {
    MultiObjective objective =
        Unwrap(MakeCommandMultiObjective(std::move(c), std::move(space), metrics));
    OptimizeStoppingOnCtrlC(s, cancel, [&] { return s.OptimizeMultiObjective(objective, o); });
  }
}

void OptimizePipeline(Study& s, pipeline::Client& client, const pipeline::Pipeline& pipe,
                      const std::string& metric, const py::list& search_space,
                      const std::string& arguments_json, const std::string& experiment,
                      std::optional<double> trial_timeout, int max_parallelism, bool enable_caching,
                      OptimizeArgs args) {
  PipelineObjectiveOptions p;
  p.metric = metric;
  p.arguments = ParseJsonArg(arguments_json, "arguments");
  p.run.experiment = experiment;
  p.run.max_parallelism = max_parallelism;
  p.run.enable_caching = enable_caching;
  p.timeout = SecondsOrInfinite(trial_timeout);
  std::atomic<bool> cancel{false};
  p.cancel_flag = &cancel;
  Objective objective =
      Unwrap(MakePipelineObjective(&client, pipe, ToSearchSpace(search_space), std::move(p)));
  OptimizeOptions o = std::move(args).ToOptions();
  o.catch_error = CatchAllErrors();  // a failed run fails its trial, as a failed command does
  OptimizeStoppingOnCtrlC(s, cancel, [&] { return s.Optimize(objective, o); });
}

// CommandObjective's checks (placeholders that name no parameter, an empty template, a bad
// timeout) at construction, as documented, not at the first optimize.
void CheckCommand(const std::string& command, const std::string& metric,
                  const py::list& search_space, const std::string& metrics_file,
                  std::optional<double> trial_timeout) {
  CommandObjectiveOptions c;
  c.command_template = command;
  c.metric = metric;
  c.metrics_file = metrics_file;
  c.timeout = SecondsOrInfinite(trial_timeout);
  Unwrap(MakeCommandObjective(std::move(c), ToSearchSpace(search_space)));
}

void BindOptimize(py::module_& m) {
  m.def("check_command", &CheckCommand, py::arg("command"), py::arg("metric"),
        py::arg("search_space"), py::arg("metrics_file") = "",
        py::arg("trial_timeout") = py::none());
  auto cls = py::reinterpret_borrow<py::class_<Study>>(m.attr("Study"));
  std::apply(
      [&](auto... args) {
        cls.def(
            "optimize",
            [](Study& s, py::function objective, std::optional<py::function> callback,
               py::tuple catch_, int64_t n_trials, std::optional<double> timeout, int n_parallel,
               int64_t max_trials, int64_t max_failed_trials, std::optional<double> goal,
               int gpus_per_trial, std::optional<std::vector<int>> gpus, int cpus_per_trial,
               int cpus) {
              Optimize(s, std::move(objective), std::move(callback), std::move(catch_),
                       {n_trials, timeout, n_parallel, max_trials, max_failed_trials, goal,
                        gpus_per_trial, std::move(gpus), cpus_per_trial, cpus});
            },
            args...);
      },
      WithOptimizeArgs(py::arg("objective"), py::arg("callback") = py::none(),
                       py::arg("catch") = py::tuple()));
  std::apply(
      [&](auto... args) {
        cls.def(
            "optimize_command",
            [](Study& s, const std::string& command, const std::string& metric,
               const py::list& search_space, const std::string& format,
               const std::string& metrics_file, std::optional<double> trial_timeout,
               const std::string& working_dir, const std::map<std::string, std::string>& env,
               const std::vector<std::string>& metrics, const std::string& log_dir,
               int64_t max_log_bytes, int64_t n_trials, std::optional<double> timeout,
               int n_parallel, int64_t max_trials, int64_t max_failed_trials,
               std::optional<double> goal, int gpus_per_trial, std::optional<std::vector<int>> gpus,
               int cpus_per_trial, int cpus) {
              OptimizeCommand(s, command, metric, search_space, format, metrics_file, trial_timeout,
                              working_dir, env, metrics, log_dir, max_log_bytes,
                              {n_trials, timeout, n_parallel, max_trials, max_failed_trials, goal,
                               gpus_per_trial, std::move(gpus), cpus_per_trial, cpus});
            },
            args...);
      },
      WithOptimizeArgs(py::arg("command"), py::arg("metric"), py::arg("search_space"),
                       py::arg("format") = "text", py::arg("metrics_file") = "",
                       py::arg("trial_timeout") = py::none(), py::arg("working_dir") = "",
                       py::arg("env") = std::map<std::string, std::string>(),
                       py::arg("metrics") = std::vector<std::string>(), py::arg("log_dir") = "",
                       py::arg("max_log_bytes") = CommandObjectiveOptions().max_log_bytes));
  std::apply(
      [&](auto... args) {
        cls.def(
            "optimize_pipeline",
            [](Study& s, pipeline::Client& client, const pipeline::Pipeline& pipe,
               const std::string& metric, const py::list& search_space,
               const std::string& arguments_json, const std::string& experiment,
               std::optional<double> trial_timeout, int max_parallelism, bool enable_caching,
               int64_t n_trials, std::optional<double> timeout, int n_parallel, int64_t max_trials,
               int64_t max_failed_trials, std::optional<double> goal, int gpus_per_trial,
               std::optional<std::vector<int>> gpus, int cpus_per_trial, int cpus) {
              OptimizePipeline(s, client, pipe, metric, search_space, arguments_json, experiment,
                               trial_timeout, max_parallelism, enable_caching,
                               {n_trials, timeout, n_parallel, max_trials, max_failed_trials, goal,
                                gpus_per_trial, std::move(gpus), cpus_per_trial, cpus});
            },
            args...);
      },
      WithOptimizeArgs(py::arg("client"), py::arg("pipeline"), py::arg("metric"),
                       py::arg("search_space"), py::arg("arguments_json"), py::arg("experiment"),
                       py::arg("trial_timeout"), py::arg("max_parallelism"),
                       py::arg("enable_caching")));
}

BinderRegistration reg("hpo", "", &BindOptimize, kOptimize);

}  // namespace
}  // namespace mlcore::python::hpo_bindings
