// Summary and Probabilities (inspect.h).
#include "mlcore/nn/inspect.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "mlcore/nn/layer.h"

namespace mlcore::nn {
namespace {

int64_t Count(const std::vector<Parameter*>& params) {
  int64_t n = 0;
  for (const Parameter* p : params) n += p->value.numel();
  return n;
}

std::string ShapeText(const Shape& s) {
  std::vector<std::string> dims = {"None"};
  for (int64_t d : s) dims.push_back(std::to_string(d));
  return absl::StrCat("(", absl::StrJoin(dims, ", "), ")");
}

// 1234567 -> "1,234,567", as Keras prints counts.
std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

enum class Kind { kSoftmax, kSigmoid };

StatusOr<Kind> ProbabilityKind(const Model& model) {
  if (!model.compiled()) {
    return absl::FailedPreconditionError(
        "probabilities: the model is not compiled, so its loss (and what its outputs mean) is "
        "unknown");
  }
  const std::string& loss = model.compile_options().loss;
  if (loss == "cross_entropy" || loss == "softmax_cross_entropy" ||
      loss == "sparse_categorical_crossentropy") {
    return Kind::kSoftmax;
  }
  if (loss == "binary_cross_entropy" || loss == "bce") return Kind::kSigmoid;
  return absl::FailedPreconditionError(
      absl::StrCat("probabilities: the model is compiled with loss '", loss,
                   "', whose outputs are not class scores (cross_entropy or "
                   "binary_cross_entropy give probabilities)"));
}

}  // namespace

StatusOr<std::string> Summary(const Model& model) {
  if (!model.built()) {
    return absl::FailedPreconditionError(
        "summary: the model is not built yet (call build(input_shape) or fit first)");
  }
  struct Row {
    std::string name, shape, params;
  };
  std::vector<Row> rows = {{"Layer (type)", "Output Shape", "Param #"}};
  int64_t trainable = 0, buffers = 0;
  for (Layer* layer : model.AllLayers()) {
    const int64_t n = Count(layer->parameters());
    trainable += n;
    buffers += Count(layer->buffers());
    rows.push_back({absl::StrCat(layer->name(), " (", layer->type(), ")"),
                    ShapeText(layer->output_shape()), Grouped(n)});
  }
  size_t w0 = 0, w1 = 0, w2 = 0;
  for (const Row& r : rows) {
    w0 = std::max(w0, r.name.size());
    w1 = std::max(w1, r.shape.size());
    w2 = std::max(w2, r.params.size());
  }
  const std::string rule(w0 + w1 + w2 + 4, '-');
  std::string out = absl::StrCat("Model: ", model.kind(), "\n", rule, "\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    absl::StrAppendFormat(&out, "%-*s  %-*s  %*s\n", static_cast<int>(w0), rows[i].name,
                          static_cast<int>(w1), rows[i].shape, static_cast<int>(w2),
                          rows[i].params);
    if (i == 0) absl::StrAppend(&out, rule, "\n");
  }
  absl::StrAppend(&out, rule, "\nTotal params: ", Grouped(trainable + buffers),
                  "\nTrainable params: ", Grouped(trainable),
                  "\nNon-trainable params: ", Grouped(buffers), "\n");
  return out;
}

StatusOr<TensorList> Probabilities(const Model& model, const TensorList& outputs) {
  MLCORE_ASSIGN_OR_RETURN(Kind kind, ProbabilityKind(model));
  TensorList out;
  for (const Tensor& logits : outputs) {
    if (logits.dtype() != DType::kFloat32 || logits.shape().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "probabilities: outputs must be float32 with a batch axis, got ", logits.ToString()));
    }
    MLCORE_ASSIGN_OR_RETURN(Tensor host, logits.To(Device::CPU()));
    MLCORE_ASSIGN_OR_RETURN(Tensor p, Tensor::Empty(host.shape(), DType::kFloat32));
    const float* x = host.data<float>();
    float* y = p.data<float>();
    const int64_t n = host.numel();
    const int64_t width = host.shape().size() > 1 ? host.shape().back() : 1;
    if (kind == Kind::kSigmoid || width == 0) {
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(1.0 / (1.0 + std::exp(-x[i])));
    } else {
      for (int64_t row = 0; row < n / width; ++row) {
        const float* xr = x + row * width;
        float* yr = y + row * width;
        const float top = *std::max_element(xr, xr + width);
        double sum = 0;
        for (int64_t j = 0; j < width; ++j) sum += std::exp(static_cast<double>(xr[j]) - top);
        for (int64_t j = 0; j < width; ++j) {
          yr[j] = static_cast<float>(std::exp(static_cast<double>(xr[j]) - top) / sum);
        }
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace mlcore::nn
