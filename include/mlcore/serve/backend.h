// A backend runs one instance of one model version: it loads from a path, states its signature
// and computes a batch. Backends are chosen by name through BackendRegistry(), so a new kind of
// model is one new file with a Registrar. Built in: "mlcore" (nn checkpoints), "python" (an
// mlcore.serve.Model subclass, registered by the Python extension) and "sequence" (ensembles).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/registry.h"
#include "mlcore/core/status.h"
#include "mlcore/serve/model_config.h"
#include "mlcore/serve/tensor.h"

namespace mlcore::serve {

class ModelManager;

struct TensorInfo {
  std::string name;
  DataType datatype = DataType::kFP32;
  Dims shape;  // -1 for any size; with batching on, the first axis is the batch axis (-1)
  bool operator==(const TensorInfo&) const = default;
};

struct Signature {
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
};

// What a backend factory receives.
struct BackendContext {
  std::string model_name;
  int64_t version = 1;
  std::string path;  // the version's directory (or checkpoint directory)
  ModelConfig config;
  int64_t instance_index = 0;
  // The manager serving the model: the "sequence" backend calls its steps through it.
  ModelManager* manager = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Inputs and outputs by name; with batching on (max_batch_size > 0) every shape starts with
  // the batch axis -1.
  virtual const Signature& signature() const = 0;
  // Computes one batch: `inputs` in signature order, each stacked along axis 0 when batching is
  // on. Returns every output, batch axis first, in signature order. Called from one instance
  // worker at a time per backend object, so a backend need not be reentrant; the native one is,
  // and its instances share one loaded model.
  virtual StatusOr<std::vector<InferTensor>> Execute(const std::vector<InferTensor>& inputs) = 0;
  // Device memory this instance holds (bytes), for the model's memory accounting; 0 on the CPU.
  virtual int64_t device_memory_bytes() const { return 0; }
  // Short platform word for metadata ("mlcore", "python", "ensemble").
  virtual std::string platform() const = 0;
};

using BackendFactory = std::function<StatusOr<std::unique_ptr<Backend>>(const BackendContext&)>;
Registry<BackendFactory>& BackendRegistry();

// A backend whose computation is a function: how the Python extension serves an
// mlcore.serve.Model (the function takes the GIL around the Python calls) and how C++ programs
// serve a lambda. The function receives the inputs as Execute does.
using ExecuteFunction =
    std::function<StatusOr<std::vector<InferTensor>>(const std::vector<InferTensor>& inputs)>;
std::unique_ptr<Backend> MakeFunctionBackend(Signature signature, ExecuteFunction fn,
                                             std::string platform = "function");

}  // namespace mlcore::serve
