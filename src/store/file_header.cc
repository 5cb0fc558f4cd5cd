#include "store/file_header.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace mlcore::store::internal {
namespace {

// The layout of the database header: https://www.sqlite.org/fileformat.html#the_database_header
constexpr size_t kHeaderSize = 100;
constexpr char kMagic[] = "SQLite format 3";  // 16 bytes with its terminating NUL
constexpr size_t kPageSizeOffset = 16;
constexpr size_t kChangeCounterOffset = 24;
constexpr size_t kPageCountOffset = 28;
constexpr size_t kVersionValidForOffset = 92;

uint32_t ReadBigEndian(const unsigned char* p, int bytes) {
  uint32_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  return value;
}

// Size of a side file (WAL or journal); 0 when absent.
int64_t SideFileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_size;
}

Status Corrupted(const std::string& path, const std::string& what) {
  return absl::DataLossError(
      absl::StrCat("metadata store ", path, " is corrupted: ", what,
                   "; restore it from a backup or move it aside to start a new store"));
}

}  // namespace

Status CheckDatabaseFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat("metadata store ", path, ": cannot stat the file: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("metadata store ", path, " is not a regular file"));
  }
  const int64_t file_size = st.st_size;
  if (file_size == 0) return absl::OkStatus();
  if (file_size < static_cast<int64_t>(kHeaderSize)) {
    return Corrupted(path, absl::StrCat("truncated: the file has ", file_size,
                                        " bytes, fewer than the 100-byte SQLite header"));
  }

  unsigned char header[kHeaderSize];
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(header), kHeaderSize)) {
    return absl::UnavailableError(
        absl::StrCat("metadata store ", path, ": cannot read the file header"));
  }
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return Corrupted(path,
                     "not an SQLite database (the file does not start with the SQLite "
                     "header string \"SQLite format 3\")");
  }
  uint32_t page_size = ReadBigEndian(header + kPageSizeOffset, 2);
  if (page_size == 1) page_size = 65536;
  if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0) {
    return Corrupted(
        path, absl::StrCat("the header records an impossible page size of ", page_size, " bytes"));
  }

  if (SideFileSize(path + "-wal") > 0 || SideFileSize(path + "-journal") > 0) {
    return absl::OkStatus();
  }
  // The in-header page count is only trustworthy when the "version-valid-for" number matches
  // the change counter; older writers left it stale, and SQLite then uses the file size.
  uint32_t change_counter = ReadBigEndian(header + kChangeCounterOffset, 4);
  uint32_t valid_for = ReadBigEndian(header + kVersionValidForOffset, 4);
  uint32_t page_count = ReadBigEndian(header + kPageCountOffset, 4);
  if (page_count == 0 || change_counter != valid_for) return absl::OkStatus();
  const int64_t expected = static_cast<int64_t>(page_count) * page_size;
  if (file_size < expected) {
    return Corrupted(path, absl::StrCat("truncated: the header records ", page_count, " pages of ",
                                        page_size, " bytes (", expected,
                                        " bytes) but the file has only ", file_size, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace mlcore::store::internal
