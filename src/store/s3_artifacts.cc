// The "s3" remote: artifacts as objects <prefix>/sha256/<digest> in a bucket, through S3Client
// (endpoint and credentials from the AWS environment). No fan-out directories: S3 keys are flat.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "mlcore/store/remote_artifacts.h"
#include "mlcore/store/s3_client.h"

namespace mlcore::store {
namespace {

class S3Artifacts : public RemoteArtifacts {
 public:
  S3Artifacts(std::string url, S3Location location, std::unique_ptr<S3Client> client)
      : url_(std::move(url)), location_(std::move(location)), client_(std::move(client)) {
    content_prefix_ = location_.prefix.empty() ? "sha256/" : location_.prefix + "/sha256/";
  }

  const std::string& url() const override { return url_; }
  std::string UriFor(const std::string& digest) const override {
    return absl::StrCat("s3://", location_.bucket, "/", Key(digest));
  }
  StatusOr<int64_t> Size(const std::string& digest) const override {
    MLCORE_ASSIGN_OR_RETURN(S3Object object, client_->Head(location_.bucket, Key(digest)));
    return object.size;
  }
  Status Upload(const std::string& digest, const std::string& path, int64_t size) const override {
    MLCORE_RETURN_IF_ERROR(client_->PutFile(location_.bucket, Key(digest), path));
    // The ETag said the server took these bytes; the size read back says the object is there
    // whole, under this key, before anyone records it as written.
    MLCORE_ASSIGN_OR_RETURN(int64_t stored, Size(digest));
    if (stored != size) {
      return absl::DataLossError(absl::StrCat("S3 PUT ", UriFor(digest), ": the object holds ",
                                              stored, " bytes after the upload, not ", size));
    }
    return absl::OkStatus();
  }
  Status Download(const std::string& digest, const std::string& path) const override {
    return client_->GetToFile(location_.bucket, Key(digest), path).status();
  }
  StatusOr<std::vector<std::string>> List() const override {
    MLCORE_ASSIGN_OR_RETURN(std::vector<S3Object> objects,
                            client_->List(location_.bucket, content_prefix_));
    std::vector<std::string> digests;
    for (const S3Object& o : objects) {
      std::string name = o.key.substr(content_prefix_.size());
      if (name.size() == 64 && name.find('/') == std::string::npos) digests.push_back(name);
    }
    std::sort(digests.begin(), digests.end());
    return digests;
  }
  Status Remove(const std::string& digest) const override {
    return client_->Delete(location_.bucket, Key(digest));
  }

 private:
  std::string Key(const std::string& digest) const { return content_prefix_ + digest; }

  std::string url_;
  S3Location location_;
  std::string content_prefix_;
  std::unique_ptr<S3Client> client_;
};

StatusOr<std::unique_ptr<RemoteArtifacts>> OpenS3Artifacts(const std::string& url) {
  MLCORE_ASSIGN_OR_RETURN(S3Location location, ParseS3Url(url));
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<S3Client> client, S3Client::Open());
  return std::unique_ptr<RemoteArtifacts>(
      new S3Artifacts(url, std::move(location), std::move(client)));
}

static Registrar<RemoteArtifactsFactory> registration(RemoteArtifactsRegistry(), "s3",
                                                      &OpenS3Artifacts);

}  // namespace
}  // namespace mlcore::store
