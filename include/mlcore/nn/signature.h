// What a model takes and gives, by name: the contract a server checks requests against and
// reports on its metadata endpoints (KServe V2 `inputs`/`outputs`), readable from a checkpoint
// without building the model. Shapes include the batch axis as -1.
#pragma once

#include <string>
#include <vector>

#include "mlcore/core/dtype.h"
#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"

namespace mlcore::nn {

struct TensorSpec {
  std::string name;
  // float32 for real-valued inputs and every output; int64 for an input that only Embedding
  // layers read (token ids; int32 and whole-number float32 are accepted too).
  DType dtype = DType::kFloat32;
  Shape shape;  // [-1, per-sample shape...]
  bool operator==(const TensorSpec&) const = default;
};

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  bool operator==(const ModelSignature&) const = default;

  // JSON text: {"format": "mlcore.nn.Signature", "version": 1, "inputs": [{"name", "dtype",
  // "shape"}...], "outputs": [...]}, as checkpoints hold it in signature.json.
  std::string ToJson() const;
  // DataLoss naming what is wrong when `text` is not such a document.
  static StatusOr<ModelSignature> FromJson(const std::string& text);
};

// The signature of the checkpoint in `dir`: its signature.json, read without building anything.
// A checkpoint written before signatures were saved has none; its signature is then derived by
// loading the model (LoadAnyModel). NotFound when `dir` holds no checkpoint.
StatusOr<ModelSignature> ReadSignature(const std::string& dir);

}  // namespace mlcore::nn
