#include "optim/optimizer_util.h"

#include "absl/strings/match.h"

namespace mlcore::optim::internal {

Status CheckParameters(const std::string& optimizer, absl::Span<Parameter* const> params) {
  for (const Parameter* p : params) {
    if (p == nullptr || !p->value.defined() || !p->grad.defined() ||
        p->value.dtype() != DType::kFloat32 || p->grad.dtype() != DType::kFloat32 ||
        p->value.device() != p->grad.device() || p->value.shape() != p->grad.shape()) {
      return absl::InvalidArgumentError(
          optimizer + ": parameter '" + (p ? p->name : std::string("null")) +
          "' needs float32 value and grad of one shape on one device");
    }
  }
  return absl::OkStatus();
}

StatusOr<float*> Slot(std::map<std::string, Tensor>& state, const Parameter& param,
                      const std::string& slot) {
  const std::string key = param.name + "/" + slot;
  auto it = state.find(key);
  if (it == state.end() || it->second.shape() != param.value.shape()) {
    MLCORE_ASSIGN_OR_RETURN(
        Tensor t, Tensor::Zeros(param.value.shape(), DType::kFloat32, param.value.device()));
    it = state.insert_or_assign(key, std::move(t)).first;
  } else if (it->second.device() != param.value.device()) {
    // State restored from a checkpoint (host) for a model that trains on a GPU, or moved.
    MLCORE_ASSIGN_OR_RETURN(it->second, it->second.To(param.value.device()));
  }
  return it->second.data<float>();
}

Status CheckState(const std::string& optimizer, const std::map<std::string, Tensor>& state,
                  std::initializer_list<const char*> slots) {
  for (const auto& [key, tensor] : state) {
    bool known = false;
    for (const char* slot : slots) known |= absl::EndsWith(key, std::string("/") + slot);
    if (!known || tensor.dtype() != DType::kFloat32) {
      return absl::InvalidArgumentError(optimizer + ": state entry '" + key +
                                        "' is not a float32 slot of this optimizer");
    }
  }
  return absl::OkStatus();
}

StatusOr<std::map<std::string, Tensor>> CloneState(const std::map<std::string, Tensor>& state) {
  std::map<std::string, Tensor> out;
  for (const auto& [key, tensor] : state) {
    MLCORE_ASSIGN_OR_RETURN(out[key], tensor.Clone());
  }
  return out;
}

double Get(const std::map<std::string, double>& config, const std::string& key, double fallback) {
  auto it = config.find(key);
  return it == config.end() ? fallback : it->second;
}

}  // namespace mlcore::optim::internal
