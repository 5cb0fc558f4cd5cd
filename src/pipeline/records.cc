#include "pipeline/records.h"

#include <random>

#include "absl/strings/str_format.h"

namespace mlcore::pipeline::internal {

double ToSeconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }

std::string NewRunId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  return absl::StrFormat("%016x%016x", gen(), gen());
}

}  // namespace mlcore::pipeline::internal
