// One HTTP exchange over libcurl, the transport under S3Client. It knows nothing of S3: the
// caller signs, retries and reads errors. Bodies stream from a file range and to a file, so
// gigabyte objects never sit in memory.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/status.h"

namespace mlcore::store::internal {

struct HttpRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  // The body: `body` bytes, or (when body_file is set) body_length bytes of body_file from
  // body_offset. Either can be sent again, so a failed attempt can be retried.
  std::string_view body;
  std::string body_file;
  int64_t body_offset = 0;
  int64_t body_length = 0;
  // When set, a 2xx answer's body is written to this file (created or truncated) instead of
  // HttpResponse::body; other answers' bodies still land in HttpResponse::body.
  std::string response_file;
  absl::Duration connect_timeout = absl::Seconds(10);
  // The exchange is abandoned when it moves fewer than 1 byte per second for this long.
  absl::Duration stall_timeout = absl::Seconds(60);
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  int64_t body_bytes = 0;  // bytes received (also when written to response_file)
};

// The server's answer, whatever its status. Unavailable naming the URL when no answer came
// (refused, reset, timed out, DNS); Internal/NotFound when the body file cannot be read or the
// response file written.
StatusOr<HttpResponse> PerformHttp(const HttpRequest& request);

}  // namespace mlcore::store::internal
