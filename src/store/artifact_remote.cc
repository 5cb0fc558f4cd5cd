// The ArtifactStore's remote side: publishing what it stores, and filling misses (or damaged
// local copies) from the remote, each fetched file checked against its digest before it is
// installed, so a task never reads unchecked bytes from the network.
#include "store/artifact_remote.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "mlcore/store/artifact_store.h"
#include "store/sha256.h"

namespace mlcore::store {
namespace internal {

StatusOr<std::shared_ptr<const RemoteArtifacts>> OpenRemote(const std::string& option) {
  std::string url = option;
  if (url.empty()) {
    const char* env = std::getenv("MLCORE_ARTIFACTS");
    url = env == nullptr ? "" : env;
  }
  if (url.empty() || url == "none") return std::shared_ptr<const RemoteArtifacts>();
  StatusOr<std::unique_ptr<RemoteArtifacts>> remote = OpenRemoteArtifacts(url);
  if (!remote.ok()) {
    return Status(remote.status().code(),
                  absl::StrCat("artifact store remote ", url,
                               option.empty() ? " (from MLCORE_ARTIFACTS)" : "", ": ",
                               remote.status().message()));
  }
  return std::shared_ptr<const RemoteArtifacts>(*std::move(remote));
}

}  // namespace internal

StatusOr<Artifact> ArtifactStore::Stat(std::string_view digest) const {
  StatusOr<Artifact> local = StatLocal(digest);
  if (remote_ == nullptr) return local;
  if (local.ok()) {
    local->remote_uri = remote_->UriFor(local->digest);
    return local;
  }
  if (!absl::IsNotFound(local.status())) return local.status();
  MLCORE_ASSIGN_OR_RETURN(std::string hex, ParseDigest(digest));
  return Fetch(hex);
}

StatusOr<std::string> ArtifactStore::Get(std::string_view digest) const {
  StatusOr<std::string> content = GetLocal(digest);
  // A damaged local copy is replaced by the remote's, checked as it arrives. (A DataLoss with no
  // local copy came from the fetch itself: fetching again would not help.)
  if (remote_ == nullptr || !absl::IsDataLoss(content.status()) || !StatLocal(digest).ok()) {
    return content;
  }
  MLCORE_ASSIGN_OR_RETURN(std::string hex, ParseDigest(digest));
  MLCORE_RETURN_IF_ERROR(Fetch(hex).status());
  return GetLocal(digest);
}

Status ArtifactStore::Verify(std::string_view digest) const {
  Status status = VerifyLocal(digest);
  if (remote_ == nullptr || !absl::IsDataLoss(status) || !StatLocal(digest).ok()) return status;
  MLCORE_ASSIGN_OR_RETURN(std::string hex, ParseDigest(digest));
  MLCORE_RETURN_IF_ERROR(Fetch(hex).status());
  return VerifyLocal(digest);
}

Status ArtifactStore::Publish(Artifact& artifact) const {
  if (remote_ == nullptr) return absl::OkStatus();
  // Named by content, so an object of the right size under this key is this content (a damaged
  // one is caught, and removed, by the next Fetch of it).
  StatusOr<int64_t> held = remote_->Size(artifact.digest);
  if (!held.ok() && !absl::IsNotFound(held.status())) return held.status();
  if (!held.ok() || *held != artifact.size) {
    MLCORE_RETURN_IF_ERROR(remote_->Upload(artifact.digest, artifact.path, artifact.size));
  }
  artifact.remote_uri = remote_->UriFor(artifact.digest);
  return absl::OkStatus();
}

StatusOr<Artifact> ArtifactStore::Fetch(const std::string& digest) const {
  MLCORE_ASSIGN_OR_RETURN(mlcore::internal::TempFile temp,
                          mlcore::internal::TempFile::Create(root_ + "/tmp"));
  Status downloaded = remote_->Download(digest, temp.path());
  if (absl::IsNotFound(downloaded)) {
    return absl::NotFoundError(absl::StrCat("artifact sha256:", digest,
                                            " is not in the artifact store ", root_,
                                            " nor at its remote: ", downloaded.message()));
  }
  MLCORE_RETURN_IF_ERROR(downloaded);
  internal::Sha256 hasher;
  int64_t size = 0;
  MLCORE_RETURN_IF_ERROR(
      mlcore::internal::ReadFileChunks(temp.path(), 1 << 20, [&](std::string_view chunk) {
        hasher.Update(chunk);
        size += static_cast<int64_t>(chunk.size());
        return absl::OkStatus();
      }));
  MLCORE_ASSIGN_OR_RETURN(std::string actual, hasher.HexDigest());
  if (actual != digest) {
    // Its key names other content, so the object can never be right: removing it lets the
    // producer's next run upload the true bytes again.
    Status removed = remote_->Remove(digest);
    return absl::DataLossError(absl::StrCat(
        "artifact ", remote_->UriFor(digest), " is corrupted: its ", size, " bytes hash to sha256:",
        actual, ", not to sha256:", digest, " as its name says; nothing was copied into ", root_,
        removed.ok() ? "; the damaged object was removed" : "",
        "; put the original content again (re-run its producer) to repair it"));
  }
  MLCORE_RETURN_IF_ERROR(temp.Finish(options_.sync));
  MLCORE_ASSIGN_OR_RETURN(Artifact artifact, Install(temp.path(), digest, size));
  temp.Release();
  artifact.remote_uri = remote_->UriFor(digest);
  return artifact;
}

}  // namespace mlcore::store
