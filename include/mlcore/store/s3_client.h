// A small S3 client: put, get, head, list, delete of objects on AWS S3 or any S3-compatible
// server (MinIO, Ceph, moto), over libcurl with Signature Version 4. Endpoint, region and
// credentials come from the options or the standard AWS environment variables. Transient
// failures (no answer, HTTP 500/502/503/504, SlowDown) are retried with exponential backoff and
// jitter within a bounded number of attempts and time; every error names the bucket, the key,
// the HTTP status and S3's error code.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"

namespace mlcore::store {
namespace internal {
class S3Transport;
}  // namespace internal

struct S3Options {
  // The server, e.g. "http://127.0.0.1:9000". Empty: $AWS_ENDPOINT_URL_S3, then
  // $AWS_ENDPOINT_URL, then AWS itself (https://s3.<region>.amazonaws.com).
  std::string endpoint;
  // Empty: $AWS_REGION, then $AWS_DEFAULT_REGION, then "us-east-1".
  std::string region;
  // Empty: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and $AWS_SESSION_TOKEN. With no key at all
  // Open fails (requests would be anonymous, which mlcore does not send).
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  // Bucket in the path (endpoint/bucket/key) rather than in the host name (bucket.endpoint/key).
  // Unset: path style for a custom endpoint (which rarely has per-bucket DNS), virtual-hosted
  // for AWS.
  enum class Addressing { kAuto, kPath, kVirtualHosted };
  Addressing addressing = Addressing::kAuto;

  // Attempts per request, the first included. 0: $AWS_MAX_ATTEMPTS, else 5. More rides out
  // longer outages; each costs up to max_backoff of waiting first.
  int max_attempts = 0;
  // Waits between attempts are drawn uniformly from [0, min(max_backoff, initial_backoff * 2^n))
  // ("full jitter"), so many clients failing together do not retry together.
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);
  // No retry starts after this much time has gone on one request's attempts, so a dead endpoint
  // fails in bounded time even with many attempts allowed.
  absl::Duration retry_budget = absl::Seconds(60);
  absl::Duration connect_timeout = absl::Seconds(10);
  // An exchange moving no bytes for this long is abandoned (and retried).
  absl::Duration stall_timeout = absl::Seconds(60);

  // Files larger than this upload as multipart uploads of part_size parts (S3 takes single PUTs
  // up to 5 GiB and parts of at least 5 MiB). Larger parts mean fewer requests but more to
  // resend when one fails.
  int64_t multipart_threshold = int64_t{64} << 20;
  int64_t part_size = int64_t{64} << 20;
};

// An object as S3 describes it.
struct S3Object {
  std::string key;
  int64_t size = 0;
  std::string etag;  // without quotes: the MD5 of the content for single-part unencrypted uploads
};

// "s3://bucket/prefix" split; the prefix has no leading or trailing '/'. InvalidArgument for
// another scheme, an empty or invalid bucket name.
struct S3Location {
  std::string bucket;
  std::string prefix;
};
StatusOr<S3Location> ParseS3Url(std::string_view url);

// Safe to use from several threads at once (each request has its own connection).
class S3Client {
 public:
  // InvalidArgument for a malformed endpoint or part size, or missing credentials.
  static StatusOr<std::unique_ptr<S3Client>> Open(const S3Options& options = {});

  // Each call's errors: NotFound (no such key or bucket), PermissionDenied (403: credentials or
  // policy), Unavailable (the endpoint did not answer, or kept answering 5xx/SlowDown until the
  // attempts or the retry budget ran out), InvalidArgument (other 4xx), DataLoss (the server
  // stored or sent other bytes than were sent or expected).

  // Stores `bytes` in one PUT, its MD5 sent for the server to check and the returned ETag
  // compared with it.
  Status Put(const std::string& bucket, const std::string& key, std::string_view bytes) const;
  // Stores the file at `path`, streamed: one PUT up to multipart_threshold, a multipart upload
  // (aborted on failure) above. Each part's MD5 is checked as Put checks the whole.
  Status PutFile(const std::string& bucket, const std::string& key, const std::string& path) const;
  StatusOr<std::string> Get(const std::string& bucket, const std::string& key) const;
  // Streams the object into `path` (created or truncated); returns its size.
  StatusOr<int64_t> GetToFile(const std::string& bucket, const std::string& key,
                              const std::string& path) const;
  StatusOr<S3Object> Head(const std::string& bucket, const std::string& key) const;
  // false for a missing key (and for a missing bucket: a HEAD answer carries no error code).
  StatusOr<bool> Exists(const std::string& bucket, const std::string& key) const;
  // Every object whose key starts with `prefix`, in key order, following continuation tokens
  // (page_size keys per request; S3 caps it at 1000).
  StatusOr<std::vector<S3Object>> List(const std::string& bucket, const std::string& prefix,
                                       int page_size = 1000) const;
  // Deleting a key that does not exist succeeds, as in S3.
  Status Delete(const std::string& bucket, const std::string& key) const;
  // Creates the bucket (in the client's region); OK when this account already owns it.
  Status CreateBucket(const std::string& bucket) const;

  // The endpoint and region in use, after the environment was read.
  const std::string& endpoint() const;
  const std::string& region() const;

  ~S3Client();

 private:
  explicit S3Client(std::unique_ptr<internal::S3Transport> transport);
  Status PutMultipart(const std::string& bucket, const std::string& key, const std::string& path,
                      int64_t size) const;

  std::unique_ptr<internal::S3Transport> transport_;
};

}  // namespace mlcore::store
