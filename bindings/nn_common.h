// Helpers shared by the nn bindings (bindings/nn.cc, bindings/nn_models.cc): History as a dict,
// Python callbacks wrapped as nn::Callback, and the members every model kind binds alike.
#pragma once

#include <pybind11/stl.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "bindings.h"
#include "convert.h"
#include "mlcore/nn/callback.h"
#include "mlcore/nn/model.h"

namespace mlcore::python::nn_bindings {

inline py::dict HistoryDict(const nn::History& h) {
  py::dict d;
  d["history"] = h.metrics;
  d["epochs_run"] = h.epochs_run;
  d["stopped_early"] = h.stopped_early;
  return d;
}

// A fit callback's call, with the GIL. Ctrl-C that lands in the callback stops Fit and is left
// pending for the binding to raise once Fit has returned (SignalPoll::RaiseIfInterrupted).
template <typename... Args>
StatusOr<py::object> CallStoppingOnCtrlC(const PyCallable& fn, Args&&... args) {
  try {
    return fn.get()(std::forward<Args>(args)...);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_KeyboardInterrupt)) return fn.Raised(e);
    PyErr_SetInterrupt();
    return absl::CancelledError("interrupted (KeyboardInterrupt)");
  }
}

// A Python callback: an mlcore.nn one, or any object with on_epoch_end(epoch, logs) and/or
// Keras's on_train_batch_end(batch, logs) (given logs["epoch"] and, when known,
// logs["batches"]: the epoch's batch count).
inline std::shared_ptr<nn::Callback> ToCallback(const py::handle& obj) {
  if (py::isinstance<nn::Callback>(obj)) return obj.cast<std::shared_ptr<nn::Callback>>();
  const bool epochs = py::hasattr(obj, "on_epoch_end");
  const bool batches = py::hasattr(obj, "on_train_batch_end");
  if (!epochs && !batches) {
    throw py::type_error(
        "callbacks must be mlcore.nn callbacks or objects with on_epoch_end or "
        "on_train_batch_end");
  }
  nn::EpochFn on_epoch;
  if (epochs) {
    PyCallable fn(py::reinterpret_borrow<py::object>(obj.attr("on_epoch_end")));
    on_epoch = [fn](int epoch, const nn::Logs& logs) -> StatusOr<bool> {
      py::gil_scoped_acquire gil;  // first: outlives `r`
      MLCORE_ASSIGN_OR_RETURN(py::object r, CallStoppingOnCtrlC(fn, epoch, logs));
      return py::bool_(r).cast<bool>();
    };
  }
  nn::BatchFn on_batch;
  if (batches) {
    PyCallable fn(py::reinterpret_borrow<py::object>(obj.attr("on_train_batch_end")));
    on_batch = [fn](int epoch, int64_t batch, int64_t count, const nn::Logs& logs) -> Status {
      nn::Logs with = logs;
      with["epoch"] = epoch;
      if (count >= 0) with["batches"] = static_cast<double>(count);
      py::gil_scoped_acquire gil;
      return CallStoppingOnCtrlC(fn, batch, with).status();
    };
  }
  return nn::LambdaCallback(std::move(on_epoch), std::move(on_batch));
}

// One TrainStep's numbers under the names Fit logs per epoch ("loss", "accuracy" when compiled
// with it, "<output>_loss"/"<output>_accuracy" with several outputs, "skipped_steps" under
// on_non_finite=skip), so train_on_batch(return_dict=True) reads like a History row.
inline nn::Logs StepLogs(const nn::Model& m, const nn::StepResult& step, int64_t batch) {
  nn::EpochTotals totals;
  totals.AddBatch(step, batch);
  nn::Logs logs = totals.ToLogs(m.output_names(), !step.output_correct.empty());
  if (!step.applied) logs["loss"] = step.loss;  // the non-finite value that skipped the step
  if (m.compile_options().on_non_finite == nn::NonFinitePolicy::kSkipStep) {
    logs["skipped_steps"] = step.applied ? 0.0 : 1.0;
  }
  return logs;
}

// The one-batch calls both model kinds expose: train_on_batch, test_on_batch, predict_on_batch.
template <typename M>
void BindBatchCalls(py::class_<M, std::shared_ptr<M>>& cls) {
  cls.def(
         "train_on_batch",
         [](M& m, nn::TensorList x, nn::TensorList y, bool return_dict,
            std::optional<Tensor> sample_weight,
            std::map<int64_t, double> class_weight) -> py::object {
           const int64_t batch = x.empty() || x[0].dim() < 1 ? 0 : x[0].shape()[0];
           const Tensor w = sample_weight ? *sample_weight : Tensor();
           nn::StepResult r = Released([&] { return m.TrainStep(x, y, w, class_weight); });
           if (!return_dict) return py::float_(r.loss);
           return py::cast(StepLogs(m, r, batch));
         },
         py::arg("x"), py::arg("y"), py::arg("return_dict") = false,
         py::arg("sample_weight") = py::none(),
         py::arg("class_weight") = std::map<int64_t, double>{},
         "One TrainStep (forward, loss, backward, clipping, optimizer step) on x/y, one "
         "tensor per input/output; the loss, or with return_dict the step's logs.")
      .def(
          "test_on_batch",
          [](M& m, nn::TensorList x, nn::TensorList y, bool return_dict,
             std::optional<Tensor> sample_weight) -> py::object {
            // The whole batch as one Evaluate batch: no update, training=false.
            const int64_t batch = x.empty() || x[0].dim() < 1 ? 1 : x[0].shape()[0];
            const Tensor w = sample_weight ? *sample_weight : Tensor();
            nn::Logs logs =
                Released([&] { return m.EvaluateWeighted(x, y, w, std::max<int64_t>(batch, 1)); });
            if (!return_dict) return py::float_(logs["loss"]);
            return py::cast(logs);
          },
          py::arg("x"), py::arg("y"), py::arg("return_dict") = false,
          py::arg("sample_weight") = py::none(),
          "Loss (or all logs with return_dict) of one batch, without updating anything.")
      .def(
          "predict_on_batch",
          [](M& m, nn::TensorList x) {
            const int64_t batch = x.empty() || x[0].dim() < 1 ? 1 : x[0].shape()[0];
            return Released([&] { return m.PredictAll(x, std::max<int64_t>(batch, 1)); });
          },
          py::arg("x"), "The outputs of one inference forward pass, one tensor per output.");
}

// The members both model kinds (Sequential, GraphModel) expose the same way through nn::Model.
template <typename M>
void BindModelCommon(py::class_<M, std::shared_ptr<M>>& cls) {
  cls.def(
         "compile",
         [](M& m, std::shared_ptr<optim::Optimizer> opt, std::string loss,
            std::vector<std::string> metrics, std::shared_ptr<optim::LRSchedule> schedule,
            double clip, bool skip_non_finite, std::vector<double> loss_weights) {
           nn::CompileOptions o;
           o.optimizer = std::move(opt);
           o.loss = std::move(loss);
           o.metrics = std::move(metrics);
           o.schedule = std::move(schedule);
           o.clip_grad_norm = clip;
           o.on_non_finite =
               skip_non_finite ? nn::NonFinitePolicy::kSkipStep : nn::NonFinitePolicy::kStop;
           o.loss_weights = std::move(loss_weights);
           // Compile waits for a Fit on another thread, whose callbacks may need the GIL.
           Released([&] { return m.Compile(std::move(o)); });
         },
         py::arg("optimizer"), py::arg("loss"), py::arg("metrics"), py::arg("schedule"),
         py::arg("clip_grad_norm"), py::arg("skip_non_finite"),
         py::arg("loss_weights") = std::vector<double>{})
      .def_property(
          "precision", &M::precision,
          [](M& m, const std::string& p) { Released([&] { return m.set_precision(p); }); },
          "Matrix-product precision of every pass: \"float32\" or \"bf16\" (not saved).")
      .def_property_readonly("compiled", &M::compiled)
      .def_property_readonly("epochs_trained", &M::epochs_trained)
      .def_property_readonly("optimizer", &M::optimizer)
      .def_property_readonly("num_parameters", &M::NumParameters)
      .def_property_readonly("device", [](const M& m) { return m.device().ToString(); })
      .def(
          "to",
          [](M& m, const std::string& device) {
            const Device d = Unwrap(ParseDevice(device));
            Released([&] { return m.To(d); });
          },
          py::arg("device"))
      .def(
          "set_grad_ready_hook",
          [](M& m, py::object fn) {
            nn::GradReadyHook hook;
            if (!fn.is_none()) {
              PyCallable call(std::move(fn), "gradient hook");
              hook = [call](nn::Parameter& p) -> Status {
                return call.Call(p.name, p.grad).status();
              };
            }
            py::gil_scoped_release release;  // setting it waits for a step in flight
            m.SetGradReadyHook(std::move(hook));
          },
          py::arg("hook"), "hook(name, grad) for each parameter as its gradient is ready.")
      .def("weights",
           [](M& m) {
             std::map<std::string, Tensor> out;
             for (nn::Parameter* p : m.parameters()) out[p->name] = p->value;
             return out;
           })
      .def(
          "save", [](M& m, const std::string& dir) { Released([&] { return m.Save(dir); }); },
          py::arg("directory"));
  BindBatchCalls(cls);
}

}  // namespace mlcore::python::nn_bindings
