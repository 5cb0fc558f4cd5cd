#include "nn/model_inputs.h"

#include "mlcore/ops/elementwise.h"

namespace mlcore::nn::internal {
namespace {

StatusOr<Tensor> As(const Tensor& t, DType dtype) {
  if (!t.defined() || t.dtype() == dtype) return t;
  return ops::Cast(t, dtype);
}

bool FloatTargets(const std::string& loss) {
  return loss == "mse" || loss == "mean_squared_error" || loss == "bce" ||
         loss == "binary_cross_entropy";
}

}  // namespace

StatusOr<TensorList> ModelInputs(const TensorList& x) {
  TensorList out;
  out.reserve(x.size());
  for (const Tensor& t : x) {
    DType to = t.defined() ? t.dtype() : DType::kFloat32;
    if (to == DType::kFloat16 || to == DType::kFloat64) to = DType::kFloat32;
    if (to == DType::kBool || to == DType::kUInt8) to = DType::kInt64;
    MLCORE_ASSIGN_OR_RETURN(Tensor converted, As(t, to));
    out.push_back(std::move(converted));
  }
  return out;
}

StatusOr<TensorList> ModelTargets(const TensorList& y, const std::string& loss) {
  TensorList out;
  out.reserve(y.size());
  for (const Tensor& t : y) {
    DType to = t.defined() ? t.dtype() : DType::kFloat32;
    if (FloatTargets(loss)) {
      to = DType::kFloat32;
    } else if (to == DType::kBool || to == DType::kUInt8) {
      to = DType::kInt64;
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor converted, As(t, to));
    out.push_back(std::move(converted));
  }
  return out;
}

StatusOr<Tensor> SampleWeight(const Tensor& w) { return As(w, DType::kFloat32); }

}  // namespace mlcore::nn::internal
