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
  return absl::DataLossError(absl::StrCat("metadata store ", path, " is corrupted: ", what, "; ",
                                          DamagedStoreRemedy(path)));
}

// https://www.sqlite.org/fileformat.html#the_write_ahead_log: a 32-byte header whose checksum
// covers its first 24 bytes, read as big-endian words when the magic's low bit is 1 and as
// little-endian words otherwise.
constexpr size_t kWalHeaderSize = 32;
constexpr uint32_t kWalMagic = 0x377f0682;
constexpr uint32_t kWalVersion = 3007000;

uint32_t ReadWord(const unsigned char* p, bool big_endian) {
  return big_endian
             ? ReadBigEndian(p, 4)
             : (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0];
}

// Why the WAL header is unusable, or "" when it is sound.
std::string WalHeaderProblem(const unsigned char* h) {
  const uint32_t magic = ReadBigEndian(h, 4);
  if ((magic & ~uint32_t{1}) != kWalMagic) return "it does not start with the WAL magic number";
  if (ReadBigEndian(h + 4, 4) != kWalVersion) return "its format version is not 3007000";
  const uint32_t page_size = ReadBigEndian(h + 8, 4);
  if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0) {
    return absl::StrCat("it records an impossible page size of ", page_size, " bytes");
  }
  const bool big_endian = (magic & 1) != 0;
  uint32_t s0 = 0, s1 = 0;
  for (size_t i = 0; i < 24; i += 8) {
    s0 += ReadWord(h + i, big_endian) + s1;
    s1 += ReadWord(h + i + 4, big_endian) + s0;
  }
  if (s0 != ReadBigEndian(h + 24, 4) || s1 != ReadBigEndian(h + 28, 4)) {
    return "its header checksum does not match";
  }
  return "";
}

Status CheckWalFile(const std::string& path) {
  const std::string wal = path + "-wal";
  const int64_t size = SideFileSize(wal);
  if (size == 0) return absl::OkStatus();
  unsigned char header[kWalHeaderSize];
  std::ifstream in(wal, std::ios::binary);
  std::string problem;
  if (size < static_cast<int64_t>(kWalHeaderSize)) {
    problem = absl::StrCat("it has ", size, " bytes, fewer than the 32-byte WAL header");
  } else if (!in.read(reinterpret_cast<char*>(header), kWalHeaderSize)) {
    return absl::UnavailableError(
        absl::StrCat("metadata store ", path, ": cannot read the header of its WAL ", wal));
  } else {
    problem = WalHeaderProblem(header);
  }
  if (problem.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "metadata store ", path, ": its write-ahead log ", wal, " is damaged (", problem,
      "); transactions committed into it since the last checkpoint cannot be read and SQLite "
      "would drop them silently; ",
      DamagedStoreRemedy(path)));
}

// A log whose database was moved away (the old remedy moved only the .db file): SQLite would
// replay that database's transactions into the new store.
Status CheckNoOrphanWal(const std::string& path) {
  if (SideFileSize(path + "-wal") == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "metadata store ", path, " does not exist but its write-ahead log ", path,
      "-wal does: it belongs to a database that was moved or deleted, and SQLite would replay it "
      "into a new store; move ",
      path, "-wal and ", path, "-shm to where the database went, or delete them"));
}

}  // namespace

std::string DamagedStoreRemedy(const std::string& path) {
  return absl::StrCat("restore it from a backup or move it aside to start a new store (move ", path,
                      "-wal and ", path, "-shm with it)");
}

Status CheckDatabaseFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return CheckNoOrphanWal(path);
    return absl::UnavailableError(
        absl::StrCat("metadata store ", path, ": cannot stat the file: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("metadata store ", path, " is not a regular file"));
  }
  MLCORE_RETURN_IF_ERROR(CheckWalFile(path));
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
