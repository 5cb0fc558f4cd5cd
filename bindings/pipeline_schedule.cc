// mlcore._mlcore.pipeline_schedule: cron expressions, schedule records and the recurring-run
// loop. Times cross as float Unix seconds, arguments as JSON text; the Python launcher and clock
// are wrapped into C++ callables that take the GIL, and blocking calls release it.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "mlcore/pipeline/client.h"
#include "mlcore/pipeline/cron.h"
#include "mlcore/pipeline/schedule.h"

namespace mlcore::python {
namespace {

using namespace mlcore::pipeline;

absl::Time NowOr(std::optional<double> s) { return s ? FromUnixSeconds(*s) : absl::Now(); }

py::dict ScheduleDict(const Schedule& s) {
  py::dict d;
  d["id"] = s.id;
  d["namespace"] = s.ns;
  d["name"] = s.options.name;
  d["kind"] = s.options.kind;
  d["pipeline"] = s.options.pipeline;
  d["arguments"] = JsonToPy(s.options.arguments);
  d["cron"] = s.options.cron;
  d["time_zone"] = s.options.time_zone;
  d["experiment"] = s.options.experiment;
  d["max_concurrency"] = s.options.max_concurrency;
  d["catchup"] = CatchUpName(s.options.catchup);
  d["max_catchup"] = s.options.max_catchup;
  d["enabled"] = s.enabled;
  d["watermark"] = UnixSeconds(s.watermark);
  d["last_fire"] = TimeOrNone(s.last_fire);
  d["created_at"] = UnixSeconds(s.created_at);
  d["updated_at"] = UnixSeconds(s.updated_at);
  return d;
}

py::dict FireDict(const ScheduleFire& f) {
  py::dict d;
  d["schedule_id"] = f.schedule_id;
  d["scheduled_time"] = UnixSeconds(f.scheduled_time);
  d["state"] = f.state;
  d["run_id"] = f.run_id;
  d["error"] = f.error;
  d["fired_at"] = UnixSeconds(f.fired_at);
  d["attempts"] = f.attempts;
  d["retry_at"] = TimeOrNone(f.retry_at);
  d["lease_owner"] = f.lease_owner;
  d["lease_until"] = TimeOrNone(f.lease_until);
  return d;
}

py::list FireList(const std::vector<ScheduleFire>& fires) {
  py::list out;
  for (const auto& f : fires) out.append(FireDict(f));
  return out;
}

// A Python callable as a Launcher: fn(schedule: dict, scheduled_time: float) -> run id. A Python
// exception fails that one fire, with the exception's text as the error.
Launcher WrapLauncher(py::function fn) {
  PyCallable holder(std::move(fn), "launcher");
  return [holder](const Schedule& s, absl::Time t) -> StatusOr<std::string> {
    py::gil_scoped_acquire gil;
    try {
      return py::cast<std::string>(holder.get()(ScheduleDict(s), UnixSeconds(t)));
    } catch (py::error_already_set& e) {
      return absl::InternalError(e.what());
    } catch (const py::cast_error& e) {
      return absl::InternalError(std::string("the launcher did not return a run id: ") + e.what());
    }
  };
}

void BindCron(py::module_& m) {
  m.def(
      "cron_next_times",
      [](const std::string& expression, const std::string& time_zone, double after, int n) {
        CronSchedule cron = Unwrap(CronSchedule::Parse(expression, time_zone));
        std::vector<double> out;
        for (absl::Time t : cron.NextTimes(FromUnixSeconds(after), n))
          out.push_back(UnixSeconds(t));
        return out;
      },
      py::arg("expression"), py::arg("time_zone") = "UTC", py::arg("after"), py::arg("n") = 1,
      "The next n times (Unix seconds) the cron expression matches after `after`; ValueError "
      "naming the field and token for a bad expression, KeyError for an unknown time zone.");
}

// The defaults of ScheduleOptions and SchedulerOptions as Python sees them (what the bound
// functions, mlcore.schedule, make_scheduler and the CLI default to): one source, the C++ structs.
py::dict ScheduleDefaults() {
  const ScheduleOptions d;
  py::dict out;
  out["time_zone"] = d.time_zone;
  out["experiment"] = d.experiment;
  out["max_concurrency"] = d.max_concurrency;
  out["catchup"] = CatchUpName(d.catchup);
  out["max_catchup"] = d.max_catchup;
  return out;
}

py::dict SchedulerDefaults() {
  const SchedulerOptions d;
  py::dict out;
  out["poll"] = absl::ToDoubleSeconds(d.poll);
  out["misfire_grace"] = absl::ToDoubleSeconds(d.misfire_grace);
  out["start_retries"] = d.start_retry.max_retries;
  out["start_backoff"] = absl::ToDoubleSeconds(d.start_retry.backoff);
  out["start_backoff_factor"] = d.start_retry.backoff_factor;
  out["start_max_backoff"] = absl::ToDoubleSeconds(d.start_retry.max_backoff);
  out["keep_fires"] = d.keep_fires;
  out["lease"] = absl::ToDoubleSeconds(d.lease);
  return out;
}

void BindSchedules(py::module_& m) {
  const ScheduleOptions d;
  m.def("schedule_defaults", &ScheduleDefaults, "ScheduleOptions' defaults by argument name.");
  py::class_<Schedules>(m, "Schedules", "The schedules of one namespace (the Client's).")
      .def(py::init([](Client& client) { return Unwrap(Schedules::Open(&client)); }),
           py::arg("client"), py::keep_alive<1, 2>())
      .def(
          "create",
          [](Schedules& s, std::string kind, std::string pipeline, const std::string& arguments,
             std::string cron, std::string time_zone, std::string experiment, int max_concurrency,
             const std::string& catchup, int max_catchup, std::string name,
             std::optional<double> start_after, std::optional<double> now) {
            ScheduleOptions o;
            o.kind = std::move(kind);
            o.pipeline = std::move(pipeline);
            o.arguments = ParseJsonArg(arguments, "arguments");
            o.cron = std::move(cron);
            o.time_zone = std::move(time_zone);
            o.experiment = std::move(experiment);
            o.max_concurrency = max_concurrency;
            o.catchup = Unwrap(ParseCatchUp(catchup));
            o.max_catchup = max_catchup;
            o.name = std::move(name);
            if (start_after) o.start_after = FromUnixSeconds(*start_after);
            StatusOr<Schedule> r;
            {
              py::gil_scoped_release release;
              r = s.Create(o, NowOr(now));
            }
            return ScheduleDict(Unwrap(std::move(r)));
          },
          py::arg("kind"), py::arg("pipeline"), py::arg("arguments") = "{}", py::arg("cron"),
          py::arg("time_zone") = d.time_zone, py::arg("experiment") = d.experiment,
          py::arg("max_concurrency") = d.max_concurrency,
          py::arg("catchup") = std::string(CatchUpName(d.catchup)),
          py::arg("max_catchup") = d.max_catchup, py::arg("name") = d.name,
          py::arg("start_after") = py::none(), py::arg("now") = py::none())
      .def(
          "get",
          [](Schedules& s, const std::string& id) { return ScheduleDict(Unwrap(s.Get(id))); },
          py::arg("id_or_name"))
      .def("list",
           [](Schedules& s) {
             py::list out;
             for (const Schedule& x : Unwrap(s.List())) out.append(ScheduleDict(x));
             return out;
           })
      .def(
          "pause",
          [](Schedules& s, const std::string& id, std::optional<double> now) {
            ThrowIfError(s.Pause(id, NowOr(now)));
          },
          py::arg("id_or_name"), py::arg("now") = py::none())
      .def(
          "resume",
          [](Schedules& s, const std::string& id, std::optional<double> now) {
            ThrowIfError(s.Resume(id, NowOr(now)));
          },
          py::arg("id_or_name"), py::arg("now") = py::none())
      .def(
          "delete", [](Schedules& s, const std::string& id) { ThrowIfError(s.Delete(id)); },
          py::arg("id_or_name"))
      .def(
          "fires",
          [](Schedules& s, const std::string& id, int limit) {
            return FireList(Unwrap(s.Fires(id, limit)));
          },
          py::arg("id_or_name"), py::arg("limit") = 1000)
      .def(
          "next_times",
          [](Schedules& s, const std::string& id, int n, std::optional<double> now) {
            std::vector<double> out;
            for (absl::Time t : Unwrap(s.NextTimes(id, n, NowOr(now))))
              out.push_back(UnixSeconds(t));
            return out;
          },
          py::arg("id_or_name"), py::arg("n") = 5, py::arg("now") = py::none());
}

void BindScheduler(py::module_& m) {
  const SchedulerOptions d;
  m.def("scheduler_defaults", &SchedulerDefaults, "SchedulerOptions' defaults by argument name.");
  py::class_<Scheduler>(m, "Scheduler", "Fires due schedules of one namespace.")
      .def(py::init([](Client& client, std::optional<py::function> python_launcher, bool registered,
                       double poll, double misfire_grace, std::optional<py::function> now,
                       int start_retries, double start_backoff, double start_backoff_factor,
                       double start_max_backoff, int keep_fires, double lease) {
             SchedulerOptions o;
             o.poll = absl::Seconds(poll);
             o.misfire_grace = absl::Seconds(misfire_grace);
             o.start_retry.max_retries = start_retries;
             o.start_retry.backoff = absl::Seconds(start_backoff);
             o.start_retry.backoff_factor = start_backoff_factor;
             o.start_retry.max_backoff = absl::Seconds(start_max_backoff);
             o.keep_fires = keep_fires;
             o.lease = absl::Seconds(lease);
             if (python_launcher)
               o.launchers[pipeline_kind::kPython] = WrapLauncher(*python_launcher);
             if (registered) {
               o.launchers[pipeline_kind::kRegistered] = RegisteredPipelineLauncher(&client);
             }
             if (now) {
               PyCallable clock(*now, "clock");
               o.now = [clock]() {
                 py::gil_scoped_acquire gil;
                 return FromUnixSeconds(py::cast<double>(clock.get()()));
               };
             }
             return Unwrap(Scheduler::Create(&client, std::move(o)));
           }),
           py::arg("client"), py::arg("python_launcher") = py::none(), py::arg("registered") = true,
           py::arg("poll") = absl::ToDoubleSeconds(d.poll),
           py::arg("misfire_grace") = absl::ToDoubleSeconds(d.misfire_grace),
           py::arg("now") = py::none(), py::arg("start_retries") = d.start_retry.max_retries,
           py::arg("start_backoff") = absl::ToDoubleSeconds(d.start_retry.backoff),
           py::arg("start_backoff_factor") = d.start_retry.backoff_factor,
           py::arg("start_max_backoff") = absl::ToDoubleSeconds(d.start_retry.max_backoff),
           py::arg("keep_fires") = d.keep_fires, py::arg("lease") = absl::ToDoubleSeconds(d.lease),
           py::keep_alive<1, 2>())
      .def("tick",
           [](Scheduler& s) {
             StatusOr<std::vector<ScheduleFire>> r;
             {
               py::gil_scoped_release release;
               r = s.Tick();
             }
             return FireList(Unwrap(std::move(r)));
           })
      .def("run",
           [](Scheduler& s) {
             Status st;
             {
               py::gil_scoped_release release;
               st = s.Run();
             }
             ThrowIfError(st);
           })
      .def("stop", [](Scheduler& s) { s.Stop(); })
      .def("next_due", [](Scheduler& s) {
        StatusOr<absl::Time> r;
        {
          py::gil_scoped_release release;
          r = s.NextDue();
        }
        absl::Time t = Unwrap(std::move(r));
        return t == absl::InfiniteFuture() ? py::object(py::none())
                                           : py::object(py::float_(UnixSeconds(t)));
      });
}

void BindSchedule(py::module_& m) {
  BindCron(m);
  BindSchedules(m);
  BindScheduler(m);
}

static BinderRegistration reg("pipeline_schedule",
                              "Recurring runs: cron expressions, schedules, the scheduler loop",
                              &BindSchedule);

}  // namespace
}  // namespace mlcore::python
