// Errors at every public boundary are absl::Status / absl::StatusOr. mlcore adds one marker on
// top: a TypeError (an argument of the wrong kind, such as an unsupported dtype), carried as an
// InvalidArgument status with a payload so that the Python bindings can raise TypeError.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mlcore {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

// An InvalidArgument status marked as a type error.
Status TypeError(std::string_view message);
// True for statuses made by TypeError().
bool IsTypeError(const Status& status);
// A NotFound status marked as a missing file or directory (Python: FileNotFoundError, where
// other NotFound statuses, for unknown names, are KeyError).
Status FileNotFound(std::string_view message);
bool IsFileNotFound(const Status& status);

// The status as a user should read it: "INVALID_ARGUMENT: message", without the payloads that
// Status::ToString() and operator<< append (mlcore's own markers, such as the type-error one,
// are for the bindings, not for people). "OK" for an OK status.
std::string StatusText(const Status& status);

// `status` with `prefix` before its message (saying where it happened), keeping its code and
// payloads: a type error stays one, a full disk stays one, a missing file stays one.
Status WithPrefix(const Status& status, std::string_view prefix);

}  // namespace mlcore

#define MLCORE_STATUS_CONCAT_INNER_(a, b) a##b
#define MLCORE_STATUS_CONCAT_(a, b) MLCORE_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` yields a non-OK status.
#define MLCORE_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status mlcore_status_ = (expr);          \
    if (!mlcore_status_.ok()) return mlcore_status_; \
  } while (0)

// `lhs = value of expr` when it is OK; otherwise returns its status from the enclosing function.
#define MLCORE_ASSIGN_OR_RETURN(lhs, expr) \
  MLCORE_ASSIGN_OR_RETURN_IMPL_(MLCORE_STATUS_CONCAT_(mlcore_statusor_, __LINE__), lhs, expr)
#define MLCORE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()
