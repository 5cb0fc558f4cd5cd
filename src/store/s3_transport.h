// What every S3 request shares: addressing (path or virtual-hosted), signing, retries with
// backoff and jitter, and errors that name the operation, bucket, key, HTTP status and S3 code.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlcore/store/s3_client.h"
#include "store/s3_http.h"
#include "store/sigv4.h"

namespace mlcore::store::internal {

// One S3 request, before addressing and signing.
struct S3Call {
  S3Call(std::string operation_in, std::string method_in, std::string bucket_in, std::string key_in,
         std::vector<std::pair<std::string, std::string>> query_in = {})
      : operation(std::move(operation_in)),
        method(std::move(method_in)),
        bucket(std::move(bucket_in)),
        key(std::move(key_in)),
        query(std::move(query_in)) {}

  std::string operation;  // "PUT", "GET"... or a longer word for messages ("UploadPart 3")
  std::string method;
  std::string bucket;
  std::string key;  // empty for bucket-level requests
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // besides host and x-amz-*
  std::string_view body;
  std::string body_file;  // with body_offset and body_length, as in HttpRequest
  int64_t body_offset = 0;
  int64_t body_length = 0;
  std::string payload_hash;  // empty: the sha256 of the empty body
  std::string response_file;
  // S3 can answer a multipart completion 200 OK with an <Error> body: then it is an error.
  bool error_in_ok_body = false;
};

class S3Transport {
 public:
  static StatusOr<std::unique_ptr<S3Transport>> Open(const S3Options& options);

  // The 2xx answer. 404/403/other 4xx map at once to NotFound/PermissionDenied/InvalidArgument
  // (DataLoss for BadDigest); no answer and 5xx/SlowDown are retried, then Unavailable.
  StatusOr<HttpResponse> Send(const S3Call& call) const;

  // "s3://bucket/key", for messages.
  static std::string Where(const S3Call& call);

  const S3Options& options() const { return options_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& region() const { return region_; }

 private:
  S3Transport(S3Options options, std::string endpoint, std::string region)
      : options_(std::move(options)), endpoint_(std::move(endpoint)), region_(std::move(region)) {}
  StatusOr<HttpRequest> Prepare(const S3Call& call) const;

  S3Options options_;
  std::string endpoint_;  // scheme://host[:port], no trailing '/'
  std::string region_;
  bool path_style_ = true;
};

// MD5 of bytes, as raw 16 bytes; helpers for Content-MD5 (base64) and ETag (hex) forms.
std::string Md5Raw(std::string_view bytes);
std::string Base64(std::string_view raw);
std::string HexOf(std::string_view raw);

}  // namespace mlcore::store::internal
