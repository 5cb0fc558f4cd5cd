#include "store/s3_transport.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "mlcore/core/logging.h"
#include "store/s3_xml.h"

namespace mlcore::store::internal {
namespace {

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

std::string FirstOf(std::initializer_list<std::string> values) {
  for (const std::string& v : values) {
    if (!v.empty()) return v;
  }
  return "";
}

// Transient by S3's own account: the request may succeed if sent again.
bool Retryable(long status, const std::string& code) {
  return status == 500 || status == 502 || status == 503 || status == 504 || code == "SlowDown" ||
         code == "InternalError" || code == "RequestTimeout" || code == "ServiceUnavailable";
}

std::string Describe(const HttpResponse& r, const S3ErrorDocument& e) {
  std::string out = absl::StrCat("HTTP ", r.status);
  if (!e.code.empty()) absl::StrAppend(&out, " ", e.code);
  if (!e.message.empty()) absl::StrAppend(&out, ": ", e.message);
  return out;
}

// The final status for an answer that will not be retried.
Status Refused(const S3Call& call, const std::string& endpoint, const HttpResponse& r,
               const S3ErrorDocument& e) {
  const std::string what = absl::StrCat("S3 ", call.operation, " ", S3Transport::Where(call),
                                        " at ", endpoint, ": ", Describe(r, e));
  if (e.code == "NoSuchBucket") {
    return absl::NotFoundError(absl::StrCat(what, " (bucket '", call.bucket, "' does not exist)"));
  }
  if (r.status == 404) {
    return absl::NotFoundError(absl::StrCat(what, e.code.empty() ? " (no such key)" : ""));
  }
  if (r.status == 403) {
    return absl::PermissionDeniedError(
        absl::StrCat(what,
                     " (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and the "
                     "bucket's policy)"));
  }
  if (e.code == "BadDigest" || e.code == "InvalidDigest") {
    return absl::DataLossError(
        absl::StrCat(what, " (the bytes the server got are not those sent)"));
  }
  return absl::InvalidArgumentError(what);
}

absl::Duration Backoff(const S3Options& o, int attempt) {
  absl::Duration cap = o.initial_backoff;
  for (int i = 0; i < attempt && cap < o.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, o.max_backoff);
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  return cap * unit(rng);
}

}  // namespace

std::string S3Transport::Where(const S3Call& call) {
  return call.key.empty() ? absl::StrCat("s3://", call.bucket)
                          : absl::StrCat("s3://", call.bucket, "/", call.key);
}

StatusOr<std::unique_ptr<S3Transport>> S3Transport::Open(const S3Options& given) {
  S3Options o = given;
  std::string region =
      FirstOf({o.region, Env("AWS_REGION"), Env("AWS_DEFAULT_REGION"), "us-east-1"});
  std::string endpoint = FirstOf({o.endpoint, Env("AWS_ENDPOINT_URL_S3"), Env("AWS_ENDPOINT_URL")});
  const bool custom = !endpoint.empty();
  if (!custom) endpoint = absl::StrCat("https://s3.", region, ".amazonaws.com");
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const size_t scheme = endpoint.find("://");
  if (!(endpoint.rfind("http://", 0) == 0 || endpoint.rfind("https://", 0) == 0) ||
      endpoint.size() == scheme + 3 || endpoint.find('/', scheme + 3) != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 endpoint '", endpoint, "' is not of the form http(s)://host[:port]"));
  }
  if (o.access_key_id.empty() && o.secret_access_key.empty()) {
    o.access_key_id = Env("AWS_ACCESS_KEY_ID");
    o.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
    if (o.session_token.empty()) o.session_token = Env("AWS_SESSION_TOKEN");
  }
  if (o.access_key_id.empty() || o.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        "S3 needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
        "AWS_SESSION_TOKEN for temporary ones), or give them in S3Options");
  }
  if (o.max_attempts <= 0) {
    int from_env = 0;
    o.max_attempts =
        absl::SimpleAtoi(Env("AWS_MAX_ATTEMPTS"), &from_env) && from_env > 0 ? from_env : 5;
  }
  if (o.part_size < (int64_t{5} << 20) || o.multipart_threshold < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "S3 part_size must be at least 5 MiB (S3's minimum), got ", o.part_size, " bytes"));
  }
  std::unique_ptr<S3Transport> t(new S3Transport(o, endpoint, region));
  t->path_style_ = o.addressing == S3Options::Addressing::kPath ||
                   (o.addressing == S3Options::Addressing::kAuto && custom);
  return t;
}

StatusOr<HttpRequest> S3Transport::Prepare(const S3Call& call) const {
  const size_t host_at = endpoint_.find("://") + 3;
  std::string host = endpoint_.substr(host_at);
  std::string path = "/";
  if (path_style_) {
    absl::StrAppend(&path, call.bucket, call.key.empty() ? "" : "/", call.key);
  } else {
    host = absl::StrCat(call.bucket, ".", host);
    path += call.key;
  }
  SigV4Request signing;
  signing.method = call.method;
  signing.path = path;
  signing.query = call.query;
  signing.payload_hash = call.payload_hash.empty() ? kEmptySha256 : call.payload_hash;
  const std::string date = AmzDateNow();
  signing.headers = call.headers;
  signing.headers.emplace_back("host", host);
  signing.headers.emplace_back("x-amz-date", date);
  signing.headers.emplace_back("x-amz-content-sha256", signing.payload_hash);
  const SigV4Credentials credentials{options_.access_key_id, options_.secret_access_key,
                                     options_.session_token};
  if (!credentials.session_token.empty()) {
    signing.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  MLCORE_ASSIGN_OR_RETURN(SigV4Signature signature,
                          SignV4(signing, credentials, region_, "s3", date));
  HttpRequest request;
  request.method = call.method;
  const std::string query = CanonicalQuery(call.query);
  request.url = absl::StrCat(endpoint_.substr(0, host_at), host, UriEncode(path, true),
                             query.empty() ? "" : "?", query);
  request.headers = std::move(signing.headers);
  request.headers.emplace_back("Authorization", signature.authorization);
  request.body = call.body;
  request.body_file = call.body_file;
  request.body_offset = call.body_offset;
  request.body_length = call.body_length;
  request.response_file = call.response_file;
  request.connect_timeout = options_.connect_timeout;
  request.stall_timeout = options_.stall_timeout;
  return request;
}

StatusOr<HttpResponse> S3Transport::Send(const S3Call& call) const {
  const absl::Time start = absl::Now();
  std::string last;
  int attempt = 0;
  for (;;) {
    ++attempt;
    // Signed anew each attempt: a signature dates the request, and S3 refuses old ones.
    MLCORE_ASSIGN_OR_RETURN(HttpRequest request, Prepare(call));
    StatusOr<HttpResponse> answer = PerformHttp(request);
    if (answer.ok()) {
      S3ErrorDocument error;
      const bool ok_status = answer->status >= 200 && answer->status < 300;
      if (!ok_status || call.error_in_ok_body) error = ParseS3Error(answer->body);
      if (ok_status && error.code.empty()) return answer;
      if (!Retryable(answer->status, error.code)) {
        return Refused(call, endpoint_, *answer, error);
      }
      last = Describe(*answer, error);
    } else if (absl::IsUnavailable(answer.status())) {
      last = std::string(answer.status().message());
    } else {
      return answer.status();  // a local file error: sending again would not help
    }
    const absl::Duration wait = Backoff(options_, attempt - 1);
    const absl::Duration spent = absl::Now() - start;
    if (attempt >= options_.max_attempts || spent + wait > options_.retry_budget) {
      return absl::UnavailableError(absl::StrCat("S3 ", call.operation, " ", Where(call), " at ",
                                                 endpoint_, " failed after ", attempt,
                                                 attempt == 1 ? " attempt" : " attempts", " in ",
                                                 absl::FormatDuration(spent), "; last: ", last));
    }
    MLCORE_LOG(Warning) << "S3 " << call.operation << " " << Where(call) << ": " << last
                        << "; retrying in " << absl::FormatDuration(wait) << " (attempt "
                        << attempt + 1 << " of " << options_.max_attempts << ")";
    absl::SleepFor(wait);
  }
}

std::string Md5Raw(std::string_view bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &length, EVP_md5(), nullptr);
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string Base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string HexOf(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

}  // namespace mlcore::store::internal
