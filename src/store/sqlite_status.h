// Maps SQLite result codes to absl::Status so that every store error names the file, what was
// being done and SQLite's own words, with a code the bindings can turn into the right exception.
#pragma once

#include <string>
#include <string_view>

#include "mlcore/core/status.h"

namespace mlcore::store::internal {

// `rc` is an (extended) SQLite result code other than OK/ROW/DONE; `sqlite_message` is
// sqlite3_errmsg's text; `what` says what was being done ("running \"SELECT ...\"");
// `system_errno` is sqlite3_system_errno's (0: unknown). A file that cannot be opened or written
// for want of permission or on a read-only file system is PermissionDenied, a full disk is
// DiskFull: both say so, where SQLite's own text says only "unable to open database file".
Status SqliteStatus(int rc, const std::string& path, std::string_view what,
                    std::string_view sqlite_message, int system_errno = 0);

// True for SQLITE_BUSY and SQLITE_LOCKED with any extended code: another connection holds a
// lock, so the call may succeed later.
bool IsBusy(int rc);

// `sql` shortened to a readable length for error messages.
std::string QuoteSql(std::string_view sql);

}  // namespace mlcore::store::internal
