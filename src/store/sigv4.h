// AWS Signature Version 4 for S3 requests, kept small enough to read against the specification
// and checked against the published test suite (tests/cpp/store/sigv4_test.cc). It signs the
// headers form only: the request carries x-amz-date and x-amz-content-sha256, and the signed
// headers are exactly the ones given.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::store::internal {

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: long-term keys (no x-amz-security-token header)
};

struct SigV4Request {
  std::string method;  // "GET", "PUT"...
  // The path as the server sees it before percent-decoding: raw bytes, '/' separated. The
  // signer encodes it once, as S3 expects (other services encode twice; mlcore signs only S3).
  std::string path;
  // Query parameters, raw (the signer encodes and sorts them).
  std::vector<std::pair<std::string, std::string>> query;
  // Every header to sign, including host and x-amz-date; names in any case.
  std::vector<std::pair<std::string, std::string>> headers;
  // Lowercase hex sha256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_hash;
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // 64 hex digits
  std::string authorization;   // the Authorization header's value
};

// `amz_date` is the request's x-amz-date (yyyymmddThhmmssZ); its first 8 characters date the
// credential scope. InvalidArgument for a malformed date; Internal when OpenSSL fails.
StatusOr<SigV4Signature> SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                                std::string_view region, std::string_view service,
                                std::string_view amz_date);

// RFC 3986 percent-encoding of everything but unreserved characters (A-Z a-z 0-9 - . _ ~), and
// of '/' unless `keep_slash`: the encoding SigV4 prescribes for paths and query strings.
std::string UriEncode(std::string_view text, bool keep_slash);

// The canonical query string: each name and value encoded, sorted by name then value.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> query);

// Lowercase hex of the sha256 of `bytes` (OpenSSL).
StatusOr<std::string> Sha256HexOf(std::string_view bytes);

// The current time as an x-amz-date.
std::string AmzDateNow();

}  // namespace mlcore::store::internal
