#include "store/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/strings.h"

namespace mlcore::store::internal {
namespace {

using ::mlcore::internal::AV;
constexpr char kHex[] = "0123456789abcdef";

std::string Hex(const unsigned char* bytes, size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

// HMAC-SHA256 as raw bytes: each step of the key derivation feeds the next one's key.
StatusOr<std::string> Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
           &length) == nullptr) {
    return absl::InternalError("OpenSSL failed to compute an HMAC-SHA256");
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

// Header values are trimmed and inner runs of spaces collapse to one, as the canonical form
// requires (the suite's get-header-value-trim case).
std::string CanonicalValue(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : absl::StripAsciiWhitespace(AV(value))) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(absl::ascii_toupper(kHex[c >> 4]));
      out.push_back(absl::ascii_toupper(kHex[c & 0xf]));
    }
  }
  return out;
}

std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> query) {
  for (auto& [name, value] : query) {
    name = UriEncode(name, false);
    value = UriEncode(value, false);
  }
  std::sort(query.begin(), query.end());
  return absl::StrJoin(query, "&", [](std::string* out, const auto& p) {
    absl::StrAppend(out, p.first, "=", p.second);
  });
}

StatusOr<std::string> Sha256HexOf(std::string_view bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), out, &length, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("OpenSSL failed to compute a sha256 digest");
  }
  return Hex(out, length);
}

std::string AmzDateNow() {
  std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y%m%dT%H%M%SZ", &utc);
  return buffer;
}

StatusOr<SigV4Signature> SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                                std::string_view region, std::string_view service,
                                std::string_view amz_date) {
  if (amz_date.size() != 16 || amz_date[8] != 'T' || amz_date.back() != 'Z') {
    return absl::InvalidArgumentError(
        absl::StrCat("x-amz-date '", AV(amz_date), "' is not of the form yyyymmddThhmmssZ"));
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(absl::AsciiStrToLower(name), CanonicalValue(value));
  }
  std::sort(headers.begin(), headers.end());
  SigV4Signature out;
  std::string canonical_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    absl::StrAppend(&canonical_headers, headers[i].first, ":", headers[i].second, "\n");
    absl::StrAppend(&out.signed_headers, i == 0 ? "" : ";", headers[i].first);
  }
  std::string path = request.path.empty() ? "/" : UriEncode(request.path, true);
  out.canonical_request =
      absl::StrCat(request.method, "\n", path, "\n", CanonicalQuery(request.query), "\n",
                   canonical_headers, "\n", out.signed_headers, "\n", request.payload_hash);
  const std::string_view day = amz_date.substr(0, 8);
  const std::string scope =
      absl::StrCat(AV(day), "/", AV(region), "/", AV(service), "/aws4_request");
  MLCORE_ASSIGN_OR_RETURN(std::string request_hash, Sha256HexOf(out.canonical_request));
  out.string_to_sign =
      absl::StrCat("AWS4-HMAC-SHA256\n", AV(amz_date), "\n", scope, "\n", request_hash);
  // The signing key is derived by chaining HMACs over date, region, service and a constant, so a
  // leaked key signs for one day, region and service only.
  MLCORE_ASSIGN_OR_RETURN(std::string key,
                          Hmac(absl::StrCat("AWS4", credentials.secret_access_key), day));
  MLCORE_ASSIGN_OR_RETURN(key, Hmac(key, region));
  MLCORE_ASSIGN_OR_RETURN(key, Hmac(key, service));
  MLCORE_ASSIGN_OR_RETURN(key, Hmac(key, "aws4_request"));
  MLCORE_ASSIGN_OR_RETURN(std::string signature, Hmac(key, out.string_to_sign));
  out.signature = Hex(reinterpret_cast<const unsigned char*>(signature.data()), signature.size());
  out.authorization =
      absl::StrCat("AWS4-HMAC-SHA256 Credential=", credentials.access_key_id, "/", scope,
                   ", SignedHeaders=", out.signed_headers, ", Signature=", out.signature);
  return out;
}

}  // namespace mlcore::store::internal
