// mlcore._mlcore.nn_models: graph models (GraphBuilder, GraphModel), Datasets, and training any
// model on a Dataset. Training and iteration run without the GIL; Python generators and map
// functions take it back only while they run, on whichever thread (a prefetch thread
// included) calls them. A Python exception inside one surfaces as RuntimeError carrying the
// original message.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <map>
#include <optional>

#include "bindings.h"
#include "mlcore/nn/dataset.h"
#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/nn/signature.h"
#include "nn_common.h"
#include "signal_poll.h"

namespace mlcore::python {
namespace {

using nn::Dataset;
using nn::GraphModel;
using nn::Model;
using nn::TensorList;

using nn_bindings::HistoryDict;
using nn_bindings::ToCallback;

// (inputs, targets) lists of Tensors, as data.py hands them over.
StatusOr<nn::Element> ToElement(const py::handle& item) {
  try {
    auto pair = item.cast<std::pair<TensorList, TensorList>>();
    return nn::Element{std::move(pair.first), std::move(pair.second)};
  } catch (const py::cast_error&) {
    return absl::InvalidArgumentError(
        "a Dataset element must be (inputs, targets) lists of mlcore Tensors, got " +
        std::string(py::str(py::type::of(item))));
  }
}

// One pass over a Dataset seen from Python. Dropping it stops a prefetch thread, which may be
// waiting for the GIL inside a Python generator: the GIL is released while it is joined.
struct PyIterator {
  explicit PyIterator(std::unique_ptr<nn::DatasetIterator> i) : it(std::move(i)) {}
  PyIterator(PyIterator&&) = default;
  std::unique_ptr<nn::DatasetIterator> it;
  ~PyIterator() {
    if (it == nullptr) return;
    py::gil_scoped_release release;
    it.reset();
  }
};

nn::FitOptions MakeFitOptions(int epochs, const py::list& callbacks, std::string device,
                              int initial_epoch, std::shared_ptr<Dataset> validation,
                              std::optional<TensorList> vx, std::optional<TensorList> vy) {
  nn::FitOptions o;
  o.epochs = epochs;
  for (const py::handle& cb : callbacks) o.callbacks.push_back(ToCallback(cb));
  o.device = std::move(device);
  o.initial_epoch = initial_epoch;
  o.validation_dataset = std::move(validation);
  if (vx) o.validation_inputs = *vx;
  if (vy) o.validation_targets = *vy;
  return o;
}

// Dataset.from_generator: start() is called (with the GIL) at every pass for a fresh iterable.
std::shared_ptr<Dataset> DatasetFromGenerator(py::object start, bool batched) {
  PyCallable make(std::move(start), "Dataset generator");
  return Dataset::FromGenerator(
      [make]() -> StatusOr<Dataset::NextFn> {
        py::gil_scoped_acquire gil;  // first: outlives the objects below
        MLCORE_ASSIGN_OR_RETURN(py::object iterable, make.Call());
        py::object iter;
        try {
          iter = py::iter(iterable);
        } catch (py::error_already_set& e) {
          return make.Raised(e);
        }
        PyCallable it(std::move(iter), "Dataset generator");
        return Dataset::NextFn([it](nn::Element* out) -> StatusOr<bool> {
          py::gil_scoped_acquire gil;
          PyObject* item = PyIter_Next(it.get().ptr());
          if (item == nullptr) {
            if (PyErr_Occurred()) {
              py::error_already_set e;
              return it.Raised(e);
            }
            return false;
          }
          MLCORE_ASSIGN_OR_RETURN(*out, ToElement(py::reinterpret_steal<py::object>(item)));
          return true;
        });
      },
      batched);
}

void BindDataset(py::module_& m) {
  using py::arg;
  py::class_<PyIterator>(m, "DatasetIterator", "One pass over a Dataset.")
      .def("__iter__", [](PyIterator& self) -> PyIterator& { return self; })
      .def("__next__",
           [](PyIterator& self) {
             if (self.it == nullptr) throw py::stop_iteration();
             nn::Element e;
             bool more = Released([&] { return self.it->Next(&e); });
             if (!more) {
               PyIterator done{std::move(self.it)};  // stop now (releases the GIL while joining)
               throw py::stop_iteration();
             }
             return py::make_tuple(e.inputs, e.targets);
           })
      .def("close", [](PyIterator& self) { PyIterator done{std::move(self.it)}; });

  py::class_<Dataset, std::shared_ptr<Dataset>>(m, "Dataset", "A stream of examples or batches.")
      .def_static(
          "from_tensors",
          [](TensorList x, TensorList y) { return Unwrap(Dataset::FromTensors(x, y)); },
          arg("inputs"), arg("targets"))
      .def_static(
          "from_generator", &DatasetFromGenerator, arg("start"), arg("batched") = false,
          "start() returns an iterable of (inputs, targets) Tensor lists; called every pass.")
      .def(
          "shuffle",
          [](const Dataset& d, int64_t size, uint64_t seed) {
            return Unwrap(d.Shuffle(size, seed));
          },
          arg("buffer_size"), arg("seed") = 0)
      .def(
          "batch",
          [](const Dataset& d, int64_t size, bool drop) { return Unwrap(d.Batch(size, drop)); },
          arg("batch_size"), arg("drop_remainder") = false)
      .def(
          "map",
          [](const Dataset& d, py::object fn) {
            PyCallable f(std::move(fn), "map function");
            return d.Map([f](nn::Element e) -> StatusOr<nn::Element> {
              py::gil_scoped_acquire gil;  // first: outlives `out`
              MLCORE_ASSIGN_OR_RETURN(py::object out, f.Call(e.inputs, e.targets));
              return ToElement(out);
            });
          },
          arg("fn"), "fn(inputs, targets) -> (inputs, targets), Tensor lists.")
      .def(
          "prefetch", [](const Dataset& d, int64_t size) { return Unwrap(d.Prefetch(size)); },
          arg("buffer_size"))
      .def_property_readonly("batched", &Dataset::batched)
      .def(
          "iterate",
          [](const Dataset& d, int epoch) {
            return PyIterator{Released([&] { return d.MakeIterator(epoch); })};
          },
          arg("epoch") = 0, "A fresh pass (epoch reseeds shuffling).");
}

// fit/evaluate on a Dataset for either model kind (Sequential is bound in nn.cc).
template <typename M>
void BindDatasetTraining(py::module_& m) {
  using py::arg;
  m.def(
      "fit_dataset",
      [](M& model, Dataset& data, int epochs, const py::list& callbacks, std::string device,
         int initial_epoch, std::shared_ptr<Dataset> validation, std::optional<TensorList> vx,
         std::optional<TensorList> vy, std::string precision,
         std::shared_ptr<nn::FitStrategy> strategy) {
        nn::FitOptions o =
            MakeFitOptions(epochs, callbacks, std::move(device), initial_epoch, validation, vx, vy);
        o.precision = std::move(precision);
        o.strategy = std::move(strategy);
        SignalPoll ctrl_c;
        o.interrupt = ctrl_c.Poller();
        StatusOr<nn::History> h = [&] {
          py::gil_scoped_release release;
          return model.Fit(data, o);
        }();
        ctrl_c.RaiseIfInterrupted();
        return HistoryDict(Unwrap(std::move(h)));
      },
      arg("model"), arg("data"), arg("epochs"), arg("callbacks"), arg("device"),
      arg("initial_epoch"), arg("validation_dataset"), arg("validation_inputs"),
      arg("validation_targets"), arg("precision") = "", arg("strategy") = nullptr);
  m.def(
      "evaluate_dataset",
      [](M& model, Dataset& data) { return Released([&] { return model.Evaluate(data); }); },
      arg("model"), arg("data"));
}

void BindModelLoading(py::module_& m);

void BindGraphBuilder(py::module_& m) {
  using py::arg;
  py::class_<nn::NodeRef>(m, "Node", "A node of a graph under construction.")
      .def_readonly("id", &nn::NodeRef::id)
      .def("__repr__",
           [](const nn::NodeRef& n) { return "<mlcore.nn node " + std::to_string(n.id) + ">"; });

  py::class_<nn::GraphBuilder>(m, "GraphBuilder", "Records the nodes of a graph model.")
      .def(py::init<>())
      .def("input", &nn::GraphBuilder::Input, arg("shape"), arg("name") = "")
      .def(
          "apply",
          [](nn::GraphBuilder& g, std::shared_ptr<nn::Layer> layer, std::vector<nn::NodeRef> in) {
            return g.Apply(std::move(layer), in);
          },
          arg("layer"), arg("inputs"))
      .def("add", &nn::GraphBuilder::Add, arg("inputs"), arg("name") = "")
      .def("concatenate", &nn::GraphBuilder::Concatenate, arg("inputs"), arg("axis") = -1,
           arg("name") = "")
      .def("attend", &nn::GraphBuilder::Attend, arg("embedding"), arg("input"), arg("name") = "",
           "input @ embedding.table^T, sharing the Embedding's table (weight tying).")
      .def(
          "finish",
          [](nn::GraphBuilder& g, std::vector<nn::NodeRef> in, std::vector<nn::NodeRef> out,
             uint64_t seed) {
            return std::shared_ptr<GraphModel>(Unwrap(g.Finish(in, out, seed)));
          },
          arg("inputs"), arg("outputs"), arg("seed") = 0);
}

void BindGraph(py::module_& m) {
  using py::arg;
  BindGraphBuilder(m);
  py::class_<GraphModel, std::shared_ptr<GraphModel>> graph(m, "GraphModel",
                                                            "Layers wired as a graph.");
  nn_bindings::BindModelCommon(graph);
  graph.def_property_readonly("input_names", &GraphModel::input_names)
      .def_property_readonly("output_names", &GraphModel::output_names)
      .def_property_readonly("architecture_json", &GraphModel::ArchitectureJson)
      .def_property_readonly("layers",
                             [](const GraphModel& g) {
                               std::vector<std::shared_ptr<nn::Layer>> out;
                               for (const nn::GraphNode& n : g.nodes()) {
                                 if (n.layer && n.shares < 0) out.push_back(n.layer);
                               }
                               return out;
                             })
      .def(
          "fit",
          [](GraphModel& g, TensorList x, TensorList y, int epochs, int64_t batch_size,
             bool shuffle, uint64_t seed, std::optional<TensorList> vx,
             std::optional<TensorList> vy, const py::list& callbacks, std::string device,
             int initial_epoch, std::string precision, std::optional<Tensor> sample_weight,
             std::map<int64_t, double> class_weight, std::shared_ptr<nn::FitStrategy> strategy) {
            nn::FitOptions o = MakeFitOptions(epochs, callbacks, std::move(device), initial_epoch,
                                              nullptr, vx, vy);
            o.strategy = std::move(strategy);
            o.precision = std::move(precision);
            if (sample_weight) o.sample_weight = *sample_weight;
            o.class_weight = std::move(class_weight);
            o.batch_size = batch_size;
            o.shuffle = shuffle;
            o.seed = seed;
            SignalPoll ctrl_c;
            o.interrupt = ctrl_c.Poller();
            StatusOr<nn::History> h = [&] {
              py::gil_scoped_release release;
              return g.Fit(x, y, o);
            }();
            ctrl_c.RaiseIfInterrupted();
            return HistoryDict(Unwrap(std::move(h)));
          },
          arg("x"), arg("y"), arg("epochs"), arg("batch_size"), arg("shuffle"), arg("seed"),
          arg("validation_inputs"), arg("validation_targets"), arg("callbacks"), arg("device"),
          arg("initial_epoch"), arg("precision") = "", arg("sample_weight") = py::none(),
          arg("class_weight") = std::map<int64_t, double>{}, arg("strategy") = nullptr)
      .def(
          "evaluate",
          [](GraphModel& g, TensorList x, TensorList y, int64_t batch_size,
             std::optional<Tensor> sample_weight) {
            const Tensor w = sample_weight ? *sample_weight : Tensor();
            return Released([&] { return g.EvaluateWeighted(x, y, w, batch_size); });
          },
          arg("x"), arg("y"), arg("batch_size") = 256, arg("sample_weight") = py::none())
      .def(
          "predict",
          [](GraphModel& g, TensorList x, int64_t batch_size) {
            return Released([&] { return g.PredictAll(x, batch_size); });
          },
          arg("x"), arg("batch_size") = 256, "One tensor per output.")
      .def(
          "train_step",
          [](GraphModel& g, TensorList x, TensorList y) {
            nn::StepResult r = Released([&] { return g.TrainStep(x, y); });
            return py::make_tuple(r.loss, r.correct, r.applied);
          },
          arg("x"), arg("y"), "One step; returns (loss, correct, applied).");
  BindModelLoading(m);
}

void BindModelLoading(py::module_& m) {
  using py::arg;
  m.def(
      "load_graph_model",
      [](const std::string& dir) {
        return std::shared_ptr<GraphModel>(Released([&] { return nn::LoadGraphModel(dir); }));
      },
      arg("directory"));
  m.def(
      "load_any_model",
      [](const std::string& dir) -> py::object {
        std::shared_ptr<Model> model = Released([&] { return nn::LoadAnyModel(dir); });
        // As its own kind, each bound with its own holder.
        if (auto g = std::dynamic_pointer_cast<GraphModel>(model)) return py::cast(g);
        return py::cast(std::dynamic_pointer_cast<nn::Sequential>(model));
      },
      arg("directory"), "A saved model of any kind, as the checkpoint says it is.");
}

// Signatures as {"inputs": [{"name", "dtype", "shape"}...], "outputs": [...]}.
void BindSignature(py::module_& m) {
  auto to_dict = [](const nn::ModelSignature& sig) {
    auto specs = [](const std::vector<nn::TensorSpec>& list) {
      py::list out;
      for (const nn::TensorSpec& s : list) {
        out.append(py::dict(py::arg("name") = s.name, py::arg("dtype") = DTypeName(s.dtype),
                            py::arg("shape") = s.shape));
      }
      return out;
    };
    return py::dict(py::arg("inputs") = specs(sig.inputs), py::arg("outputs") = specs(sig.outputs));
  };
  m.def("read_signature", [=](const std::string& dir) {
    return to_dict(Released([&] { return nn::ReadSignature(dir); }));
  });
  m.def("model_signature", [=](const nn::Sequential& s) { return to_dict(Unwrap(s.signature())); });
  m.def("model_signature", [=](const GraphModel& g) { return to_dict(Unwrap(g.signature())); });
}

void BindNnModels(py::module_& m) {
  BindSignature(m);
  BindDataset(m);
  BindGraph(m);
  BindDatasetTraining<nn::Sequential>(m);
  BindDatasetTraining<GraphModel>(m);
}

}  // namespace

static BinderRegistration reg("nn_models", "Graph models and Datasets", &BindNnModels);

}  // namespace mlcore::python
