// mlcore.nn: layers, Sequential models, callbacks and checkpoints. Training runs without the
// GIL; Python callbacks and gradient hooks take it back only while they run. A Python exception
// raised inside one aborts Fit and surfaces as RuntimeError carrying the original message.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "bindings.h"
#include "mlcore/nn/callback.h"
#include "mlcore/nn/layers.h"
#include "mlcore/nn/safetensors.h"
#include "mlcore/nn/sequential.h"
#include "mlcore/nn/tensorboard.h"
#include "nn_common.h"
#include "signal_poll.h"

namespace mlcore::python {
namespace {

using nn::Callback;
using nn::Layer;
using nn::Logs;
using nn::Sequential;

using nn_bindings::HistoryDict;
using nn_bindings::ToCallback;

void BindLayerClass(py::module_& m) {
  py::class_<Layer, std::shared_ptr<Layer>>(m, "Layer", "One differentiable step of a model.")
      .def_property_readonly("type", &Layer::type)
      .def_property("name", &Layer::name, &Layer::set_name)
      .def_property_readonly("config", &Layer::config)
      .def_property_readonly("built", &Layer::built)
      .def_property_readonly("input_shape", &Layer::input_shape)
      .def_property_readonly("output_shape", &Layer::output_shape)
      .def(
          "weights",
          [](Layer& l) {
            std::map<std::string, Tensor> out;
            for (nn::Parameter* p : l.parameters()) out[p->name] = p->value;
            return out;
          },
          "Parameters by name, as tensors sharing the layer's memory.")
      .def(
          "buffers",
          [](Layer& l) {
            std::map<std::string, Tensor> out;
            for (nn::Parameter* p : l.buffers()) out[p->name] = p->value;
            return out;
          },
          "Non-trainable state by name (BatchNorm's running statistics), sharing the layer's "
          "memory.")
      .def("__repr__", [](const Layer& l) {
        return "<mlcore.nn " + l.type() + (l.name().empty() ? "" : " '" + l.name() + "'") + ">";
      });
  m.def(
      "create_layer",
      [](const std::string& type, const nn::LayerConfig& config) {
        return Unwrap(nn::CreateLayer(type, config));
      },
      py::arg("type"), py::arg("config") = nn::LayerConfig{});
  m.def("registered_layers", &nn::RegisteredLayers);
}

// Dense, the activations and the other layers without windows. Defaults come from the C++
// option structs, so each is written once.
void BindDenseLayers(py::module_& m) {
  using py::arg;
  const nn::DenseOptions dense;
  m.def(
      "dense", [](int64_t units, bool use_bias) { return Unwrap(nn::Dense(units, {use_bias})); },
      arg("units"), arg("use_bias") = dense.use_bias);
  m.def("relu", &nn::ReLU);
  m.def("gelu", &nn::GELU);
  m.def("tanh", &nn::Tanh);
  m.def("sigmoid", &nn::Sigmoid);
  m.def("softmax", &nn::Softmax);
  m.def("flatten", &nn::Flatten);
  m.def(
      "dropout", [](double rate, uint64_t seed) { return Unwrap(nn::Dropout(rate, seed)); },
      arg("rate"), arg("seed") = 0);
  m.def(
      "layer_norm", [](double eps) { return Unwrap(nn::LayerNorm(eps)); }, arg("eps") = 1e-5);
  const nn::BatchNormOptions norm;
  m.def(
      "batch_norm1d",
      [](double momentum, double eps) {
        return Unwrap(nn::BatchNorm1d({momentum, eps}));
      },
      arg("momentum") = norm.momentum, arg("eps") = norm.eps);
  m.def(
      "batch_norm2d",
      [](double momentum, double eps) {
        return Unwrap(nn::BatchNorm2d({momentum, eps}));
      },
      arg("momentum") = norm.momentum, arg("eps") = norm.eps);
  m.def(
      "embedding",
      [](int64_t num_embeddings, int64_t dim) {
        return Unwrap(nn::Embedding(num_embeddings, dim));
      },
      arg("num_embeddings"), arg("dim"));
}

// Every window quantity arrives as a {height, width} pair (mlcore.nn spreads ints over both);
// padding_mode "" keeps the padding numbers, "valid" / "same" replace them.
nn::PaddingMode ModeOf(const char* layer, const std::string& padding_mode) {
  return padding_mode.empty() ? nn::PaddingMode::kExplicit
                              : Unwrap(nn::ParsePaddingMode(layer, padding_mode));
}

// stride std::nullopt: the window (PyTorch's default).
nn::Pool2dOptions PoolOptions(const char* layer, std::optional<nn::HW> stride, nn::HW padding,
                              bool ceil_mode, const std::string& padding_mode) {
  nn::Pool2dOptions o;
  o.stride_hw = stride;
  o.padding_hw = padding;
  o.ceil_mode = ceil_mode;
  o.padding_mode = ModeOf(layer, padding_mode);
  return o;
}

void BindConvLayers(py::module_& m) {
  using py::arg;
  const nn::Conv2dOptions conv;
  m.def(
      "conv2d",
      [](int64_t filters, nn::HW kernel, nn::HW stride, nn::HW padding, nn::HW dilation,
         bool use_bias, int64_t groups, const std::string& padding_mode) {
        nn::Conv2dOptions o;
        o.use_bias = use_bias;
        o.groups = groups;
        o.stride_hw = stride;
        o.padding_hw = padding;
        o.dilation_hw = dilation;
        o.padding_mode = ModeOf("Conv2d", padding_mode);
        return Unwrap(nn::Conv2d(filters, kernel, o));
      },
      arg("filters"), arg("kernel_size"), arg("stride"), arg("padding"), arg("dilation"),
      arg("use_bias") = conv.use_bias, arg("groups") = conv.groups, arg("padding_mode") = "");
  const nn::Pool2dOptions pool;
  const nn::HW no_padding{pool.padding, pool.padding};
  m.def(
      "max_pool2d",
      [](nn::HW kernel, std::optional<nn::HW> stride, nn::HW padding, nn::HW dilation,
         bool ceil_mode, const std::string& padding_mode) {
        nn::Pool2dOptions o = PoolOptions("MaxPool2d", stride, padding, ceil_mode, padding_mode);
        o.dilation_hw = dilation;
        return Unwrap(nn::MaxPool2d(kernel, o));
      },
      arg("kernel_size"), arg("stride") = py::none(), arg("padding") = no_padding,
      arg("dilation") = nn::HW{pool.dilation, pool.dilation}, arg("ceil_mode") = pool.ceil_mode,
      arg("padding_mode") = "");
  m.def(
      "avg_pool2d",
      [](nn::HW kernel, std::optional<nn::HW> stride, nn::HW padding, bool ceil_mode,
         bool count_include_pad, int64_t divisor_override, const std::string& padding_mode) {
        nn::Pool2dOptions o = PoolOptions("AvgPool2d", stride, padding, ceil_mode, padding_mode);
        o.count_include_pad = count_include_pad;
        o.divisor_override = divisor_override;
        return Unwrap(nn::AvgPool2d(kernel, o));
      },
      arg("kernel_size"), arg("stride") = py::none(), arg("padding") = no_padding,
      arg("ceil_mode") = pool.ceil_mode, arg("count_include_pad") = pool.count_include_pad,
      arg("divisor_override") = pool.divisor_override, arg("padding_mode") = "");
  m.def("global_avg_pool2d", &nn::GlobalAveragePooling2D);
  m.def("global_max_pool2d", &nn::GlobalMaxPooling2D);
}

void BindLayers(py::module_& m) {
  BindLayerClass(m);
  BindDenseLayers(m);
  BindConvLayers(m);
}

void BindCallbacks(py::module_& m) {
  using py::arg;
  py::class_<Callback, std::shared_ptr<Callback>>(m, "Callback",
                                                  "Watches training epoch by epoch.");
  m.def(
      "early_stopping",
      [](std::string monitor, int patience, double min_delta, std::string mode, bool restore) {
        return Unwrap(nn::EarlyStopping({monitor, patience, min_delta, mode, restore}));
      },
      arg("monitor") = "val_loss", arg("patience") = 3, arg("min_delta") = 0.0,
      arg("mode") = "auto", arg("restore_best_weights") = false);
  m.def(
      "model_checkpoint",
      [](std::string directory, std::string monitor, bool best_only, std::string mode) {
        return Unwrap(nn::ModelCheckpoint({directory, monitor, best_only, mode}));
      },
      arg("directory"), arg("monitor") = "val_loss", arg("save_best_only") = false,
      arg("mode") = "auto");
  m.def(
      "reporter",
      [](std::string monitor, py::object fn) {
        PyCallable call(std::move(fn));
        return nn::Reporter(monitor, [call](double v, int epoch) -> StatusOr<bool> {
          py::gil_scoped_acquire gil;  // first: outlives `r`
          MLCORE_ASSIGN_OR_RETURN(py::object r, call.Call(v, epoch));
          return py::bool_(r).cast<bool>();
        });
      },
      arg("monitor"), arg("report"),
      "Calls report(value, epoch) with logs[monitor] each epoch; a true result stops training.");
}

void BindTensorBoard(py::module_& m) {
  using py::arg;
  m.def(
      "tensorboard", [](const std::string& log_dir) { return Unwrap(nn::TensorBoard(log_dir)); },
      arg("log_dir"), "A callback writing each epoch's logs as TensorBoard scalars.");
  py::class_<nn::SummaryWriter>(m, "SummaryWriter", "TensorBoard event file writer.")
      .def(py::init(
               [](const std::string& log_dir) { return Unwrap(nn::SummaryWriter::Open(log_dir)); }),
           arg("log_dir"))
      .def_property_readonly("path", &nn::SummaryWriter::path)
      .def(
          "add_scalar",
          [](nn::SummaryWriter& w, const std::string& tag, double value, int64_t step) {
            ThrowIfError(w.AddScalar(tag, value, step));
          },
          arg("tag"), arg("value"), arg("step"))
      .def("flush", [](nn::SummaryWriter& w) { ThrowIfError(w.Flush()); });
}

void BindSequential(py::module_& m) {
  using py::arg;
  py::class_<Sequential, std::shared_ptr<Sequential>> seq(m, "Sequential",
                                                          "Layers applied in order (C++ core).");
  nn_bindings::BindModelCommon(seq);
  seq.def(py::init<std::vector<std::shared_ptr<Layer>>>(), arg("layers"))
      .def("add", [](Sequential& s, std::shared_ptr<Layer> l) { ThrowIfError(s.Add(l)); })
      .def_property_readonly("layers", &Sequential::layers)
      .def_property_readonly("built", &Sequential::built)
      .def_property_readonly("input_shape", &Sequential::input_shape)
      .def(
          "build",
          [](Sequential& s, const Shape& shape, uint64_t seed) {
            ThrowIfError(s.Build(shape, seed));
          },
          arg("input_shape"), arg("seed") = 0)
      .def(
          "fit",
          [](Sequential& s, const Tensor& x, const Tensor& y, int epochs, int64_t batch_size,
             bool shuffle, uint64_t seed, std::optional<Tensor> vx, std::optional<Tensor> vy,
             const py::list& callbacks, std::string device, int initial_epoch,
             std::string precision, std::optional<Tensor> sample_weight,
             std::map<int64_t, double> class_weight, std::shared_ptr<nn::FitStrategy> strategy) {
            nn::FitOptions o;
            o.strategy = std::move(strategy);
            if (sample_weight) o.sample_weight = *sample_weight;
            o.class_weight = std::move(class_weight);
            o.precision = std::move(precision);
            o.epochs = epochs;
            o.batch_size = batch_size;
            o.shuffle = shuffle;
            o.seed = seed;
            if (vx) o.validation_x = *vx;
            if (vy) o.validation_y = *vy;
            for (const py::handle& cb : callbacks) o.callbacks.push_back(ToCallback(cb));
            o.device = std::move(device);
            o.initial_epoch = initial_epoch;
            SignalPoll ctrl_c;
            o.interrupt = ctrl_c.Poller();
            StatusOr<nn::History> h = [&] {
              py::gil_scoped_release release;
              return s.Fit(x, y, o);
            }();
            ctrl_c.RaiseIfInterrupted();
            return HistoryDict(Unwrap(std::move(h)));
          },
          arg("x"), arg("y"), arg("epochs"), arg("batch_size"), arg("shuffle"), arg("seed"),
          arg("validation_x"), arg("validation_y"), arg("callbacks"), arg("device"),
          arg("initial_epoch"), arg("precision") = "", arg("sample_weight") = py::none(),
          arg("class_weight") = std::map<int64_t, double>{}, arg("strategy") = nullptr)
      .def(
          "evaluate",
          [](Sequential& s, const Tensor& x, const Tensor& y, int64_t batch_size,
             std::optional<Tensor> sample_weight) {
            const Tensor w = sample_weight ? *sample_weight : Tensor();
            return Released([&] { return s.EvaluateWeighted({x}, {y}, w, batch_size); });
          },
          arg("x"), arg("y"), arg("batch_size") = 256, arg("sample_weight") = py::none())
      .def(
          "predict",
          [](Sequential& s, const Tensor& x, int64_t batch_size) {
            return Released([&] { return s.Predict(x, batch_size); });
          },
          arg("x"), arg("batch_size") = 256)
      .def(
          "train_step",
          [](Sequential& s, const Tensor& x, const Tensor& y) {
            nn::StepResult r = Released([&] { return s.TrainStep(x, y); });
            return py::make_tuple(r.loss, r.correct, r.applied);
          },
          arg("x"), arg("y"), "One step; returns (loss, correct, applied).")
      .def(
          "load_weights",
          [](Sequential& s, const std::string& dir) {
            Released([&] { return s.LoadWeights(dir); });
          },
          arg("directory"));
}

void BindCheckpoints(py::module_& m) {
  using py::arg;
  m.def(
      "load_model",
      [](const std::string& dir) {
        return std::shared_ptr<Sequential>(Released([&] { return nn::LoadModel(dir); }));
      },
      arg("directory"));
  m.def(
      "write_safetensors",
      [](const std::string& path, const std::map<std::string, Tensor>& tensors,
         const std::map<std::string, std::string>& metadata) {
        Released([&] { return nn::WriteSafetensors(path, tensors, metadata); });
      },
      arg("path"), arg("tensors"), arg("metadata") = std::map<std::string, std::string>{});
  m.def(
      "read_safetensors",
      [](const std::string& path) {
        nn::SafetensorsFile f = Released([&] { return nn::ReadSafetensors(path); });
        return py::make_tuple(f.tensors, f.metadata);
      },
      arg("path"), "(tensors, metadata) of a safetensors file.");
}

void BindNn(py::module_& m) {
  BindLayers(m);
  BindCallbacks(m);
  BindTensorBoard(m);
  BindSequential(m);
  BindCheckpoints(m);
}

static BinderRegistration reg("nn", "Layers, Sequential models, callbacks, checkpoints", &BindNn);

}  // namespace
}  // namespace mlcore::python
