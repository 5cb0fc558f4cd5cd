// mlcore._mlcore.hpo samplers and pruners built by name, and their option structs. The structs
// are bound field by field and default-constructed here, so each default is written once, in
// C++ (mlcore.hpo's constructors read theirs from a default SamplerOptions()).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "hpo_convert.h"
#include "mlcore/hpo/nsga2_sampler.h"
#include "mlcore/hpo/pruner.h"
#include "mlcore/hpo/sampler.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

using GridList = std::vector<std::pair<std::string, Distribution>>;

// An options struct from keyword arguments: each sets the field of its name through the
// struct's bound attributes; the others keep the struct's defaults.
template <typename Options>
Options FromKwargs(const py::kwargs& kwargs, const std::string& function) {
  Options options;
  py::object o = py::cast(&options, py::return_value_policy::reference);
  for (auto [key, value] : kwargs) {
    const std::string name = py::str(key);
    if (!py::hasattr(o, name.c_str())) {
      throw py::type_error(function + "() got an unexpected keyword argument '" + name + "'");
    }
    o.attr(name.c_str()) = value;
  }
  return options;
}

void BindSamplerOptions(py::module_& m) {
  py::class_<SamplerOptions>(m, "SamplerOptions",
                             "Options of the samplers built by name (see mlcore/hpo/sampler.h).")
      .def(py::init<>())
      .def_readwrite("seed", &SamplerOptions::seed)
      .def_readwrite("n_startup_trials", &SamplerOptions::n_startup_trials)
      .def_readwrite("n_ei_candidates", &SamplerOptions::n_ei_candidates)
      .def_readwrite("multivariate", &SamplerOptions::multivariate)
      .def_readwrite("constant_liar", &SamplerOptions::constant_liar)
      .def_readwrite("prior_weight", &SamplerOptions::prior_weight)
      .def_readwrite("gamma", &SamplerOptions::gamma)
      .def_property(
          "grid",
          [](const SamplerOptions& o) -> std::optional<GridList> {
            if (!o.grid.has_value()) return std::nullopt;
            GridList out;
            for (const SearchSpace::Param& p : o.grid->params()) {
              out.emplace_back(p.name, p.distribution);
            }
            return out;
          },
          [](SamplerOptions& o, std::optional<GridList> grid) {
            o.grid.reset();
            if (!grid.has_value()) return;
            SearchSpace space;
            for (auto& [name, d] : *grid) ThrowIfError(space.Add(name, d));
            o.grid = std::move(space);
          },
          "[(name, Distribution)], or None for the study's declared space.")
      .def_readwrite("gp_n_candidates", &SamplerOptions::gp_n_candidates)
      .def_readwrite("cmaes_sigma0", &SamplerOptions::cmaes_sigma0)
      .def_readwrite("cmaes_popsize", &SamplerOptions::cmaes_popsize)
      .def_readwrite("cmaes_restarts", &SamplerOptions::cmaes_restarts)
      .def_readwrite("sobol_scramble", &SamplerOptions::sobol_scramble)
      .def_readwrite("nsga2_population_size", &SamplerOptions::nsga2_population_size)
      .def_readwrite("nsga2_crossover_prob", &SamplerOptions::nsga2_crossover_prob)
      .def_readwrite("nsga2_mutation_prob", &SamplerOptions::nsga2_mutation_prob);

  py::class_<Nsga2Options>(m, "Nsga2Options", "Options of the NSGA-II sampler.")
      .def(py::init<>())
      .def_readwrite("seed", &Nsga2Options::seed)
      .def_readwrite("population_size", &Nsga2Options::population_size)
      .def_readwrite("crossover_prob", &Nsga2Options::crossover_prob)
      .def_readwrite("swapping_prob", &Nsga2Options::swapping_prob)
      .def_readwrite("mutation_prob", &Nsga2Options::mutation_prob)
      .def_readwrite("eta_crossover", &Nsga2Options::eta_crossover)
      .def_readwrite("eta_mutation", &Nsga2Options::eta_mutation);

  py::class_<PrunerOptions>(m, "PrunerOptions", "Options of the pruners built by name.")
      .def(py::init<>())
      .def_readwrite("min_trials_required", &PrunerOptions::min_trials_required)
      .def_readwrite("start_step", &PrunerOptions::start_step)
      .def_readwrite("min_resource", &PrunerOptions::min_resource)
      .def_readwrite("max_resource", &PrunerOptions::max_resource)
      .def_readwrite("reduction_factor", &PrunerOptions::reduction_factor)
      .def_readwrite("min_early_stopping_rate", &PrunerOptions::min_early_stopping_rate);
}

void BindSamplers(py::module_& m) {
  BindSamplerOptions(m);
  py::class_<Sampler, std::shared_ptr<Sampler>>(m, "Sampler", "A sampler built by name.")
      .def_property_readonly("name", &Sampler::name);
  m.def(
      "create_sampler",
      [](const std::string& name, const py::kwargs& options) {
        SamplerOptions o = FromKwargs<SamplerOptions>(options, "create_sampler");
        return std::shared_ptr<Sampler>(Unwrap(CreateSampler(name, o)));
      },
      py::arg("name"), "The sampler `name` with SamplerOptions fields given as keywords.");
  m.def("sampler_names", &SamplerNames);
  m.def(
      "create_nsga2_sampler",
      [](const py::kwargs& options) {
        Nsga2Options o = FromKwargs<Nsga2Options>(options, "create_nsga2_sampler");
        return std::shared_ptr<Sampler>(Unwrap(NewNsga2Sampler(o)));
      },
      "NSGA-II with Nsga2Options fields given as keywords.");

  py::class_<Pruner, std::shared_ptr<Pruner>>(m, "Pruner", "A pruner built by name.")
      .def_property_readonly("name", &Pruner::name);
  m.def(
      "create_pruner",
      [](const std::string& name, const py::kwargs& options) {
        PrunerOptions o = FromKwargs<PrunerOptions>(options, "create_pruner");
        return std::shared_ptr<Pruner>(Unwrap(CreatePruner(name, o)));
      },
      py::arg("name"), "The pruner `name` with PrunerOptions fields given as keywords.");
  m.def("pruner_names", &PrunerNames);
}

BinderRegistration reg("hpo", "", &BindSamplers, kSamplers);

}  // namespace
}  // namespace mlcore::python::hpo_bindings
