// mlcore._mlcore.ui: the dashboard (ui/dashboard.h): its JSON calls, and a server that serves it.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "mlcore/serve/server.h"
#include "mlcore/ui/dashboard.h"

namespace mlcore::python {
namespace {

using ui::Dashboard;

std::shared_ptr<Dashboard> Open(const std::string& home, const std::string& token,
                                const std::vector<std::string>& log_dirs,
                                const std::string& static_dir) {
  ui::DashboardOptions options;
  options.home = home;
  options.token = token;
  options.log_dirs = log_dirs;
  options.static_dir = static_dir;
  return Released([&] { return Dashboard::Open(options); });
}

// A serve::Server with no models whose HTTP front end serves `dashboard` at /ui.
std::unique_ptr<serve::Server> MakeServer(std::shared_ptr<Dashboard> dashboard,
                                          const std::string& host, int port, int threads) {
  serve::ServerOptions options;
  options.host = host;
  options.http_port = port;
  options.http_threads = threads;
  options.http_mounts.push_back(ui::MountDashboard(std::move(dashboard)));
  return std::make_unique<serve::Server>(std::move(options));
}

void BindUi(py::module_& m) {
  py::class_<Dashboard, std::shared_ptr<Dashboard>>(m, "Dashboard")
      .def(py::init(&Open), py::arg("home"), py::arg("token"), py::arg("log_dirs"),
           py::arg("static_dir"))
      .def_property_readonly("home", &Dashboard::home)
      .def("runs",
           [](Dashboard& d, const std::string& state, const std::string& experiment,
              const std::string& pipeline, double min_duration_s, double max_duration_s,
              int64_t offset, int64_t limit) {
             return Released([&] {
               return d.Runs(
                   {state, experiment, pipeline, min_duration_s, max_duration_s, offset, limit});
             });
           })
      .def("run",
           [](Dashboard& d, const std::string& id) { return Released([&] { return d.Run(id); }); })
      .def("run_dag", [](Dashboard& d,
                         const std::string& id) { return Released([&] { return d.RunDag(id); }); })
      .def("task_log",
           [](Dashboard& d, const std::string& run, const std::string& task,
              const std::string& stream) {
             return Released([&] { return d.TaskLog(run, task, stream); });
           })
      .def("artifacts",
           [](Dashboard& d, int64_t offset, int64_t limit) {
             return Released([&] { return d.Artifacts(offset, limit); });
           })
      .def("artifact",
           [](Dashboard& d, int64_t id) { return Released([&] { return d.Artifact(id); }); })
      .def("artifact_bytes",
           [](Dashboard& d, int64_t id, const std::string& path) {
             std::string name;
             std::string bytes = Released([&] { return d.ArtifactBytes(id, path, &name); });
             return py::make_tuple(py::bytes(bytes), name);
           })
      .def("schedules", [](Dashboard& d) { return Released([&] { return d.Schedules(); }); })
      .def("studies", [](Dashboard& d) { return Released([&] { return d.Studies(); }); })
      .def("trials",
           [](Dashboard& d, const std::string& study, const std::string& state,
              const std::string& sort, bool descending, int64_t offset, int64_t limit) {
             return Released([&] {
               return d.Trials(study, {state, sort, descending, offset, limit});
             });
           })
      .def("study_plots",
           [](Dashboard& d, const std::string& study) {
             return Released([&] { return d.StudyPlots(study); });
           })
      .def("trial", [](Dashboard& d, const std::string& study,
                       int64_t number) { return Released([&] { return d.Trial(study, number); }); })
      .def("trial_log",
           [](Dashboard& d, const std::string& study, int64_t number, const std::string& stream,
              int64_t max_bytes) {
             return Released([&] { return d.TrialLog(study, number, stream, max_bytes); });
           })
      .def("training_runs", [](Dashboard& d) { return Released([&] { return d.TrainingRuns(); }); })
      .def("training_curves",
           [](Dashboard& d, const std::string& name, int64_t after) {
             return Released([&] { return d.TrainingCurves(name, after); });
           })
      .def("models", [](Dashboard& d) { return Released([&] { return d.Models(); }); })
      .def("model", [](Dashboard& d,
                       const std::string& name) { return Released([&] { return d.Model(name); }); })
      .def("promote_alias",
           [](Dashboard& d, const std::string& token, const std::string& model,
              const std::string& alias, int64_t version) {
             py::gil_scoped_release release;
             ThrowIfError(d.PromoteAlias(token, model, alias, version));
           })
      .def("servers", [](Dashboard& d) { return Released([&] { return d.Servers(); }); })
      .def("resources", [](Dashboard& d) { return Released([&] { return d.Resources(); }); });
  m.def("make_server", &MakeServer, py::arg("dashboard"), py::arg("host"), py::arg("port"),
        py::arg("threads"));
}

BinderRegistration registration("ui", "The dashboard: runs, studies, training, models, servers",
                                &BindUi);

}  // namespace
}  // namespace mlcore::python
