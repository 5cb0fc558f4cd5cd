#include "core/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace mlcore::internal {

using ::mlcore::internal::AV;

Status ErrnoStatus(int error, std::string_view what, const std::string& path) {
  std::string message = absl::StrCat(AV(what), " ", path, ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::UnavailableError(message);
  }
}

Status MakeDirectories(const std::string& path, bool* created) {
  if (created != nullptr) *created = false;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    MLCORE_RETURN_IF_ERROR(MakeDirectories(path.substr(0, slash)));
  }
  if (::mkdir(path.c_str(), 0755) != 0) {
    // Another thread or process may have made it meanwhile.
    if (errno == EEXIST) return absl::OkStatus();
    return ErrnoStatus(errno, "cannot create directory", path);
  }
  if (created != nullptr) *created = true;
  return absl::OkStatus();
}

Status SyncDirectory(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open directory", path);
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(error, "cannot fsync directory", path);
  return absl::OkStatus();
}

StatusOr<TempFile> TempFile::Create(const std::string& directory) {
  std::string pattern = directory + "/put-XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot create a temporary file in", directory);
  return TempFile(fd, std::string(name.data()));
}

TempFile::TempFile(TempFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::exchange(other.path_, std::string())) {}

TempFile::~TempFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
}

Status TempFile::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path_);
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

Status TempFile::Finish(bool sync) {
  if (sync && ::fsync(fd_) != 0) return ErrnoStatus(errno, "cannot fsync", path_);
  // Artifacts never change once written; read-only permissions guard against accidents.
  if (::fchmod(fd_, 0444) != 0) return ErrnoStatus(errno, "cannot set permissions of", path_);
  int rc = ::close(std::exchange(fd_, -1));
  if (rc != 0) return ErrnoStatus(errno, "cannot close", path_);
  return absl::OkStatus();
}

Status ReadFileChunks(const std::string& path, size_t chunk_size,
                      const std::function<Status(std::string_view)>& fn) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  std::string buffer(chunk_size, '\0');
  Status status;
  while (true) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoStatus(errno, "cannot read", path);
      break;
    }
    if (n == 0) break;
    status = fn(std::string_view(buffer.data(), static_cast<size_t>(n)));
    if (!status.ok()) break;
  }
  ::close(fd);
  return status;
}

}  // namespace mlcore::internal
