// mlcore._mlcore.hpo.Study (create, load, ask, tell, records) and list_studies. Everything that
// touches the store runs without the GIL. Running trials (Study.optimize*) is in hpo_optimize.cc.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "hpo_convert.h"
#include "mlcore/hpo/study.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

// The options Study::Create and Study::Load share.
StudyOptions OpenOptions(const std::string& name, std::shared_ptr<Sampler> sampler,
                         std::shared_ptr<Pruner> pruner, const std::string& storage,
                         bool requeue_stale_trials, std::optional<double> busy_timeout) {
  StudyOptions o;
  o.name = name;
  o.sampler_object = std::move(sampler);
  o.pruner = "none";
  o.pruner_object = std::move(pruner);
  o.storage = storage;
  if (busy_timeout) o.busy_timeout = absl::Seconds(*busy_timeout);
  o.requeue_stale_trials = requeue_stale_trials;
  return o;
}

std::unique_ptr<Study> CreateStudy(const std::string& name, const std::string& direction,
                                   std::shared_ptr<Sampler> sampler, std::shared_ptr<Pruner> pruner,
                                   const std::string& storage, bool load_if_exists,
                                   bool requeue_stale_trials, const py::list& search_space,
                                   const std::vector<std::string>& directions,
                                   std::optional<double> busy_timeout) {
  StudyOptions o = OpenOptions(name, std::move(sampler), std::move(pruner), storage,
                               requeue_stale_trials, busy_timeout);
  o.direction = Unwrap(ParseStudyDirection(direction));
  for (const std::string& d : directions) o.directions.push_back(Unwrap(ParseStudyDirection(d)));
  o.load_if_exists = load_if_exists;
  if (!search_space.empty()) o.search_space = ToSearchSpace(search_space);
  return Released([&] { return Study::Create(std::move(o)); });
}

void Tell(Study& s, const py::object& trial, const py::object& value, const std::string& state,
          const std::string& error) {
  TrialState st = Unwrap(ParseTrialState(state));
  std::vector<double> values;
  if (!value.is_none()) values = Unwrap(ToValues(value));
  if (py::isinstance<Trial>(trial)) {
    Trial& t = trial.cast<Trial&>();
    Released([&] { return s.TellValues(t, st, values, error); });
  } else {
    int64_t number = trial.cast<int64_t>();
    Released([&] { return s.TellValues(number, st, values, error); });
  }
}

py::dict AddTrial(Study& s, const py::dict& params, const py::dict& distributions,
                  const py::object& value, const std::string& state,
                  const std::map<int64_t, double>& intermediate_values, const std::string& error) {
  FrozenTrial t;
  t.params = DictToParams(params);
  for (auto item : distributions) {
    t.distributions.insert_or_assign(py::str(item.first), item.second.cast<Distribution>());
  }
  t.state = Unwrap(ParseTrialState(state));
  if (!value.is_none()) t.values = Unwrap(ToValues(value));
  t.intermediate_values = intermediate_values;
  t.error = error;
  FrozenTrial added = Released([&] { return s.AddTrial(t); });
  return FrozenToDict(added);
}

void BindStudyOpen(py::class_<Study>& cls) {
  cls.def_static("create", &CreateStudy, py::arg("name"), py::arg("direction"), py::arg("sampler"),
                 py::arg("pruner"), py::arg("storage"), py::arg("load_if_exists"),
                 py::arg("requeue_stale_trials"), py::arg("search_space"),
                 py::arg("directions") = std::vector<std::string>(),
                 py::arg("busy_timeout") = py::none())
      .def_static(
          "load",
          [](const std::string& name, std::shared_ptr<Sampler> sampler,
             std::shared_ptr<Pruner> pruner, const std::string& storage, bool requeue_stale_trials,
             std::optional<double> busy_timeout, bool recover_stale_trials) {
            StudyOptions o = OpenOptions(name, std::move(sampler), std::move(pruner), storage,
                                         requeue_stale_trials, busy_timeout);
            o.recover_stale_trials = recover_stale_trials;
            return Released([&] { return Study::Load(std::move(o)); });
          },
          py::arg("name"), py::arg("sampler"), py::arg("pruner"), py::arg("storage"),
          py::arg("requeue_stale_trials"), py::arg("busy_timeout") = py::none(),
          py::arg("recover_stale_trials") = StudyOptions().recover_stale_trials);
}

void BindStudyTrials(py::class_<Study>& cls) {
  cls.def(
         "ask", [](Study& s) { return Released([&] { return s.Ask(); }); },
         py::keep_alive<0, 1>())  // a Trial points at its Study
      .def("tell", &Tell, py::arg("trial"), py::arg("value") = py::none(),
           py::arg("state") = "complete", py::arg("error") = "")
      .def("stop", &Study::Stop)
      .def("enqueue",
           [](Study& s, const py::dict& params) {
             auto p = DictToParams(params);
             Released([&] { return s.Enqueue(p); });
           })
      .def("add_trial", &AddTrial, py::arg("params"), py::arg("distributions"),
           py::arg("value") = py::none(), py::arg("state") = "complete",
           py::arg("intermediate_values") = std::map<int64_t, double>(), py::arg("error") = "")
      .def("_trials", [](Study& s) { return TrialsToList(Released([&] { return s.Trials(); })); })
      .def("_best_trials",
           [](Study& s) { return TrialsToList(Released([&] { return s.BestTrials(); })); })
      .def("_best_trial",
           [](Study& s) { return FrozenToDict(Released([&] { return s.BestTrial(); })); })
      .def(
          "set_user_attr",
          [](Study& s, const std::string& key, const py::object& value) {
            std::string text = UserAttrJson(key, value);
            Released([&] { return s.SetUserAttr(key, text); });
          },
          py::arg("key"), py::arg("value"))
      .def_property_readonly(
          "user_attrs",
          [](Study& s) { return AttrsToDict(Released([&] { return s.UserAttrs(); })); })
      .def("_system_attrs", [](Study& s) {
        return Released([&] { return s.storage().GetStudySystemAttrs(s.record().id); });
      });
}

py::list ListStudies(const std::string& storage, std::optional<double> busy_timeout) {
  std::shared_ptr<Storage> st = Released([&] {
    return busy_timeout ? OpenStorage(storage, absl::Seconds(*busy_timeout)) : OpenStorage(storage);
  });
  std::vector<StudySummary> studies = Released([&] { return SummarizeStudies(*st); });
  py::list out;
  for (const StudySummary& s : studies) {
    py::dict d = StudyRecordToDict(s.study);
    d["n_trials"] = s.trials;
    d["n_complete"] = s.complete;
    d["n_pruned"] = s.pruned;
    d["n_failed"] = s.failed;
    d["n_running"] = s.running;
    d["best_value"] = s.best.has_value() ? py::object(py::float_(*s.best)) : py::none();
    out.append(d);
  }
  return out;
}

void BindStudy(py::module_& m) {
  py::class_<Study> cls(m, "Study", "A search for the best parameters of one objective.");
  BindStudyOpen(cls);
  cls.def_property_readonly("name", &Study::name)
      .def_property_readonly("direction",
                             [](const Study& s) { return StudyDirectionName(s.direction()); })
      .def_property_readonly("directions",
                             [](const Study& s) { return DirectionNames(s.directions()); })
      .def_property_readonly("storage", [](Study& s) { return s.storage().description(); });
  BindStudyTrials(cls);
  m.def("list_studies", &ListStudies, py::arg("storage") = "sqlite",
        py::arg("busy_timeout") = py::none());
  m.def("trial_seed", &TrialSeed, py::arg("seed"), py::arg("trial_number"), py::arg("salt") = "");
}

BinderRegistration reg("hpo", "", &BindStudy, kStudies);

}  // namespace
}  // namespace mlcore::python::hpo_bindings
