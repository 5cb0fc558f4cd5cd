#include "mlcore/core/status.h"

#include "absl/strings/cord.h"
#include "strings.h"

namespace mlcore {
namespace {
// The payload key that marks an InvalidArgument status as a type error.
constexpr char kTypeErrorPayload[] = "mlcore.dev/type_error";
}  // namespace

Status TypeError(std::string_view message) {
  Status status = absl::InvalidArgumentError(internal::AV(message));
  status.SetPayload(kTypeErrorPayload, absl::Cord("1"));
  return status;
}

bool IsTypeError(const Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument &&
         status.GetPayload(kTypeErrorPayload).has_value();
}

}  // namespace mlcore
