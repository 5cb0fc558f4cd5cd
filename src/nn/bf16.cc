#include "nn/bf16.h"

#include <string>

#include "core/device_dispatch.h"
#include "mlcore/core/half.h"

namespace mlcore::nn::internal {
namespace {

thread_local Precision current_precision = Precision::kFloat32;

}  // namespace

StatusOr<Precision> ParsePrecision(std::string_view text) {
  if (text == "float32" || text == "fp32") return Precision::kFloat32;
  if (text == "bf16" || text == "bfloat16") return Precision::kBFloat16;
  return absl::InvalidArgumentError("precision must be \"float32\" or \"bf16\", got \"" +
                                    std::string(text) + "\"");
}

const char* PrecisionName(Precision p) { return p == Precision::kBFloat16 ? "bf16" : "float32"; }

Precision ComputePrecision() { return current_precision; }

ScopedComputePrecision::ScopedComputePrecision(Precision p) : saved_(current_precision) {
  current_precision = p;
}

ScopedComputePrecision::~ScopedComputePrecision() { current_precision = saved_; }

void RoundToBf16(const float* in, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = BFloat16ToFloat(FloatToBFloat16(in[i]));
}

Status Bf16WeightCache::Refresh(const Tensor& w) {
  valid_ = false;
  if (!w.defined() || w.dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError(
        "bf16 weight copy: the weights must be a float32 tensor, got " +
        (w.defined() ? w.ToString() : std::string("undefined")));
  }
  const DType dtype = w.device().is_cuda() ? DType::kBFloat16 : DType::kFloat32;
  if (!store_.defined() || store_.numel() != w.numel() || store_.device() != w.device()) {
    MLCORE_ASSIGN_OR_RETURN(store_, Tensor::Empty({w.numel()}, dtype, w.device()));
  }
  if (w.device().is_cuda()) {
    MLCORE_RETURN_IF_ERROR(MLCORE_CUDA_TWIN(cuda::ToBf16(
        w.device().index, w.data<float>(), static_cast<uint16_t*>(store_.data()), w.numel())));
  } else {
    RoundToBf16(w.data<float>(), store_.data<float>(), w.numel());
  }
  source_ = w.data();
  numel_ = w.numel();
  device_ = w.device();
  valid_ = true;
  return absl::OkStatus();
}

bool Bf16WeightCache::Holds(const Tensor& w) const {
  return valid_ && w.defined() && w.data() == source_ && w.numel() == numel_ &&
         w.device() == device_;
}

}  // namespace mlcore::nn::internal
