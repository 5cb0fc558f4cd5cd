// A cheap look at an SQLite file before SQLite opens it, so that a file that is not a database
// or was cut short is reported as DataLoss with what is wrong, and is never written to.
#pragma once

#include <string>

#include "mlcore/core/status.h"

namespace mlcore::store::internal {

// OK for a missing or empty file (a new store) and for a file whose 100-byte header is sane.
// DataLoss when the file is shorter than the header, lacks the SQLite magic string, has an
// impossible page size, or is shorter than the size its header records. The size check is skipped
// while a WAL or rollback journal with content sits beside the file: pages may then legitimately
// live there (a checkpoint in progress in another process), and SQLite itself checks the size
// under its locks.
Status CheckDatabaseFile(const std::string& path);

}  // namespace mlcore::store::internal
