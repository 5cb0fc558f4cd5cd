#include "mlcore/store/artifact_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "core/strings.h"
#include "store/artifact_remote.h"
#include "store/sha256.h"

namespace mlcore::store {
namespace {

using ::mlcore::internal::AV;

constexpr std::string_view kDigestPrefix = "sha256:";
constexpr size_t kDigestLength = 64;
// Large enough to amortize system calls, small enough to stream gigabyte files in little memory.
constexpr size_t kChunkSize = 1 << 20;

// Temp files live beside the content tree, in the same file system (so rename is atomic) but
// outside sha256/, so that nothing scanning the store ever mistakes one for an artifact.
std::string TempDirectory(const std::string& root) { return root + "/tmp"; }
std::string ContentDirectory(const std::string& root) { return root + "/sha256"; }

}  // namespace

StatusOr<std::string> Sha256Hex(std::string_view bytes) {
  internal::Sha256 hasher;
  hasher.Update(bytes);
  return hasher.HexDigest();
}

StatusOr<std::string> ParseDigest(std::string_view digest) {
  std::string_view hex = digest;
  if (hex.substr(0, kDigestPrefix.size()) == kDigestPrefix) hex.remove_prefix(kDigestPrefix.size());
  bool valid = hex.size() == kDigestLength;
  for (char c : hex) valid = valid && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid artifact digest '", AV(digest),
        "': expected 64 lowercase hexadecimal digits (a sha256), optionally prefixed by "
        "'sha256:'"));
  }
  return std::string(hex);
}

ArtifactStore::ArtifactStore(ArtifactStoreOptions options, std::string root)
    : options_(std::move(options)), root_(std::move(root)) {}

StatusOr<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(const ArtifactStoreOptions& options) {
  std::string root = options.root;
  if (root.empty()) {
    MLCORE_ASSIGN_OR_RETURN(std::string home, DefaultHome());
    root = home + "/artifacts";
  }
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(root, error);
  if (error) {
    return absl::InvalidArgumentError(absl::StrCat(
        "artifact store ", root, ": cannot make the path absolute: ", error.message()));
  }
  root = absolute.lexically_normal().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (!options.create_if_missing && !std::filesystem::is_directory(root, error)) {
    return absl::NotFoundError(
        absl::StrCat("artifact store ", root, " does not exist (create_if_missing is false)"));
  }
  MLCORE_RETURN_IF_ERROR(mlcore::internal::MakeDirectories(ContentDirectory(root)));
  MLCORE_RETURN_IF_ERROR(mlcore::internal::MakeDirectories(TempDirectory(root)));
  std::unique_ptr<ArtifactStore> store(new ArtifactStore(options, std::move(root)));
  MLCORE_ASSIGN_OR_RETURN(store->remote_, internal::OpenRemote(options.remote));
  return store;
}

StatusOr<std::string> ArtifactStore::PathFor(std::string_view digest) const {
  MLCORE_ASSIGN_OR_RETURN(std::string hex, ParseDigest(digest));
  // Two hex digits of fan-out keep directories small (256 of them) even with millions of files.
  return absl::StrCat(ContentDirectory(root_), "/", hex.substr(0, 2), "/", hex);
}

StatusOr<Artifact> ArtifactStore::StatLocal(std::string_view digest) const {
  MLCORE_ASSIGN_OR_RETURN(std::string path, PathFor(digest));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("artifact sha256:", path.substr(path.size() - 64),
                                              " is not in the artifact store ", root_));
    }
    return mlcore::internal::ErrnoStatus(errno, "cannot stat artifact", path);
  }
  return Artifact{path.substr(path.size() - kDigestLength), static_cast<int64_t>(st.st_size), path};
}

StatusOr<bool> ArtifactStore::Contains(std::string_view digest) const {
  StatusOr<Artifact> artifact = StatLocal(digest);
  if (artifact.ok()) return true;
  if (!absl::IsNotFound(artifact.status())) return artifact.status();
  if (remote_ == nullptr) return false;
  // Held remotely counts: a cache hit on another machine's output is fetched when read.
  MLCORE_ASSIGN_OR_RETURN(std::string hex, ParseDigest(digest));
  StatusOr<int64_t> size = remote_->Size(hex);
  if (size.ok()) return true;
  if (absl::IsNotFound(size.status())) return false;
  return size.status();
}

StatusOr<std::string> ArtifactStore::GetLocal(std::string_view digest) const {
  MLCORE_ASSIGN_OR_RETURN(Artifact artifact, Stat(digest));
  std::string content;
  content.reserve(static_cast<size_t>(artifact.size));
  MLCORE_RETURN_IF_ERROR(
      mlcore::internal::ReadFileChunks(artifact.path, kChunkSize, [&](std::string_view chunk) {
        content.append(chunk.data(), chunk.size());
        return absl::OkStatus();
      }));
  // Checked as read: a damaged file is DataLoss here, not wrong bytes handed on.
  MLCORE_ASSIGN_OR_RETURN(std::string actual, Sha256Hex(content));
  if (actual != artifact.digest) {
    return absl::DataLossError(absl::StrCat(
        "artifact file ", artifact.path, " is corrupted: its ", content.size(),
        " bytes hash to sha256:", actual, ", not to sha256:", artifact.digest,
        " as its name says; put the original content again (re-run its producer) to repair it"));
  }
  return content;
}

Status ArtifactStore::VerifyLocal(std::string_view digest) const {
  MLCORE_ASSIGN_OR_RETURN(Artifact artifact, Stat(digest));
  internal::Sha256 hasher;
  int64_t size = 0;
  MLCORE_RETURN_IF_ERROR(
      mlcore::internal::ReadFileChunks(artifact.path, kChunkSize, [&](std::string_view chunk) {
        hasher.Update(chunk);
        size += static_cast<int64_t>(chunk.size());
        return absl::OkStatus();
      }));
  MLCORE_ASSIGN_OR_RETURN(std::string actual, hasher.HexDigest());
  if (actual != artifact.digest) {
    return absl::DataLossError(absl::StrCat(
        "artifact file ", artifact.path, " is corrupted: its ", size,
        " bytes hash to sha256:", actual, ", not to sha256:", artifact.digest,
        " as its name says; put the original content again (re-run its producer) to repair it"));
  }
  return absl::OkStatus();
}

StatusOr<Artifact> ArtifactStore::StoredIntact(const std::string& digest, int64_t size) const {
  // A file of the right size can still be damaged (a flipped byte): re-running the producer of
  // a damaged artifact must replace it, so the content is checked, not only the size.
  MLCORE_ASSIGN_OR_RETURN(Artifact existing, StatLocal(digest));
  if (existing.size != size) {
    return absl::DataLossError(absl::StrCat("artifact file ", existing.path, " has ", existing.size,
                                            " bytes, not ", size));
  }
  MLCORE_RETURN_IF_ERROR(VerifyLocal(digest));
  return existing;
}

StatusOr<Artifact> ArtifactStore::Put(std::string_view bytes) {
  MLCORE_ASSIGN_OR_RETURN(std::string digest, Sha256Hex(bytes));
  const int64_t size = static_cast<int64_t>(bytes.size());
  // Same content, same name: nothing to write, unless the stored copy is damaged.
  StatusOr<Artifact> existing = StoredIntact(digest, size);
  if (existing.ok()) {
    MLCORE_RETURN_IF_ERROR(Publish(*existing));
    return existing;
  }
  MLCORE_ASSIGN_OR_RETURN(mlcore::internal::TempFile temp,
                          mlcore::internal::TempFile::Create(TempDirectory(root_)));
  MLCORE_RETURN_IF_ERROR(temp.Write(bytes));
  MLCORE_RETURN_IF_ERROR(temp.Finish(options_.sync));
  MLCORE_ASSIGN_OR_RETURN(Artifact artifact, Install(temp.path(), digest, size));
  temp.Release();
  MLCORE_RETURN_IF_ERROR(Publish(artifact));
  return artifact;
}

StatusOr<Artifact> ArtifactStore::PutFile(const std::string& path) {
  // Hash while copying, so the source is read once; the copy is dropped if the content turns
  // out to be stored already.
  MLCORE_ASSIGN_OR_RETURN(mlcore::internal::TempFile temp,
                          mlcore::internal::TempFile::Create(TempDirectory(root_)));
  internal::Sha256 hasher;
  int64_t size = 0;
  Status copied = mlcore::internal::ReadFileChunks(path, kChunkSize, [&](std::string_view chunk) {
    hasher.Update(chunk);
    size += static_cast<int64_t>(chunk.size());
    return temp.Write(chunk);
  });
  if (!copied.ok()) {
    return Status(copied.code(), absl::StrCat("artifact store ", root_, ": cannot store file ",
                                              path, ": ", copied.message()));
  }
  MLCORE_ASSIGN_OR_RETURN(std::string digest, hasher.HexDigest());
  StatusOr<Artifact> existing = StoredIntact(digest, size);
  if (existing.ok()) {
    MLCORE_RETURN_IF_ERROR(Publish(*existing));
    return existing;
  }
  MLCORE_RETURN_IF_ERROR(temp.Finish(options_.sync));
  MLCORE_ASSIGN_OR_RETURN(Artifact artifact, Install(temp.path(), digest, size));
  temp.Release();
  MLCORE_RETURN_IF_ERROR(Publish(artifact));
  return artifact;
}

StatusOr<Artifact> ArtifactStore::Install(const std::string& temp_path, const std::string& digest,
                                          int64_t size) const {
  MLCORE_ASSIGN_OR_RETURN(std::string path, PathFor(digest));
  std::string shard = path.substr(0, path.find_last_of('/'));
  bool created = false;
  MLCORE_RETURN_IF_ERROR(mlcore::internal::MakeDirectories(shard, &created));
  if (created && options_.sync) {
    MLCORE_RETURN_IF_ERROR(mlcore::internal::SyncDirectory(ContentDirectory(root_)));
  }
  // rename() replaces atomically: a concurrent writer of the same content installs an identical
  // file, and readers see either one whole file or the other.
  if (std::rename(temp_path.c_str(), path.c_str()) != 0) {
    return mlcore::internal::ErrnoStatus(errno, absl::StrCat("cannot rename ", temp_path, " to"),
                                         path);
  }
  if (options_.sync) MLCORE_RETURN_IF_ERROR(mlcore::internal::SyncDirectory(shard));
  return Artifact{digest, size, path};
}

Status RecordArtifact(SqlDatabase& metadata, const Artifact& artifact,
                      std::string_view media_type) {
  MLCORE_ASSIGN_OR_RETURN(std::string digest, ParseDigest(artifact.digest));
  return metadata
      .Query(
          "INSERT INTO artifacts (sha256, size, uri, media_type) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (sha256) DO NOTHING",
          {digest, artifact.size, artifact.uri(), std::string(media_type)})
      .status();
}

}  // namespace mlcore::store
