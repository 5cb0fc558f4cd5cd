// The artifact store: immutable files named by the sha256 of their content, under
// $MLCORE_HOME/artifacts/sha256/<first two hex digits>/<digest>. Naming by content makes caching
// and lineage exact (same bytes, same name), stores each datum once, and lets anyone check a
// file against its name. Files appear atomically (temp file, fsync, rename, fsync of the
// directory), so a reader never sees half an artifact, even after a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"
#include "mlcore/store/metadata_store.h"
#include "mlcore/store/remote_artifacts.h"

namespace mlcore::store {

struct ArtifactStoreOptions {
  // The store's root directory. Empty: DefaultHome() + "/artifacts".
  std::string root;

  // Create the root when it does not exist. When false, a missing root is NotFound.
  bool create_if_missing = true;

  // fsync each new file before its rename and its directory after, so that an artifact whose
  // Put returned survives a power loss. false skips both: faster for many small artifacts on
  // slow disks, but a power loss may leave a name pointing at an empty or partial file (which
  // Verify then reports as DataLoss).
  bool sync = true;

  // Where artifacts are also kept, as a URL whose scheme picks the backend
  // (RemoteArtifactsRegistry; "s3://bucket/prefix" is built in, see docs/object_storage.md).
  // Empty: $MLCORE_ARTIFACTS, and local only when that is unset. "none": local only. With a
  // remote, every Put publishes there before it returns, and a digest missing or damaged here
  // is fetched from there, checked against its digest, into this store.
  std::string remote;
};

// Where an artifact lives.
struct Artifact {
  std::string digest;  // 64 lowercase hex digits of the sha256 of the content
  int64_t size = 0;    // bytes
  std::string path;    // the absolute file path
  // The remote object's URL ("s3://bucket/prefix/sha256/<digest>") when the store has a remote.
  std::string remote_uri;
  // What the metadata store records as the artifact's location: remote_uri when there is one,
  // else "file://" + path.
  std::string uri() const { return remote_uri.empty() ? "file://" + path : remote_uri; }
};

// Content-addressed file store. Digests given to its calls are 64 lowercase hex digits,
// optionally prefixed by "sha256:"; anything else is InvalidArgument naming the string. Safe to
// use from several threads and processes at once: writers of the same content race to rename
// identical files into place, and either wins.
// One file of a directory artifact: its path relative to the directory ("a/b.txt", '/'
// separated), and where its content is in the store.
struct DirectoryEntry {
  std::string path;
  std::string digest;
  int64_t size = 0;
};

class ArtifactStore {
 public:
  static StatusOr<std::unique_ptr<ArtifactStore>> Open(const ArtifactStoreOptions& options = {});

  // Stores `bytes`; a no-op (same Artifact back) when the content is already there intact. A
  // stored copy that no longer matches its digest (damaged on disk) is rewritten, so re-running
  // the producer of a damaged artifact heals it.
  StatusOr<Artifact> Put(std::string_view bytes);
  // Stores a copy of the file at `path`, streamed (never held in memory whole), healing a
  // damaged stored copy as Put does. NotFound when the file does not exist.
  StatusOr<Artifact> PutFile(const std::string& path);

  // The content, checked against the digest: DataLoss naming the file when it is damaged.
  // NotFound when the store does not hold the digest.
  StatusOr<std::string> Get(std::string_view digest) const;
  // Where the digest's file is and how big it is, without reading it. NotFound when absent.
  StatusOr<Artifact> Stat(std::string_view digest) const;
  StatusOr<bool> Contains(std::string_view digest) const;
  // The file path the digest has (or would have) in this store; it need not exist.
  StatusOr<std::string> PathFor(std::string_view digest) const;

  // Re-reads the file and recomputes its sha256. DataLoss naming the file and both digests when
  // the content no longer matches its name; NotFound when absent.
  Status Verify(std::string_view digest) const;

  // A directory as one artifact (a saved model is a directory): every regular file below `dir`
  // is stored by content, then a manifest (JSON {"format": "mlcore.store.Directory", "files":
  // [{"path", "digest", "size"}...]} sorted by path) is stored; the manifest's digest names the
  // directory, so equal trees get equal digests. Symbolic links and other special files are
  // InvalidArgument naming them; empty subdirectories are not kept.
  StatusOr<Artifact> PutDirectory(const std::string& dir);
  // The files a directory artifact lists. DataLoss when the artifact is not a manifest, or
  // names a path that leaves the directory ("..", absolute).
  StatusOr<std::vector<DirectoryEntry>> ReadDirectoryManifest(std::string_view digest) const;
  // Writes the directory to `dest`, which must not exist, checking every file against its
  // digest as it copies: DataLoss naming the file and the stored copy when one does not match,
  // and then nothing is left at `dest`. `dest` appears whole (built beside it, then renamed).
  Status GetDirectory(std::string_view digest, const std::string& dest) const;
  // Verify of the manifest and of every file it lists (DataLoss naming the first bad one).
  Status VerifyDirectory(std::string_view digest) const;

  const std::string& root() const { return root_; }
  // The remote artifacts are also kept in; nullptr when local only.
  const RemoteArtifacts* remote() const { return remote_.get(); }

 private:
  ArtifactStore(ArtifactStoreOptions options, std::string root);
  // Moves a finished temp file (already holding content `digest`) into place.
  StatusOr<Artifact> Install(const std::string& temp_path, const std::string& digest,
                             int64_t size) const;
  // The local copy only (Stat without a fetch).
  StatusOr<Artifact> StatLocal(std::string_view digest) const;
  StatusOr<std::string> GetLocal(std::string_view digest) const;
  Status VerifyLocal(std::string_view digest) const;
  // Uploads `artifact` to the remote unless it holds it already, and sets its remote_uri.
  Status Publish(Artifact& artifact) const;
  // Downloads `digest` from the remote into this store, checking it before it is installed.
  StatusOr<Artifact> Fetch(const std::string& digest) const;
  // The stored copy of `digest` when it holds exactly `size` bytes of that content; NotFound or
  // DataLoss otherwise (the caller then writes it).
  StatusOr<Artifact> StoredIntact(const std::string& digest, int64_t size) const;

  ArtifactStoreOptions options_;
  std::string root_;
  std::shared_ptr<const RemoteArtifacts> remote_;
};

// The sha256 of `bytes` as 64 lowercase hex digits.
StatusOr<std::string> Sha256Hex(std::string_view bytes);

// Normalizes a digest string ("sha256:" prefix dropped) or says why it is not one.
StatusOr<std::string> ParseDigest(std::string_view digest);

// The media type RecordArtifact files a directory artifact's manifest under.
inline constexpr char kDirectoryMediaType[] = "application/vnd.mlcore.directory+json";

// Records `artifact` in the metadata store's `artifacts` table (digest, size, uri, media type),
// so that runs and lineage can refer to it. Recording the same digest again keeps the first row.
Status RecordArtifact(SqlDatabase& metadata, const Artifact& artifact,
                      std::string_view media_type = "application/octet-stream");

}  // namespace mlcore::store
