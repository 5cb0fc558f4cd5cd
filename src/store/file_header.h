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
// Also DataLoss when a non-empty `<path>-wal` has no valid WAL header (magic, version, page
// size, header checksum): SQLite would silently ignore and reset such a log, losing every
// transaction committed into it since the last checkpoint (after a kill -9 those may live only
// there), so the store would open with records missing and no error.
Status CheckDatabaseFile(const std::string& path);

// What a user does with a damaged store, the same in every DataLoss message: the database moves
// aside together with its -wal and -shm files (a -wal left behind is read into the next store).
std::string DamagedStoreRemedy(const std::string& path);

}  // namespace mlcore::store::internal
