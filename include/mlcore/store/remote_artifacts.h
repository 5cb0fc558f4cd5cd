// Where artifacts are also kept, off this machine: object storage that several machines share
// (datasets users keep on S3, models a cluster reads). The local ArtifactStore stays the working
// copy that tasks read files from; a remote, chosen by the URL scheme of
// ArtifactStoreOptions::remote through RemoteArtifactsRegistry() ("s3" is built in), receives
// every artifact the store takes and fills the local copy on a miss, each fetched file checked
// against its digest before anyone reads it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mlcore/core/registry.h"
#include "mlcore/core/status.h"

namespace mlcore::store {

// Content-addressed objects somewhere else. Digests are 64 lowercase hex digits (already
// validated by the ArtifactStore). Implementations are safe to call from several threads.
class RemoteArtifacts {
 public:
  virtual ~RemoteArtifacts() = default;

  // The URL the store was opened with ("s3://bucket/prefix").
  virtual const std::string& url() const = 0;
  // Where `digest`'s object is, as recorded in the metadata store ("s3://bucket/prefix/sha256/..").
  virtual std::string UriFor(const std::string& digest) const = 0;
  // The stored object's size; NotFound when the remote does not hold it.
  virtual StatusOr<int64_t> Size(const std::string& digest) const = 0;
  // Copies the local file `path` (`size` bytes of content `digest`) there. OK only once the
  // remote confirmed it holds exactly those bytes.
  virtual Status Upload(const std::string& digest, const std::string& path, int64_t size) const = 0;
  // Writes the object into `path` (created or truncated). The caller checks the content.
  virtual Status Download(const std::string& digest, const std::string& path) const = 0;
  // Every digest held, in order.
  virtual StatusOr<std::vector<std::string>> List() const = 0;
  // Removes the object; OK when it was not there.
  virtual Status Remove(const std::string& digest) const = 0;
};

using RemoteArtifactsFactory =
    std::function<StatusOr<std::unique_ptr<RemoteArtifacts>>(const std::string& url)>;

// Keyed by URL scheme ("s3"). Register another scheme with a Registrar in its own file.
Registry<RemoteArtifactsFactory>& RemoteArtifactsRegistry();

// The remote for `url`, by its scheme. InvalidArgument for a URL without "scheme://" or an
// unknown scheme (listing the known ones), and whatever the scheme's factory refuses.
StatusOr<std::unique_ptr<RemoteArtifacts>> OpenRemoteArtifacts(const std::string& url);

}  // namespace mlcore::store
