// Directory artifacts: a manifest of content digests, itself stored by content. Reading one
// back verifies every file as it is copied, so a damaged store never yields a silently wrong
// model directory.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "mlcore/store/artifact_store.h"
#include "store/sha256.h"

namespace mlcore::store {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
constexpr const char* kManifestFormat = "mlcore.store.Directory";
constexpr size_t kChunkSize = 1 << 20;

// A relative path that stays inside the directory it is relative to.
bool SafeRelative(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  for (const auto& part : fs::path(path)) {
    if (part == ".." || part == ".") return false;
  }
  return true;
}

StatusOr<std::vector<DirectoryEntry>> ParseManifest(const std::string& text,
                                                    const std::string& where) {
  const Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(
        absl::StrCat("artifact ", where, " is not a directory manifest: ", why));
  };
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != kManifestFormat ||
      !doc.contains("files") || !doc["files"].is_array()) {
    return bad("no \"format\": \"mlcore.store.Directory\" with a \"files\" list");
  }
  std::vector<DirectoryEntry> entries;
  for (const Json& f : doc["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("digest") ||
        !f["digest"].is_string() || !f.contains("size") || !f["size"].is_number_integer()) {
      return bad("a file entry lacks path, digest or size");
    }
    DirectoryEntry e{f["path"].get<std::string>(), f["digest"].get<std::string>(),
                     f["size"].get<int64_t>()};
    if (!SafeRelative(e.path)) return bad("path '" + e.path + "' leaves the directory");
    if (!ParseDigest(e.digest).ok()) return bad("'" + e.path + "' has a bad digest");
    entries.push_back(std::move(e));
  }
  return entries;
}

// Copies the stored file of `entry` to `to`, hashing as it goes; DataLoss when the bytes do not
// hash to the entry's digest.
Status CopyVerified(const std::string& from, const DirectoryEntry& entry, const std::string& to) {
  MLCORE_ASSIGN_OR_RETURN(mlcore::internal::TempFile temp,
                          mlcore::internal::TempFile::Create(fs::path(to).parent_path()));
  internal::Sha256 hasher;
  MLCORE_RETURN_IF_ERROR(
      mlcore::internal::ReadFileChunks(from, kChunkSize, [&](std::string_view chunk) {
        hasher.Update(chunk);
        return temp.Write(chunk);
      }));
  MLCORE_ASSIGN_OR_RETURN(std::string actual, hasher.HexDigest());
  if (actual != entry.digest) {
    return absl::DataLossError(
        absl::StrCat("directory artifact file '", entry.path, "': its stored copy ", from,
                     " hashes to sha256:", actual, ", not sha256:", entry.digest));
  }
  MLCORE_RETURN_IF_ERROR(temp.Finish(/*sync=*/false));
  std::error_code ec;
  fs::rename(temp.path(), to, ec);
  if (ec) return absl::InternalError("cannot rename " + temp.path() + " to " + to);
  temp.Release();
  return absl::OkStatus();
}

}  // namespace

StatusOr<Artifact> ArtifactStore::PutDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError("PutDirectory: " + dir + " is not a directory");
  }
  std::vector<DirectoryEntry> entries;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::file_status st = it->symlink_status(ec);
    if (fs::is_directory(st)) continue;
    const std::string rel = fs::relative(it->path(), dir, ec).generic_string();
    if (!fs::is_regular_file(st)) {
      return absl::InvalidArgumentError("PutDirectory: " + dir + "/" + rel +
                                        " is not a regular file (links are not stored)");
    }
    MLCORE_ASSIGN_OR_RETURN(Artifact file, PutFile(it->path().string()));
    entries.push_back({rel, file.digest, file.size});
  }
  if (ec) return absl::InternalError("PutDirectory: cannot list " + dir + ": " + ec.message());
  std::sort(entries.begin(), entries.end(),
            [](const DirectoryEntry& a, const DirectoryEntry& b) { return a.path < b.path; });
  Json files = Json::array();
  for (const DirectoryEntry& e : entries) {
    files.push_back({{"path", e.path}, {"digest", e.digest}, {"size", e.size}});
  }
  const Json manifest = {{"format", kManifestFormat}, {"version", 1}, {"files", files}};
  return Put(manifest.dump(1));
}

StatusOr<std::vector<DirectoryEntry>> ArtifactStore::ReadDirectoryManifest(
    std::string_view digest) const {
  MLCORE_RETURN_IF_ERROR(Verify(digest));
  MLCORE_ASSIGN_OR_RETURN(std::string text, Get(digest));
  return ParseManifest(text, std::string(digest));
}

Status ArtifactStore::VerifyDirectory(std::string_view digest) const {
  MLCORE_ASSIGN_OR_RETURN(std::vector<DirectoryEntry> entries, ReadDirectoryManifest(digest));
  for (const DirectoryEntry& e : entries) {
    Status s = Verify(e.digest);
    if (!s.ok()) {
      return Status(s.code(),
                    absl::StrCat("directory artifact file '", e.path, "': ", s.message()));
    }
  }
  return absl::OkStatus();
}

Status ArtifactStore::GetDirectory(std::string_view digest, const std::string& dest) const {
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    return absl::AlreadyExistsError("GetDirectory: " + dest + " already exists");
  }
  MLCORE_ASSIGN_OR_RETURN(std::vector<DirectoryEntry> entries, ReadDirectoryManifest(digest));
  // Built beside dest and renamed into place, so dest never holds half a directory.
  const std::string staging = absl::StrCat(dest, ".partial-", ::getpid());
  fs::remove_all(staging, ec);
  auto build = [&]() -> Status {
    MLCORE_RETURN_IF_ERROR(mlcore::internal::MakeDirectories(staging));
    for (const DirectoryEntry& e : entries) {
      const std::string to = staging + "/" + e.path;
      MLCORE_RETURN_IF_ERROR(mlcore::internal::MakeDirectories(fs::path(to).parent_path()));
      MLCORE_ASSIGN_OR_RETURN(Artifact stored, Stat(e.digest));
      MLCORE_RETURN_IF_ERROR(CopyVerified(stored.path, e, to));
    }
    fs::rename(staging, dest, ec);
    if (ec) return absl::InternalError("GetDirectory: cannot rename into " + dest);
    return absl::OkStatus();
  };
  Status status = build();
  if (!status.ok()) fs::remove_all(staging, ec);
  return status;
}

}  // namespace mlcore::store
