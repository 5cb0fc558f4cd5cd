#include "mlcore/core/status.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "mlcore/core/disk_full.h"
#include "strings.h"

namespace mlcore {
namespace {
// The payload key that marks an InvalidArgument status as a type error.
constexpr char kTypeErrorPayload[] = "mlcore.dev/type_error";
// The payload key that marks a NotFound status as a missing file.
constexpr char kFileNotFoundPayload[] = "mlcore.dev/file_not_found";
// The payload key that marks a ResourceExhausted status as a full disk.
constexpr char kDiskFullPayload[] = "mlcore.dev/disk_full";
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

Status FileNotFound(std::string_view message) {
  Status status = absl::NotFoundError(internal::AV(message));
  status.SetPayload(kFileNotFoundPayload, absl::Cord("1"));
  return status;
}

bool IsFileNotFound(const Status& status) {
  return status.code() == absl::StatusCode::kNotFound &&
         status.GetPayload(kFileNotFoundPayload).has_value();
}

Status DiskFull(std::string_view message) {
  Status status = absl::ResourceExhaustedError(internal::AV(message));
  status.SetPayload(kDiskFullPayload, absl::Cord("1"));
  return status;
}

bool IsDiskFull(const Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         status.GetPayload(kDiskFullPayload).has_value();
}

std::string StatusText(const Status& status) {
  return status.ToString(absl::StatusToStringMode::kWithNoExtraData);
}

Status WithPrefix(const Status& status, std::string_view prefix) {
  Status out(status.code(), absl::StrCat(internal::AV(prefix), status.message()));
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace mlcore
