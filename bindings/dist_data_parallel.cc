// mlcore._mlcore.dist.DataParallel: the data-parallel strategy over a communicator bound in
// dist.cc. Either model kind (Sequential, GraphModel) may be passed; every call releases the GIL
// (they are collectives that wait for the other ranks).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "bindings.h"
#include "convert.h"
#include "mlcore/dist/data_parallel.h"
#include "mlcore/dist/sync_batch_norm.h"
#include "mlcore/nn/graph_model.h"
#include "mlcore/nn/sequential.h"

namespace mlcore::python {
namespace {

using dist::DataParallel;

template <typename M>
void BindModelCalls(py::class_<DataParallel, nn::FitStrategy, std::shared_ptr<DataParallel>>& c) {
  using py::arg;
  c.def(
       "prepare", [](DataParallel& dp, M& model) { Released([&] { return dp.Prepare(model); }); },
       arg("model"))
      .def(
          "evaluate",
          [](DataParallel& dp, M& model, nn::TensorList x, nn::TensorList y, int64_t batch_size) {
            return Released([&] { return dp.Evaluate(model, x, y, batch_size); });
          },
          arg("model"), arg("x"), arg("y"), arg("batch_size") = 256)
      .def(
          "save",
          [](DataParallel& dp, M& model, const std::string& dir) {
            Released([&] { return dp.Save(model, dir); });
          },
          arg("model"), arg("directory"))
      .def(
          "resume",
          [](DataParallel& dp, M& model, const std::string& dir) {
            return Released([&] { return dp.Resume(model, dir); });
          },
          arg("model"), arg("directory"));
}

// Saves through DataParallel::Save after every epoch (rank 0 writes, the others wait).
class SaveCallback : public nn::Callback {
 public:
  SaveCallback(std::shared_ptr<DataParallel> dp, std::string dir)
      : dp_(std::move(dp)), dir_(std::move(dir)) {}
  Status OnEpochEnd(nn::Model& model, int, const nn::Logs&, bool*) override {
    return dp_->Save(model, dir_);
  }

 private:
  std::shared_ptr<DataParallel> dp_;
  std::string dir_;
};

void BindDataParallel(py::module_& m) {
  using py::arg;
  py::class_<nn::FitStrategy, std::shared_ptr<nn::FitStrategy>>(
      m, "FitStrategy", "How Fit spreads over processes (see nn/model.h).");
  py::class_<DataParallel, nn::FitStrategy, std::shared_ptr<DataParallel>> c(
      m, "DataParallel", "Data-parallel training over a communicator (see dist/data_parallel.h).");
  c.def(py::init([](dist::Communicator& comm, int64_t first_bucket_bytes, int64_t bucket_bytes,
                    std::optional<double> timeout, bool drop_last, bool sync_batchnorm) {
          dist::DataParallelOptions o;
          o.first_bucket_bytes = first_bucket_bytes;
          o.bucket_bytes = bucket_bytes;
          if (timeout) o.timeout = absl::Seconds(*timeout);
          o.drop_last = drop_last;
          o.sync_batchnorm = sync_batchnorm;
          // The Python Communicator owns it; keep_alive below holds that object as long as this.
          std::shared_ptr<dist::Communicator> borrowed(&comm, [](dist::Communicator*) {});
          return Unwrap(DataParallel::Create(std::move(borrowed), o));
        }),
        arg("comm"), arg("first_bucket_bytes") = dist::DataParallelOptions().first_bucket_bytes,
        arg("bucket_bytes") = dist::DataParallelOptions().bucket_bytes, arg("timeout") = py::none(),
        arg("drop_last") = dist::DataParallelOptions().drop_last,
        arg("sync_batchnorm") = dist::DataParallelOptions().sync_batchnorm, py::keep_alive<1, 2>())
      .def_property_readonly("rank", &DataParallel::rank)
      .def_property_readonly("world_size", &DataParallel::world_size)
      .def_property("sync", &DataParallel::sync, &DataParallel::set_sync)
      .def("bucket_sizes", &DataParallel::bucket_sizes)
      .def(
          "checkpoint_callback",
          [](std::shared_ptr<DataParallel> dp, std::string dir) -> std::shared_ptr<nn::Callback> {
            return std::make_shared<SaveCallback>(std::move(dp), std::move(dir));
          },
          arg("directory"));
  BindModelCalls<nn::Sequential>(c);
  BindModelCalls<nn::GraphModel>(c);
  m.def(
      "convert_sync_batchnorm",
      [](const std::vector<std::shared_ptr<nn::Layer>>& layers) {
        return Unwrap(dist::ConvertSyncBatchNorm(layers));
      },
      arg("layers"));
}

// After dist.cc's binders (Communicator) and dist_train.cc's.
BinderRegistration reg("dist", "", &BindDataParallel, 20);

}  // namespace
}  // namespace mlcore::python
