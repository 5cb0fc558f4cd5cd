#include "store/sqlite_status.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "mlcore/core/disk_full.h"
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

namespace {

// The codes whose failure comes from the file system, where the OS's errno says why.
bool FromFileSystem(int primary) {
  return primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR || primary == SQLITE_READONLY ||
         primary == SQLITE_FULL || primary == SQLITE_PERM;
}

// Why a file SQLite could not open or write is out of reach (SQLite keeps no errno for a
// failed open): the errno access(2) gives for the file, or for its directory when the file
// does not exist yet. 0 when both are fine.
int AccessErrno(const std::string& path) {
  if (::access(path.c_str(), F_OK) == 0)
    return ::access(path.c_str(), R_OK | W_OK) == 0 ? 0 : errno;
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return ::access(dir.c_str(), W_OK | X_OK) == 0 ? 0 : errno;
}

}  // namespace

Status SqliteStatus(int rc, const std::string& path, std::string_view what,
                    std::string_view sqlite_message, int system_errno) {
  std::string detail =
      absl::StrCat(AV(sqlite_message), " (", sqlite3_errstr(rc), ", SQLite code ", rc, ")");
  std::string where = absl::StrCat("metadata store ", path);
  const int primary = rc & 0xff;
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) {
    // SQLite's errno may be that of another attempt (ENOENT for a journal it looked for).
    const int access_errno = AccessErrno(path);
    if (access_errno != 0) system_errno = access_errno;
  }
  if (FromFileSystem(primary) &&
      (system_errno == EACCES || system_errno == EPERM || system_errno == EROFS)) {
    return absl::PermissionDeniedError(absl::StrCat(
        where, ": ", system_errno == EROFS ? "the file system is read-only" : "permission denied",
        " while ", AV(what),
        " (the file or its directory is not writable by this user; "
        "make it writable or set MLCORE_HOME to a writable directory): ",
        detail));
  }
  if (primary == SQLITE_FULL || system_errno == ENOSPC || system_errno == EDQUOT ||
      system_errno == EFBIG) {
    return DiskFull(absl::StrCat(where, ": no space left on the device (disk full",
                                 system_errno == EFBIG ? ", or the file size limit reached" : "",
                                 ") while ", AV(what), "; free space and retry: ", detail));
  }
  switch (primary) {
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
