#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "mlcore/core/half.h"
#include "mlcore/core/tensor_values.h"

namespace mlcore {
namespace {

StatusOr<Tensor> OnHost(const Tensor& tensor) {
  if (!tensor.defined()) return absl::InvalidArgumentError("an undefined tensor has no values");
  if (tensor.device() == Device::CPU()) return tensor;
  return tensor.To(Device::CPU());
}

template <typename T, typename S>
void Convert(const void* data, int64_t n, std::vector<T>& out) {
  const S* src = static_cast<const S*>(data);
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<S, float16>) {
      out[i] = static_cast<T>(Float16ToFloat(src[i]));
    } else if constexpr (std::is_same_v<S, bfloat16>) {
      out[i] = static_cast<T>(BFloat16ToFloat(src[i]));
    } else {
      out[i] = static_cast<T>(src[i]);
    }
  }
}

}  // namespace

template <typename T>
StatusOr<std::vector<T>> ToVector(const Tensor& tensor) {
  MLCORE_ASSIGN_OR_RETURN(Tensor host, OnHost(tensor));
  std::vector<T> out(static_cast<size_t>(host.numel()));
  const void* data = host.data();
  const int64_t n = host.numel();
  switch (host.dtype()) {
    case DType::kBool:
      Convert<T, bool>(data, n, out);
      break;
    case DType::kUInt8:
      Convert<T, uint8_t>(data, n, out);
      break;
    case DType::kInt32:
      Convert<T, int32_t>(data, n, out);
      break;
    case DType::kInt64:
      Convert<T, int64_t>(data, n, out);
      break;
    case DType::kFloat16:
      Convert<T, float16>(data, n, out);
      break;
    case DType::kBFloat16:
      Convert<T, bfloat16>(data, n, out);
      break;
    case DType::kFloat32:
      Convert<T, float>(data, n, out);
      break;
    case DType::kFloat64:
      Convert<T, double>(data, n, out);
      break;
  }
  return out;
}

template StatusOr<std::vector<float>> ToVector<float>(const Tensor&);
template StatusOr<std::vector<double>> ToVector<double>(const Tensor&);
template StatusOr<std::vector<int64_t>> ToVector<int64_t>(const Tensor&);
template StatusOr<std::vector<int32_t>> ToVector<int32_t>(const Tensor&);
template StatusOr<std::vector<uint8_t>> ToVector<uint8_t>(const Tensor&);
template StatusOr<std::vector<bool>> ToVector<bool>(const Tensor&);

StatusOr<double> Item(const Tensor& tensor) {
  if (tensor.defined() && tensor.numel() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Item needs one element, got ", tensor.ToString()));
  }
  MLCORE_ASSIGN_OR_RETURN(std::vector<double> values, ToVector<double>(tensor));
  return values.at(0);
}

StatusOr<std::vector<int64_t>> Argmax(const Tensor& tensor) {
  if (tensor.defined() && (tensor.dim() == 0 || tensor.shape().back() == 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Argmax needs a non-empty last axis, got ", tensor.ToString()));
  }
  MLCORE_ASSIGN_OR_RETURN(std::vector<double> values, ToVector<double>(tensor));
  const int64_t cols = tensor.shape().back();
  const int64_t rows = tensor.numel() / cols;
  std::vector<int64_t> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = values.data() + r * cols;
    int64_t best = 0;
    for (int64_t c = 1; c < cols && !std::isnan(row[best]); ++c) {
      if (std::isnan(row[c]) || row[c] > row[best]) best = c;
    }
    out[r] = best;
  }
  return out;
}

StatusOr<Tensor> FloatTensor(const std::vector<double>& values, const Shape& shape) {
  std::vector<float> floats(values.begin(), values.end());
  return Tensor::FromVector(floats, shape);
}

}  // namespace mlcore
