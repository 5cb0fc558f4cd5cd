#include "mlcore/store/remote_artifacts.h"

#include "absl/strings/str_cat.h"

namespace mlcore::store {

Registry<RemoteArtifactsFactory>& RemoteArtifactsRegistry() {
  static auto* registry = new Registry<RemoteArtifactsFactory>("artifact store URL scheme");
  return *registry;
}

StatusOr<std::unique_ptr<RemoteArtifacts>> OpenRemoteArtifacts(const std::string& url) {
  const size_t colon = url.find("://");
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("artifact store location '", url,
                                                   "' is not a URL such as s3://bucket/prefix"));
  }
  return RemoteArtifactsRegistry().Create(url.substr(0, colon), url);
}

}  // namespace mlcore::store
