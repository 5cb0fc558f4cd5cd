#include "nn/bf16.h"

#include <string>

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

}  // namespace mlcore::nn::internal
