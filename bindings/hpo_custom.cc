// Samplers and pruners written in Python, as C++ Samplers and Pruners. They run on the threads
// that suggest or prune, which hold no GIL, so each call takes it; the Python callable may be
// dropped by a study's worker, so it is held as a PyCallable.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bindings.h"
#include "convert.h"
#include "hpo_convert.h"
#include "mlcore/hpo/pruner.h"
#include "mlcore/hpo/sampler.h"

namespace mlcore::python::hpo_bindings {
namespace {

using namespace mlcore::hpo;  // NOLINT: a binding file for this one namespace

// `fn(trials, directions, trial, name, distribution)` (a closure built by mlcore.hpo around
// the user's object) returns the parameter's value.
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

// `fn(trials, direction, trial)` returns whether to prune.
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

void BindPythonSamplers(py::module_& m) {
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
}

// After BindSamplers: the functions return its Sampler and Pruner types.
BinderRegistration reg("hpo", "", &BindPythonSamplers, kSamplers + 1);

}  // namespace
}  // namespace mlcore::python::hpo_bindings
