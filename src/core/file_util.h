// The few POSIX file operations behind atomic, durable writes (artifacts, checkpoints, event
// files), with errors as Status naming the path and the system's reason.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "mlcore/core/status.h"

namespace mlcore::internal {

// The Status for errno value `error` while doing `what` on `path` (ENOENT is NotFound, EACCES
// PermissionDenied, ENOSPC ResourceExhausted, other errors Unavailable).
Status ErrnoStatus(int error, std::string_view what, const std::string& path);

// mkdir -p. Sets *created when it made the last component.
Status MakeDirectories(const std::string& path, bool* created = nullptr);

// fsync of a directory, so that a rename or a new entry in it survives a power loss.
Status SyncDirectory(const std::string& path);

// A new uniquely named file in `directory`, deleted on destruction unless Release()d (after a
// successful rename). Lives in the destination's file system so that rename() is atomic.
class TempFile {
 public:
  static StatusOr<TempFile> Create(const std::string& directory);
  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  ~TempFile();

  Status Write(std::string_view bytes);
  // fsync (when `sync`), set read-only permissions and close.
  Status Finish(bool sync);
  const std::string& path() const { return path_; }
  void Release() { path_.clear(); }

 private:
  TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Reads the file at `path` in chunks of `chunk_size`, calling fn on each.
Status ReadFileChunks(const std::string& path, size_t chunk_size,
                      const std::function<Status(std::string_view)>& fn);

}  // namespace mlcore::internal
