// mlcore._mlcore.hpo: studies, trials, samplers, pruners and distributions. Converts parameter
// values and options, releases the GIL around everything that samples, touches the store or runs
// trials, and re-acquires it only to call the Python objective and callbacks from C++ threads.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "mlcore/hpo/command_objective.h"
#include "mlcore/hpo/katib.h"
#include "mlcore/hpo/nsga2_sampler.h"
#include "mlcore/hpo/pipeline_objective.h"
#include "mlcore/hpo/study.h"

namespace mlcore::python {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

PyObject* g_trial_pruned = nullptr;  // mlcore._mlcore.hpo.TrialPruned

ParamValue ToParamValue(const py::handle& o, const std::string& what) {
  if (py::isinstance<py::bool_>(o)) return o.cast<bool>();
  if (py::isinstance<py::int_>(o)) return o.cast<int64_t>();
  if (py::isinstance<py::float_>(o)) return o.cast<double>();
  if (py::isinstance<py::str>(o)) return o.cast<std::string>();
  // numpy scalars and other numbers
  if (py::hasattr(o, "__index__"))
    return py::int_(py::reinterpret_borrow<py::object>(o)).cast<int64_t>();
  if (py::hasattr(o, "__float__"))
    return py::float_(py::reinterpret_borrow<py::object>(o)).cast<double>();
  throw py::type_error(what + " must be bool, int, float or str, not " +
                       std::string(py::str(py::type::of(o).attr("__name__"))));
}

// The Python side hands a declared space over as [(name, distribution, parent or None,
// [parent values that enable it]), ...], in declaration order.
SearchSpace ToSearchSpace(const py::list& search_space) {
  SearchSpace space;
  for (py::handle item : search_space) {
    auto entry = item.cast<py::tuple>();
    std::optional<Condition> condition;
    if (!entry[2].is_none()) {
      Condition cond;
      cond.parent = entry[2].cast<std::string>();
      for (py::handle v : entry[3]) cond.values.push_back(ToParamValue(v, "a condition value"));
      condition = std::move(cond);
    }
    ThrowIfError(space.Add(entry[0].cast<std::string>(), entry[1].cast<Distribution>(),
                           std::move(condition)));
  }
  return space;
}

py::object FromParamValue(const ParamValue& v) {
  struct Converter {
    py::object operator()(bool x) const { return py::bool_(x); }
    py::object operator()(int64_t x) const { return py::int_(x); }
    py::object operator()(double x) const { return py::float_(x); }
    py::object operator()(const std::string& x) const { return py::str(x); }
  };
  return std::visit(Converter{}, v);
}

py::dict ParamsToDict(const std::map<std::string, ParamValue>& params) {
  py::dict d;
  for (const auto& [k, v] : params) d[py::str(k)] = FromParamValue(v);
  return d;
}

std::map<std::string, ParamValue> DictToParams(const py::dict& d) {
  std::map<std::string, ParamValue> out;
  for (auto item : d) {
    std::string name = py::str(item.first);
    out[name] = ToParamValue(item.second, "parameter '" + name + "'");
  }
  return out;
}

SamplerOptions MakeSamplerOptions(
    std::optional<uint64_t> seed, int n_startup_trials, int n_ei_candidates, bool multivariate,
    bool constant_liar, double prior_weight, double gamma,
    std::optional<std::vector<std::pair<std::string, Distribution>>> grid) {
  SamplerOptions o;
  o.seed = seed;
  o.n_startup_trials = n_startup_trials;
  o.n_ei_candidates = n_ei_candidates;
  o.multivariate = multivariate;
  o.constant_liar = constant_liar;
  o.prior_weight = prior_weight;
  o.gamma = gamma;
  if (grid.has_value()) {
    SearchSpace space;
    for (auto& [name, d] : *grid) ThrowIfError(space.Add(name, d));
    o.grid = std::move(space);
  }
  return o;
}

// The values an objective returned: a number, or a sequence of numbers (multi-objective).
StatusOr<std::vector<double>> ToValues(const py::object& result) {
  if (result.is_none()) return absl::InvalidArgumentError("the objective returned None");
  auto type_name = [](const py::handle& o) {
    return std::string(py::str(py::type::of(o).attr("__name__")));
  };
  if (py::isinstance<py::sequence>(result) && !py::isinstance<py::str>(result)) {
    std::vector<double> values;
    for (py::handle v : result) {
      try {
        values.push_back(v.cast<double>());
      } catch (const py::cast_error&) {
        return absl::InvalidArgumentError("the objective returned a sequence holding " +
                                          type_name(v) + ", not numbers");
      }
    }
    return values;
  }
  try {
    return std::vector<double>{result.cast<double>()};
  } catch (const py::cast_error&) {
    return absl::InvalidArgumentError("the objective returned " + type_name(result) +
                                      ", not a number or a sequence of numbers");
  }
}

// The C++ objective that calls a Python callable; runs on C++ threads without the GIL.
MultiObjective WrapObjective(py::function fn, Study* study, std::shared_ptr<py::object> interrupt) {
  return [fn = std::move(fn), study, interrupt](Trial& trial) -> StatusOr<std::vector<double>> {
    py::gil_scoped_acquire gil;
    try {
      py::object result = fn(py::cast(&trial, py::return_value_policy::reference));
      return ToValues(result);
    } catch (py::error_already_set& e) {
      if (e.matches(g_trial_pruned)) return TrialPrunedError(e.what());
      if (e.matches(PyExc_KeyboardInterrupt) || e.matches(PyExc_SystemExit)) {
        study->Stop();
        if (!*interrupt || interrupt->is_none()) *interrupt = e.value();
        return absl::CancelledError("interrupted");
      }
      std::string type = py::str(e.type().attr("__name__"));
      return absl::UnknownError(type + ": " + std::string(py::str(e.value())));
    }
  };
}

py::dict FrozenToDict(const FrozenTrial& t);

// User attrs are stored as JSON text; Python sees the decoded values.
py::dict AttrsToDict(const std::map<std::string, std::string>& attrs) {
  py::dict out;
  for (const auto& [k, v] : attrs) out[py::str(k)] = JsonTextToPy(v);
  return out;
}

// The slots of OptimizeOptions::resources from Python's keyword arguments.
TrialResources MakeResources(int gpus_per_trial, std::optional<std::vector<int>> gpus,
                             int cpus_per_trial, int cpus) {
  TrialResources r;
  r.gpus_per_trial = gpus_per_trial;
  if (gpus.has_value()) {
    if (gpus->empty() && gpus_per_trial > 0) {
      throw py::value_error("gpus is an empty list but gpus_per_trial is " +
                            std::to_string(gpus_per_trial));
    }
    r.gpus = std::move(*gpus);
  }
  r.cpus_per_trial = cpus_per_trial;
  r.cpus = cpus;
  return r;
}

// Study::Optimize's options from the keyword arguments every optimize binding takes.
OptimizeOptions MakeOptimizeOptions(int64_t n_trials, std::optional<double> timeout, int n_parallel,
                                    int64_t max_trials, int64_t max_failed_trials,
                                    std::optional<double> goal, TrialResources resources) {
  OptimizeOptions o;
  o.n_trials = n_trials;
  o.timeout = SecondsOrInfinite(timeout);
  o.n_parallel = n_parallel;
  o.max_trials = max_trials;
  o.max_failed_trials = max_failed_trials;
  o.goal = goal;
  o.resources = std::move(resources);
  return o;
}

py::dict StudyRecordToDict(const StudyRecord& r) {
  py::dict d;
  d["name"] = r.name;
  d["direction"] = StudyDirectionName(r.direction);
  py::list directions;
  for (StudyDirection x : r.directions) directions.append(StudyDirectionName(x));
  d["directions"] = directions;
  d["created"] = TimeOrNone(r.created);
  return d;
}

py::list TrialsToList(const TrialList& trials) {
  py::list out;
  for (const auto& t : trials) out.append(FrozenToDict(*t));
  return out;
}

py::list DirectionNames(const std::vector<StudyDirection>& directions) {
  py::list out;
  for (StudyDirection d : directions) out.append(py::str(StudyDirectionName(d)));
  return out;
}

// A sampler written in Python. `fn(trials, directions, trial, name, distribution)` (a closure
// built by mlcore.hpo around the user's object) returns the parameter's value; it runs on the
// thread that suggests, which holds no GIL here, so the GIL is taken for the call.
class PythonSampler : public Sampler {
 public:
  PythonSampler(std::string name, py::object fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  StatusOr<double> SampleIndependent(const SamplerContext& context, const FrozenTrial& trial,
                                     const std::string& name, const Distribution& d) override {
    py::gil_scoped_acquire gil;
    try {
      py::object v = fn_.get()(TrialsToList(context.trials), DirectionNames(context.directions),
                               FrozenToDict(trial), name, d);
      StatusOr<double> internal = d.ToInternal(ToParamValue(v, "the sampled value"));
      if (!internal.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("sampler ", name_, " returned ",
                                                       std::string(py::repr(v)), " for '", name,
                                                       "': ", internal.status().message()));
      }
      return *internal;
    } catch (py::error_already_set& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampler ", name_, " failed on '", name, "': ", std::string(e.what())));
    } catch (const py::type_error& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampler ", name_, " on '", name, "': ", e.what()));
    }
  }

 private:
  std::string name_;
  PyCallable fn_;
};

// A pruner written in Python: `fn(trials, direction, trial)` returns whether to prune.
class PythonPruner : public Pruner {
 public:
  PythonPruner(std::string name, py::object fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  StatusOr<bool> Prune(const PrunerContext& context, const FrozenTrial& trial) override {
    py::gil_scoped_acquire gil;
    try {
      return py::bool_(fn_.get()(TrialsToList(context.trials),
                                 StudyDirectionName(context.direction), FrozenToDict(trial)))
          .cast<bool>();
    } catch (py::error_already_set& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("pruner ", name_, " failed: ", std::string(e.what())));
    }
  }

 private:
  std::string name_;
  PyCallable fn_;
};

py::dict FrozenToDict(const FrozenTrial& t) {
  py::dict d;
  d["number"] = t.number;
  d["state"] = TrialStateName(t.state);
  d["value"] = t.has_value ? py::object(py::float_(t.value)) : py::object(py::none());
  if (t.values.empty()) {
    d["values"] = py::none();
  } else {
    py::list values;
    for (double v : t.values) values.append(py::float_(v));
    d["values"] = values;
  }
  d["params"] = ParamsToDict(t.params);
  py::dict dists;
  for (const auto& [k, v] : t.distributions) dists[py::str(k)] = py::cast(v);
  d["distributions"] = dists;
  py::dict inter;
  for (const auto& [s, v] : t.intermediate_values) inter[py::int_(s)] = py::float_(v);
  d["intermediate_values"] = inter;
  d["error"] = t.error;
  d["user_attrs"] = AttrsToDict(t.user_attrs);
  d["started"] = TimeOrNone(t.started);
  d["finished"] = TimeOrNone(t.finished);
  return d;
}

void BindHpo(py::module_& m) {
  g_trial_pruned =
      PyErr_NewExceptionWithDoc("mlcore._mlcore.hpo.TrialPruned",
                                "Raise from an objective after trial.should_prune() returned True.",
                                PyExc_Exception, nullptr);
  m.attr("TrialPruned") = py::handle(g_trial_pruned);

  py::class_<Distribution>(m, "Distribution", "What values one hyperparameter may take.")
      .def_static(
          "float_",
          [](double low, double high, bool log, std::optional<double> step) {
            return Unwrap(Distribution::Float(low, high, log, step));
          },
          py::arg("low"), py::arg("high"), py::arg("log") = false, py::arg("step") = py::none())
      .def_static(
          "int_",
          [](int64_t low, int64_t high, bool log, int64_t step) {
            return Unwrap(Distribution::Int(low, high, log, step));
          },
          py::arg("low"), py::arg("high"), py::arg("log") = false, py::arg("step") = 1)
      .def_static("discrete",
                  [](std::vector<double> values) { return Unwrap(Distribution::Discrete(values)); })
      .def_static("categorical",
                  [](const py::sequence& choices) {
                    std::vector<ParamValue> c;
                    for (py::handle h : choices)
                      c.push_back(ToParamValue(h, "a categorical choice"));
                    return Unwrap(Distribution::Categorical(std::move(c)));
                  })
      .def_static("from_json",
                  [](const std::string& j) { return Unwrap(Distribution::FromJson(j)); })
      .def_static(
          "from_katib",
          [](const std::string& name, const std::string& parameter_type, const std::string& min,
             const std::string& max, const std::string& step, std::vector<std::string> list,
             const std::string& distribution) {
            return Unwrap(DistributionFromKatib(
                {name, parameter_type, min, max, step, std::move(list), distribution}));
          },
          py::arg("name"), py::arg("parameter_type"), py::arg("min") = "", py::arg("max") = "",
          py::arg("step") = "", py::arg("list") = std::vector<std::string>(),
          py::arg("distribution") = "")
      .def("to_katib",
           [](const Distribution& d, const std::string& name) {
             KatibParameter p = DistributionToKatib(name, d);
             py::dict out;
             out["name"] = p.name;
             out["parameterType"] = p.parameter_type;
             py::dict space;
             if (!p.min.empty()) space["min"] = p.min;
             if (!p.max.empty()) space["max"] = p.max;
             if (!p.step.empty()) space["step"] = p.step;
             if (!p.list.empty()) space["list"] = p.list;
             if (!p.distribution.empty()) space["distribution"] = p.distribution;
             out["feasibleSpace"] = space;
             return out;
           })
      .def_property_readonly("type", [](const Distribution& d) { return ParamTypeName(d.type()); })
      .def_property_readonly("low", &Distribution::low)
      .def_property_readonly("high", &Distribution::high)
      .def_property_readonly("log", &Distribution::log)
      .def_property_readonly("step", &Distribution::step)
      .def_property_readonly("choices",
                             [](const Distribution& d) {
                               py::list l;
                               for (const ParamValue& v : d.choices()) l.append(FromParamValue(v));
                               return l;
                             })
      .def("to_json", &Distribution::ToJson)
      .def("contains",
           [](const Distribution& d, const py::handle& v) {
             return d.ToInternal(ToParamValue(v, "value")).ok();
           })
      .def("__eq__", [](const Distribution& a, const Distribution& b) { return a == b; })
      .def("__repr__",
           [](const Distribution& d) { return "Distribution(" + d.DebugString() + ")"; });

  py::class_<Trial, std::shared_ptr<Trial>>(
      m, "Trial", "A running trial: suggest parameters, report progress, ask about pruning.")
      .def_property_readonly("number", &Trial::number)
      .def(
          "suggest_float",
          [](Trial& t, const std::string& name, double low, double high, bool log,
             std::optional<double> step) {
            return Released([&] { return t.SuggestFloat(name, low, high, log, step); });
          },
          py::arg("name"), py::arg("low"), py::arg("high"), py::kw_only(), py::arg("log") = false,
          py::arg("step") = py::none())
      .def(
          "suggest_int",
          [](Trial& t, const std::string& name, int64_t low, int64_t high, bool log, int64_t step) {
            return Released([&] { return t.SuggestInt(name, low, high, log, step); });
          },
          py::arg("name"), py::arg("low"), py::arg("high"), py::kw_only(), py::arg("log") = false,
          py::arg("step") = 1)
      .def(
          "suggest_categorical",
          [](Trial& t, const std::string& name, const py::sequence& choices) {
            std::vector<ParamValue> c;
            for (py::handle h : choices) {
              c.push_back(ToParamValue(h, "a choice of parameter '" + name + "'"));
            }
            ParamValue v;
            v = Released([&] { return t.SuggestCategorical(name, std::move(c)); });
            return FromParamValue(v);
          },
          py::arg("name"), py::arg("choices"))
      .def(
          "suggest",
          [](Trial& t, const std::string& name, const Distribution& d) {
            ParamValue v;
            v = Released([&] { return t.Suggest(name, d); });
            return FromParamValue(v);
          },
          py::arg("name"), py::arg("distribution"))
      .def(
          "report",
          [](Trial& t, double value, int64_t step) {
            Released([&] { return t.Report(value, step); });
          },
          py::arg("value"), py::arg("step"))
      .def("should_prune", [](Trial& t) { return Released([&] { return t.ShouldPrune(); }); })
      .def_property_readonly("params", [](const Trial& t) { return ParamsToDict(t.params()); })
      .def_property_readonly(
          "devices", [](const Trial& t) { return t.devices(); },
          "CUDA devices (ordinals) this trial holds for itself; [] without "
          "gpus_per_trial.")
      .def_property_readonly("cuda_visible_devices", &Trial::cuda_visible_devices,
                             "The trial's devices as CUDA_VISIBLE_DEVICES for a subprocess.")
      .def_property_readonly("cpus", &Trial::cpus)
      .def(
          "set_user_attr",
          [](Trial& t, const std::string& key, const py::object& value) {
            std::string text;
            try {
              text = py::module_::import("json").attr("dumps")(value).cast<std::string>();
            } catch (py::error_already_set& e) {
              throw py::type_error("user attr '" + key + "' is not JSON-serializable: " +
                                   std::string(py::str(e.value())));
            }
            Released([&] { return t.SetUserAttr(key, text); });
          },
          py::arg("key"), py::arg("value"))
      .def_property_readonly("user_attrs",
                             [](const Trial& t) { return AttrsToDict(t.record().user_attrs); })
      .def("_record", [](const Trial& t) { return FrozenToDict(t.record()); });

  py::class_<Sampler, std::shared_ptr<Sampler>>(m, "Sampler", "A sampler built by name.")
      .def_property_readonly("name", &Sampler::name);
  m.def(
      "create_sampler",
      [](const std::string& name, std::optional<uint64_t> seed, int n_startup_trials,
         int n_ei_candidates, bool multivariate, bool constant_liar, double prior_weight,
         double gamma, std::optional<std::vector<std::pair<std::string, Distribution>>> grid,
         int gp_n_candidates, double cmaes_sigma0, int cmaes_popsize, bool cmaes_restarts,
         bool sobol_scramble, int nsga2_population_size, double nsga2_crossover_prob,
         std::optional<double> nsga2_mutation_prob) {
        SamplerOptions o = MakeSamplerOptions(seed, n_startup_trials, n_ei_candidates, multivariate,
                                              constant_liar, prior_weight, gamma, std::move(grid));
        o.nsga2_population_size = nsga2_population_size;
        o.nsga2_crossover_prob = nsga2_crossover_prob;
        o.nsga2_mutation_prob = nsga2_mutation_prob;
        o.gp_n_candidates = gp_n_candidates;
        o.cmaes_sigma0 = cmaes_sigma0;
        o.cmaes_popsize = cmaes_popsize;
        o.cmaes_restarts = cmaes_restarts;
        o.sobol_scramble = sobol_scramble;
        return std::shared_ptr<Sampler>(Unwrap(CreateSampler(name, o)));
      },
      py::arg("name"), py::arg("seed") = py::none(), py::arg("n_startup_trials") = 10,
      py::arg("n_ei_candidates") = 24, py::arg("multivariate") = true,
      py::arg("constant_liar") = true, py::arg("prior_weight") = 1.0, py::arg("gamma") = 0.1,
      py::arg("grid") = py::none(), py::arg("gp_n_candidates") = 1024,
      py::arg("cmaes_sigma0") = 0.2, py::arg("cmaes_popsize") = 0, py::arg("cmaes_restarts") = true,
      py::arg("sobol_scramble") = true, py::arg("nsga2_population_size") = 50,
      py::arg("nsga2_crossover_prob") = 0.9, py::arg("nsga2_mutation_prob") = py::none());
  m.def("sampler_names", &SamplerNames);
  m.def(
      "create_nsga2_sampler",
      [](std::optional<uint64_t> seed, int population_size, double crossover_prob,
         double swapping_prob, std::optional<double> mutation_prob, double eta_crossover,
         double eta_mutation) {
        Nsga2Options o;
        o.seed = seed;
        o.population_size = population_size;
        o.crossover_prob = crossover_prob;
        o.swapping_prob = swapping_prob;
        o.mutation_prob = mutation_prob;
        o.eta_crossover = eta_crossover;
        o.eta_mutation = eta_mutation;
        return std::shared_ptr<Sampler>(Unwrap(NewNsga2Sampler(o)));
      },
      py::arg("seed") = py::none(), py::arg("population_size") = 50,
      py::arg("crossover_prob") = 0.9, py::arg("swapping_prob") = 0.5,
      py::arg("mutation_prob") = py::none(), py::arg("eta_crossover") = 20.0,
      py::arg("eta_mutation") = 20.0);
  m.def(
      "python_sampler",
      [](const std::string& name, py::object fn) {
        return std::shared_ptr<Sampler>(std::make_shared<PythonSampler>(name, std::move(fn)));
      },
      py::arg("name"), py::arg("fn"));
  m.def(
      "python_pruner",
      [](const std::string& name, py::object fn) {
        return std::shared_ptr<Pruner>(std::make_shared<PythonPruner>(name, std::move(fn)));
      },
      py::arg("name"), py::arg("fn"));

  py::class_<Pruner, std::shared_ptr<Pruner>>(m, "Pruner", "A pruner built by name.")
      .def_property_readonly("name", &Pruner::name);
  m.def(
      "create_pruner",
      [](const std::string& name, int min_trials_required, int64_t start_step, int64_t min_resource,
         int64_t max_resource, int reduction_factor,
         int min_early_stopping_rate) -> std::shared_ptr<Pruner> {
        PrunerOptions o;
        o.min_trials_required = min_trials_required;
        o.start_step = start_step;
        o.min_resource = min_resource;
        o.max_resource = max_resource;
        o.reduction_factor = reduction_factor;
        o.min_early_stopping_rate = min_early_stopping_rate;
        return std::shared_ptr<Pruner>(Unwrap(CreatePruner(name, o)));
      },
      py::arg("name"), py::arg("min_trials_required") = 3, py::arg("start_step") = 0,
      py::arg("min_resource") = 1, py::arg("max_resource") = 81, py::arg("reduction_factor") = 3,
      py::arg("min_early_stopping_rate") = 0);
  m.def("pruner_names", &PrunerNames);

  py::class_<Study>(m, "Study", "A search for the best parameters of one objective.")
      .def_static(
          "create",
          [](const std::string& name, const std::string& direction,
             std::shared_ptr<Sampler> sampler, std::shared_ptr<Pruner> pruner,
             const std::string& storage, bool load_if_exists, bool requeue_stale_trials,
             const py::list& search_space, const std::vector<std::string>& directions,
             std::optional<double> busy_timeout) {
            StudyOptions o;
            o.name = name;
            o.direction = Unwrap(ParseStudyDirection(direction));
            for (const std::string& d : directions) {
              o.directions.push_back(Unwrap(ParseStudyDirection(d)));
            }
            o.sampler_object = std::move(sampler);
            o.pruner = "none";
            o.pruner_object = std::move(pruner);
            o.storage = storage;
            if (busy_timeout) o.busy_timeout = absl::Seconds(*busy_timeout);
            o.load_if_exists = load_if_exists;
            o.requeue_stale_trials = requeue_stale_trials;
            if (!search_space.empty()) {
              o.search_space = ToSearchSpace(search_space);
            }
            return Released([&] { return Study::Create(std::move(o)); });
          },
          py::arg("name"), py::arg("direction"), py::arg("sampler"), py::arg("pruner"),
          py::arg("storage"), py::arg("load_if_exists"), py::arg("requeue_stale_trials"),
          py::arg("search_space"), py::arg("directions") = std::vector<std::string>(),
          py::arg("busy_timeout") = py::none())
      .def_static(
          "load",
          [](const std::string& name, std::shared_ptr<Sampler> sampler,
             std::shared_ptr<Pruner> pruner, const std::string& storage, bool requeue_stale_trials,
             std::optional<double> busy_timeout) {
            StudyOptions o;
            o.name = name;
            o.sampler_object = std::move(sampler);
            o.pruner = "none";
            o.pruner_object = std::move(pruner);
            o.storage = storage;
            if (busy_timeout) o.busy_timeout = absl::Seconds(*busy_timeout);
            o.requeue_stale_trials = requeue_stale_trials;
            return Released([&] { return Study::Load(std::move(o)); });
          },
          py::arg("name"), py::arg("sampler"), py::arg("pruner"), py::arg("storage"),
          py::arg("requeue_stale_trials"), py::arg("busy_timeout") = py::none())
      .def_property_readonly("name", &Study::name)
      .def_property_readonly("direction",
                             [](const Study& s) { return StudyDirectionName(s.direction()); })
      .def_property_readonly("directions",
                             [](const Study& s) { return DirectionNames(s.directions()); })
      .def_property_readonly("storage", [](Study& s) { return s.storage().description(); })
      .def(
          "ask", [](Study& s) { return Released([&] { return s.Ask(); }); },
          py::keep_alive<0, 1>())  // a Trial points at its Study
      .def(
          "tell",
          [](Study& s, const py::object& trial, const py::object& value, const std::string& state,
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
          },
          py::arg("trial"), py::arg("value") = py::none(), py::arg("state") = "complete",
          py::arg("error") = "")
      .def(
          "optimize",
          [](Study& s, py::function objective, int64_t n_trials, std::optional<double> timeout,
             int n_parallel, int64_t max_trials, int64_t max_failed_trials,
             std::optional<double> goal, std::optional<py::function> callback, int gpus_per_trial,
             std::optional<std::vector<int>> gpus, int cpus_per_trial, int cpus) {
            auto interrupt = std::make_shared<py::object>();
            OptimizeOptions o = MakeOptimizeOptions(
                n_trials, timeout, n_parallel, max_trials, max_failed_trials, goal,
                MakeResources(gpus_per_trial, std::move(gpus), cpus_per_trial, cpus));
            if (callback.has_value()) {
              o.callback = [cb = *callback, interrupt, &s](const FrozenTrial& t) {
                py::gil_scoped_acquire gil;
                try {
                  (*cb)(FrozenToDict(t));
                } catch (py::error_already_set& e) {
                  s.Stop();
                  if (!*interrupt || interrupt->is_none()) *interrupt = e.value();
                }
              };
            }
            MultiObjective fn = WrapObjective(std::move(objective), &s, interrupt);
            Status status;
            {
              py::gil_scoped_release release;
              status = s.OptimizeMultiObjective(fn, o);
            }
            // Destroy the callables while holding the GIL.
            fn = nullptr;
            o.callback = nullptr;
            if (static_cast<bool>(*interrupt) && !interrupt->is_none()) {
              PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(interrupt->ptr())),
                              interrupt->ptr());
              throw py::error_already_set();
            }
            ThrowIfError(status);
          },
          py::arg("objective"), py::arg("n_trials") = 0, py::arg("timeout") = py::none(),
          py::arg("n_parallel") = 1, py::arg("max_trials") = 0, py::arg("max_failed_trials") = 0,
          py::arg("goal") = py::none(), py::arg("callback") = py::none(),
          py::arg("gpus_per_trial") = 0, py::arg("gpus") = py::none(),
          py::arg("cpus_per_trial") = 0, py::arg("cpus") = 0)
      .def(
          "optimize_command",
          [](Study& s, const std::string& command, const std::string& metric,
             const py::list& search_space, const std::string& format,
             const std::string& metrics_file, std::optional<double> trial_timeout,
             const std::string& working_dir, const std::map<std::string, std::string>& env,
             int64_t n_trials, std::optional<double> timeout, int n_parallel, int64_t max_trials,
             int64_t max_failed_trials, std::optional<double> goal,
             const std::vector<std::string>& metrics, int gpus_per_trial,
             std::optional<std::vector<int>> gpus, int cpus_per_trial, int cpus) {
            CommandObjectiveOptions c;
            c.command_template = command;
            c.metric = metric;
            if (format == "text") {
              c.format = MetricsFormat::kText;
            } else if (format == "json") {
              c.format = MetricsFormat::kJsonLines;
            } else {
              throw py::value_error("format must be 'text' or 'json', not '" + format + "'");
            }
            c.metrics_file = metrics_file;
            c.timeout = SecondsOrInfinite(trial_timeout);
            c.working_dir = working_dir;
            c.env = env;
            SearchSpace space = ToSearchSpace(search_space);
            OptimizeOptions o = MakeOptimizeOptions(
                n_trials, timeout, n_parallel, max_trials, max_failed_trials, goal,
                MakeResources(gpus_per_trial, std::move(gpus), cpus_per_trial, cpus));
            if (metrics.empty()) {
              Objective objective = Unwrap(MakeCommandObjective(std::move(c), std::move(space)));
              Released([&] { return s.Optimize(objective, o); });
            } else {
              MultiObjective objective =
                  Unwrap(MakeCommandMultiObjective(std::move(c), std::move(space), metrics));
              Released([&] { return s.OptimizeMultiObjective(objective, o); });
            }
          },
          py::arg("command"), py::arg("metric"), py::arg("search_space"), py::arg("format"),
          py::arg("metrics_file"), py::arg("trial_timeout"), py::arg("working_dir"), py::arg("env"),
          py::arg("n_trials"), py::arg("timeout"), py::arg("n_parallel"), py::arg("max_trials"),
          py::arg("max_failed_trials"), py::arg("goal"),
          py::arg("metrics") = std::vector<std::string>(), py::arg("gpus_per_trial") = 0,
          py::arg("gpus") = py::none(), py::arg("cpus_per_trial") = 0, py::arg("cpus") = 0)
      .def(
          "optimize_pipeline",
          [](Study& s, pipeline::Client& client, const pipeline::Pipeline& pipe,
             const std::string& metric, const py::list& search_space,
             const std::string& arguments_json, const std::string& experiment,
             std::optional<double> trial_timeout, int max_parallelism, bool enable_caching,
             int64_t n_trials, std::optional<double> timeout, int n_parallel, int64_t max_trials,
             int64_t max_failed_trials, std::optional<double> goal, int gpus_per_trial,
             std::optional<std::vector<int>> gpus, int cpus_per_trial, int cpus) {
            PipelineObjectiveOptions p;
            p.metric = metric;
            p.arguments = pipeline::Json::parse(arguments_json, nullptr, false);
            if (p.arguments.is_discarded()) throw py::value_error("arguments are not JSON");
            p.run.experiment = experiment;
            p.run.max_parallelism = max_parallelism;
            p.run.enable_caching = enable_caching;
            p.timeout = SecondsOrInfinite(trial_timeout);
            Objective objective = Unwrap(
                MakePipelineObjective(&client, pipe, ToSearchSpace(search_space), std::move(p)));
            OptimizeOptions o = MakeOptimizeOptions(
                n_trials, timeout, n_parallel, max_trials, max_failed_trials, goal,
                MakeResources(gpus_per_trial, std::move(gpus), cpus_per_trial, cpus));
            Released([&] { return s.Optimize(objective, o); });
          },
          py::arg("client"), py::arg("pipeline"), py::arg("metric"), py::arg("search_space"),
          py::arg("arguments_json"), py::arg("experiment"), py::arg("trial_timeout"),
          py::arg("max_parallelism"), py::arg("enable_caching"), py::arg("n_trials"),
          py::arg("timeout"), py::arg("n_parallel"), py::arg("max_trials"),
          py::arg("max_failed_trials"), py::arg("goal"), py::arg("gpus_per_trial") = 0,
          py::arg("gpus") = py::none(), py::arg("cpus_per_trial") = 0, py::arg("cpus") = 0)
      .def("_system_attrs",
           [](Study& s) {
             return Released([&] { return s.storage().GetStudySystemAttrs(s.record().id); });
           })
      .def("stop", &Study::Stop)
      .def("enqueue",
           [](Study& s, const py::dict& params) {
             auto p = DictToParams(params);
             Released([&] { return s.Enqueue(p); });
           })
      .def(
          "add_trial",
          [](Study& s, const py::dict& params, const py::dict& distributions,
             const py::object& value, const std::string& state,
             const std::map<int64_t, double>& intermediate_values, const std::string& error) {
            FrozenTrial t;
            t.params = DictToParams(params);
            for (auto item : distributions) {
              t.distributions.insert_or_assign(py::str(item.first),
                                               item.second.cast<Distribution>());
            }
            t.state = Unwrap(ParseTrialState(state));
            if (!value.is_none()) t.values = Unwrap(ToValues(value));
            t.intermediate_values = intermediate_values;
            t.error = error;
            FrozenTrial added;
            added = Released([&] { return s.AddTrial(t); });
            return FrozenToDict(added);
          },
          py::arg("params"), py::arg("distributions"), py::arg("value") = py::none(),
          py::arg("state") = "complete",
          py::arg("intermediate_values") = std::map<int64_t, double>(), py::arg("error") = "")
      .def("_trials",
           [](Study& s) {
             TrialList trials;
             trials = Released([&] { return s.Trials(); });
             py::list out;
             for (const auto& t : trials) out.append(FrozenToDict(*t));
             return out;
           })
      .def("_best_trials",
           [](Study& s) {
             TrialList trials;
             trials = Released([&] { return s.BestTrials(); });
             return TrialsToList(trials);
           })
      .def("_best_trial", [](Study& s) {
        FrozenTrial best;
        best = Released([&] { return s.BestTrial(); });
        return FrozenToDict(best);
      });

  m.def(
      "katib_experiment_yaml",
      [](const std::string& name, const std::string& metric, const py::list& search_space,
         const std::string& command, const std::string& image, const std::string& direction,
         std::optional<double> goal, const std::string& sampler, std::optional<uint64_t> seed,
         const std::string& pruner, int min_trials_required, int64_t start_step,
         int parallel_trial_count, int max_trial_count, int max_failed_trial_count,
         std::vector<std::string> additional_metrics, const std::string& k8s_namespace,
         int gpus_per_trial) {
        KatibExperimentOptions o;
        o.gpus_per_trial = gpus_per_trial;
        o.name = name;
        o.objective_metric = metric;
        o.command_template = command;
        o.image = image;
        o.direction = Unwrap(ParseStudyDirection(direction));
        o.goal = goal;
        o.sampler = sampler;
        o.seed = seed;
        o.pruner = pruner;
        o.min_trials_required = min_trials_required;
        o.start_step = start_step;
        o.parallel_trial_count = parallel_trial_count;
        o.max_trial_count = max_trial_count;
        o.max_failed_trial_count = max_failed_trial_count;
        o.additional_metrics = std::move(additional_metrics);
        o.k8s_namespace = k8s_namespace;
        o.space = ToSearchSpace(search_space);
        return Unwrap(KatibExperimentYaml(o));
      },
      py::arg("name"), py::arg("metric"), py::arg("search_space"), py::arg("command"),
      py::arg("image"), py::arg("direction"), py::arg("goal"), py::arg("sampler"), py::arg("seed"),
      py::arg("pruner"), py::arg("min_trials_required"), py::arg("start_step"),
      py::arg("parallel_trial_count"), py::arg("max_trial_count"),
      py::arg("max_failed_trial_count"), py::arg("additional_metrics"), py::arg("k8s_namespace"),
      py::arg("gpus_per_trial") = 0);

  m.def(
      "katib_experiment_from_json",
      [](const std::string& json) {
        KatibExperimentOptions o = Unwrap(KatibExperimentFromJson(json));
        py::dict d;
        d["name"] = o.name;
        d["metric"] = o.objective_metric;
        d["direction"] = StudyDirectionName(o.direction);
        d["goal"] = o.goal.has_value() ? py::object(py::float_(*o.goal)) : py::object(py::none());
        d["sampler"] = o.sampler;
        d["seed"] = o.seed.has_value() ? py::object(py::int_(*o.seed)) : py::object(py::none());
        d["pruner"] = o.pruner == "none" ? py::object(py::none()) : py::object(py::str(o.pruner));
        d["min_trials_required"] = o.min_trials_required;
        d["start_step"] = o.start_step;
        py::list space;
        for (const SearchSpace::Param& p : o.space.params()) {
          space.append(py::make_tuple(p.name, p.distribution));
        }
        d["search_space"] = space;
        d["command"] = o.command_template;
        d["image"] = o.image;
        d["parallel_trial_count"] = o.parallel_trial_count;
        d["max_trial_count"] = o.max_trial_count;
        d["max_failed_trial_count"] = o.max_failed_trial_count;
        d["additional_metrics"] = o.additional_metrics;
        d["namespace"] = o.k8s_namespace;
        d["gpus_per_trial"] = o.gpus_per_trial;
        return d;
      },
      py::arg("json"));

  m.def(
      "list_studies",
      [](const std::string& storage, std::optional<double> busy_timeout) {
        std::vector<StudySummary> studies;
        std::shared_ptr<Storage> st = Released([&] {
          return busy_timeout ? OpenStorage(storage, absl::Seconds(*busy_timeout))
                              : OpenStorage(storage);
        });
        studies = Released([&] { return SummarizeStudies(*st); });
        py::list out;
        for (const StudySummary& s : studies) {
          py::dict d = StudyRecordToDict(s.study);
          d["n_trials"] = s.trials;
          d["n_complete"] = s.complete;
          d["n_running"] = s.running;
          d["best_value"] = s.best.has_value() ? py::object(py::float_(*s.best)) : py::none();
          out.append(d);
        }
        return out;
      },
      py::arg("storage") = "sqlite", py::arg("busy_timeout") = py::none());

  m.def("trial_seed", &TrialSeed, py::arg("seed"), py::arg("trial_number"), py::arg("salt") = "");
}

BinderRegistration reg("hpo", "Hyperparameter search: studies, trials, samplers, pruners",
                       &BindHpo);

}  // namespace
}  // namespace mlcore::python
