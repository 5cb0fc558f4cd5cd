// The "mlcore" backend: a checkpoint written by mlcore.nn (architecture.json, weights,
// signature.json), loaded once per directory and device and shared by every instance, since
// inference on a built Model is reentrant. Runs on the CPU or on the configured CUDA device,
// after checking the weights fit in the device's free memory.
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "mlcore/core/cuda.h"
#include "mlcore/nn/model.h"
#include "mlcore/nn/signature.h"
#include "mlcore/serve/backend.h"

namespace mlcore::serve {
namespace {

// Loaded models by "<dir>|<device>", so instances and versions that point to one checkpoint
// share its weights. Weak: the model goes when its last instance does.
std::mutex cache_mu;
std::map<std::string, std::weak_ptr<nn::Model>>& Cache() {
  static auto* cache = new std::map<std::string, std::weak_ptr<nn::Model>>();
  return *cache;
}

int64_t ParameterBytes(const nn::Model& model) {
  int64_t bytes = 0;
  for (nn::Parameter* p : model.parameters()) bytes += p->value.nbytes();
  for (nn::Parameter* p : model.buffers()) bytes += p->value.nbytes();
  return bytes;
}

StatusOr<std::shared_ptr<nn::Model>> LoadShared(const std::string& dir, Device device,
                                                int64_t* device_bytes) {
  std::string key = absl::StrCat(dir, "|", device.ToString());
  std::lock_guard<std::mutex> lock(cache_mu);
  if (auto cached = Cache()[key].lock()) {
    *device_bytes = 0;  // counted once, by the instance that loaded it
    return cached;
  }
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<nn::Model> model, nn::LoadAnyModel(dir));
  *device_bytes = 0;
  if (device.type == DeviceType::kCUDA) {
    int64_t need = ParameterBytes(*model);
    MLCORE_ASSIGN_OR_RETURN(cuda::DeviceProperties props, cuda::GetDeviceProperties(device.index));
    if (static_cast<size_t>(need) > props.free_memory) {
      return absl::ResourceExhaustedError(
          absl::StrCat("model '", dir, "' needs ", need, " bytes on ", device.ToString(), ", only ",
                       props.free_memory, " are free (other models hold the rest)"));
    }
    MLCORE_RETURN_IF_ERROR(model->To(device));
    *device_bytes = need;
  }
  std::shared_ptr<nn::Model> shared(std::move(model));
  Cache()[key] = shared;
  return shared;
}

class NativeBackend : public Backend {
 public:
  NativeBackend(std::shared_ptr<nn::Model> model, Signature signature, int64_t device_bytes)
      : model_(std::move(model)), signature_(std::move(signature)), device_bytes_(device_bytes) {}

  const Signature& signature() const override { return signature_; }
  std::string platform() const override { return "mlcore"; }
  int64_t device_memory_bytes() const override { return device_bytes_; }

  StatusOr<std::vector<InferTensor>> Execute(const std::vector<InferTensor>& inputs) override {
    nn::TensorList x;
    x.reserve(inputs.size());
    int64_t rows = 1;
    for (const InferTensor& input : inputs) {
      MLCORE_ASSIGN_OR_RETURN(Tensor t, input.ToCoreTensor());
      if (!input.shape.empty()) rows = std::max<int64_t>(rows, input.shape[0]);
      x.push_back(std::move(t));
    }
    MLCORE_ASSIGN_OR_RETURN(nn::TensorList y, model_->PredictAll(x, rows));
    std::vector<InferTensor> out;
    out.reserve(y.size());
    for (size_t i = 0; i < y.size(); ++i) {
      std::string name =
          i < signature_.outputs.size() ? signature_.outputs[i].name : absl::StrCat("output_", i);
      MLCORE_ASSIGN_OR_RETURN(InferTensor t, InferTensor::FromCoreTensor(name, y[i]));
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  std::shared_ptr<nn::Model> model_;
  Signature signature_;
  int64_t device_bytes_;
};

std::vector<TensorInfo> ToInfos(const std::vector<nn::TensorSpec>& specs) {
  std::vector<TensorInfo> out;
  for (const nn::TensorSpec& spec : specs) {
    out.push_back({spec.name, FromCoreDType(spec.dtype), spec.shape});
  }
  return out;
}

StatusOr<std::unique_ptr<Backend>> NewNativeBackend(const BackendContext& context) {
  MLCORE_ASSIGN_OR_RETURN(nn::ModelSignature sig, nn::ReadSignature(context.path));
  int64_t device_bytes = 0;
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<nn::Model> model,
                          LoadShared(context.path, context.config.device, &device_bytes));
  Signature signature{ToInfos(sig.inputs), ToInfos(sig.outputs)};
  return std::unique_ptr<Backend>(
      new NativeBackend(std::move(model), std::move(signature), device_bytes));
}

Registrar<BackendFactory> registration(BackendRegistry(), "mlcore", &NewNativeBackend);

}  // namespace
}  // namespace mlcore::serve
