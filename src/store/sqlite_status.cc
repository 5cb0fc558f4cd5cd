#include "store/sqlite_status.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "store/file_header.h"

namespace mlcore::store::internal {

using ::mlcore::internal::AV;

bool IsBusy(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

std::string QuoteSql(std::string_view sql) {
  constexpr size_t kMaxShown = 160;
  std::string shown(sql.substr(0, kMaxShown));
  if (sql.size() > kMaxShown) shown += "...";
  return absl::StrCat("\"", shown, "\"");
}

Status SqliteStatus(int rc, const std::string& path, std::string_view what,
                    std::string_view sqlite_message) {
  std::string detail =
      absl::StrCat(AV(sqlite_message), " (", sqlite3_errstr(rc), ", SQLite code ", rc, ")");
  std::string where = absl::StrCat("metadata store ", path);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(
          absl::StrCat(where, " is corrupted or is not an SQLite database, found while ", AV(what),
                       ": ", detail, "; ", DamagedStoreRemedy(path)));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::DeadlineExceededError(absl::StrCat(
          where, ": gave up waiting for another connection's lock (busy timeout) while ", AV(what),
          ": ", detail));
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(absl::StrCat(where, ": ", AV(what), ": ", detail));
      }
      return absl::FailedPreconditionError(absl::StrCat(where, ": ", AV(what), ": ", detail));
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_MISUSE:
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", AV(what), ": ", detail));
    case SQLITE_NOMEM:
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(where, ": ", AV(what), ": ", detail));
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(absl::StrCat(where, ": ", AV(what), ": ", detail));
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(
          absl::StrCat(where, ": cannot open the file while ", AV(what), ": ", detail));
    case SQLITE_INTERRUPT:
    case SQLITE_ABORT:
      return absl::AbortedError(absl::StrCat(where, ": ", AV(what), ": ", detail));
    case SQLITE_IOERR:
      return absl::UnavailableError(
          absl::StrCat(where, ": input/output error while ", AV(what), ": ", detail));
    default:
      return absl::InternalError(absl::StrCat(where, ": ", AV(what), ": ", detail));
  }
}

}  // namespace mlcore::store::internal
