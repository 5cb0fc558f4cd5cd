#include "mlcore/store/s3_client.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "store/s3_transport.h"
#include "store/s3_upload.h"
#include "store/s3_xml.h"

namespace mlcore::store {
namespace {

using internal::HttpResponse;
using internal::S3Call;

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// Bucket names per S3's rules: 3-63 characters of lowercase letters, digits, '.' and '-'.
bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '-')) return false;
  }
  return true;
}

}  // namespace

StatusOr<S3Location> ParseS3Url(std::string_view url) {
  constexpr std::string_view kScheme = "s3://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(url), "' is not an s3://bucket/prefix URL"));
  }
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  S3Location location;
  location.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    location.prefix = std::string(prefix);
  }
  if (!ValidBucket(location.bucket)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(url), "': '", location.bucket,
                     "' is not a valid bucket name (3-63 lowercase letters, digits, '.' and '-')"));
  }
  return location;
}

S3Client::S3Client(std::unique_ptr<internal::S3Transport> transport)
    : transport_(std::move(transport)) {}
S3Client::~S3Client() = default;

const std::string& S3Client::endpoint() const { return transport_->endpoint(); }
const std::string& S3Client::region() const { return transport_->region(); }

StatusOr<std::unique_ptr<S3Client>> S3Client::Open(const S3Options& options) {
  MLCORE_ASSIGN_OR_RETURN(auto transport, internal::S3Transport::Open(options));
  return std::unique_ptr<S3Client>(new S3Client(std::move(transport)));
}

Status S3Client::Put(const std::string& bucket, const std::string& key,
                     std::string_view bytes) const {
  MLCORE_ASSIGN_OR_RETURN(std::string sha256, internal::Sha256HexOf(bytes));
  const std::string md5 = internal::Md5Raw(bytes);
  S3Call call{"PUT", "PUT", bucket, key};
  call.headers = {{"content-md5", internal::Base64(md5)}};
  call.body = bytes;
  call.payload_hash = sha256;
  MLCORE_ASSIGN_OR_RETURN(HttpResponse r, transport_->Send(call));
  return internal::CheckETag(call, r, internal::HexOf(md5));
}

Status S3Client::PutFile(const std::string& bucket, const std::string& key,
                         const std::string& path) const {
  MLCORE_ASSIGN_OR_RETURN(int64_t size, internal::FileSize(path));
  if (size > transport_->options().multipart_threshold) {
    return PutMultipart(bucket, key, path, size);
  }
  S3Call call{"PUT", "PUT", bucket, key};
  return internal::UploadRange(*transport_, call, path, 0, size).status();
}

StatusOr<std::string> S3Client::Get(const std::string& bucket, const std::string& key) const {
  S3Call call{"GET", "GET", bucket, key};
  MLCORE_ASSIGN_OR_RETURN(HttpResponse r, transport_->Send(call));
  return std::move(r.body);
}

StatusOr<int64_t> S3Client::GetToFile(const std::string& bucket, const std::string& key,
                                      const std::string& path) const {
  S3Call call{"GET", "GET", bucket, key};
  call.response_file = path;
  MLCORE_ASSIGN_OR_RETURN(HttpResponse r, transport_->Send(call));
  return r.body_bytes;
}

StatusOr<S3Object> S3Client::Head(const std::string& bucket, const std::string& key) const {
  S3Call call{"HEAD", "HEAD", bucket, key};
  MLCORE_ASSIGN_OR_RETURN(HttpResponse r, transport_->Send(call));
  S3Object object{key, 0, Unquote(r.headers["etag"])};
  if (!absl::SimpleAtoi(r.headers["content-length"], &object.size)) {
    return absl::DataLossError(absl::StrCat("S3 HEAD ", internal::S3Transport::Where(call),
                                            ": the answer has no Content-Length"));
  }
  return object;
}

StatusOr<bool> S3Client::Exists(const std::string& bucket, const std::string& key) const {
  StatusOr<S3Object> object = Head(bucket, key);
  if (object.ok()) return true;
  if (absl::IsNotFound(object.status())) return false;
  return object.status();
}

StatusOr<std::vector<S3Object>> S3Client::List(const std::string& bucket, const std::string& prefix,
                                               int page_size) const {
  std::vector<S3Object> objects;
  std::string token;
  for (;;) {
    S3Call call{"ListObjectsV2", "GET", bucket, ""};
    call.query = {{"list-type", "2"},
                  {"prefix", prefix},
                  {"max-keys", std::to_string(std::clamp(page_size, 1, 1000))}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    MLCORE_ASSIGN_OR_RETURN(HttpResponse r, transport_->Send(call));
    StatusOr<internal::S3ListPage> page = internal::ParseListObjectsV2(r.body);
    if (!page.ok()) {
      return absl::DataLossError(absl::StrCat("S3 ListObjectsV2 s3://", bucket, "/", prefix,
                                              ": unreadable answer: ", page.status().message()));
    }
    for (auto& o : page->objects) objects.push_back({std::move(o.key), o.size, std::move(o.etag)});
    if (!page->truncated) return objects;
    if (page->next_token == token) {
      return absl::DataLossError(absl::StrCat("S3 ListObjectsV2 s3://", bucket, "/", prefix,
                                              ": the server repeated its continuation token"));
    }
    token = page->next_token;
  }
}

Status S3Client::Delete(const std::string& bucket, const std::string& key) const {
  S3Call call{"DELETE", "DELETE", bucket, key};
  return transport_->Send(call).status();
}

Status S3Client::CreateBucket(const std::string& bucket) const {
  S3Call call{"CreateBucket", "PUT", bucket, ""};
  std::string body;
  // us-east-1 is the one region that takes no location constraint (and refuses one).
  if (transport_->region() != "us-east-1") {
    body = absl::StrCat(
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>",
        transport_->region(), "</LocationConstraint></CreateBucketConfiguration>");
  }
  call.body = body;
  MLCORE_ASSIGN_OR_RETURN(call.payload_hash, internal::Sha256HexOf(body));
  Status status = transport_->Send(call).status();
  if (!status.ok() && status.message().find("BucketAlreadyOwnedByYou") != std::string_view::npos) {
    return absl::OkStatus();
  }
  return status;
}

Status S3Client::PutMultipart(const std::string& bucket, const std::string& key,
                              const std::string& path, int64_t size) const {
  return internal::UploadMultipart(*transport_, bucket, key, path, size);
}

}  // namespace mlcore::store
