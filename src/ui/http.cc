// Dashboard::HandleHttp: the pages and the /api/... JSON endpoints under the mount prefix.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/html_escape.h"
#include "ui/assets.h"
#include "ui/http_util.h"
#include "ui/stores.h"

namespace mlcore::ui {
namespace internal {
namespace {

int StatusCode(const Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:  // no store yet
    case absl::StatusCode::kDataLoss:            // a damaged store
    case absl::StatusCode::kUnavailable:         // busy
    case absl::StatusCode::kDeadlineExceeded:
      return 503;
    default:
      return 500;
  }
}

void SecurityHeaders(HttpReply* r) {
  r->headers.emplace_back("X-Content-Type-Options", "nosniff");
  r->headers.emplace_back("X-Frame-Options", "DENY");
  r->headers.emplace_back("Referrer-Policy", "no-referrer");
  r->headers.emplace_back("Content-Security-Policy",
                          "default-src 'self'; img-src 'self' data:; style-src 'self' "
                          "'unsafe-inline'; object-src 'none'; frame-ancestors 'none'");
  r->headers.emplace_back("Cache-Control", "no-store");
}

}  // namespace

HttpReply JsonReply(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  SecurityHeaders(&r);
  return r;
}

HttpReply ErrorJson(const Status& s) {
  Json doc = {{"error", std::string(s.message())}, {"code", absl::StatusCodeToString(s.code())}};
  return JsonReply(StatusCode(s), doc.dump());
}

HttpReply FromResult(const StatusOr<std::string>& r) {
  return r.ok() ? JsonReply(200, *r) : ErrorJson(r.status());
}

namespace {

using mlcore::internal::HtmlEscape;

// A short page for a browser that asked for something that is not there.
HttpReply HtmlError(int status, const std::string& title, const std::string& detail,
                    const std::string& prefix) {
  HttpReply r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = absl::StrCat(
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>mlcore: ", HtmlEscape(title),
      "</title><link rel=\"stylesheet\" href=\"", prefix,
      "/static/app.css\"></head><body><main class=\"error-page\"><h1>", status, " ",
      HtmlEscape(title), "</h1><p>", HtmlEscape(detail), "</p><p><a href=\"", prefix,
      "/\">Back to the dashboard</a></p></main>"
      "</body></html>");
  SecurityHeaders(&r);
  return r;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding ('+' as space in queries); InvalidArgument for a bad escape or a NUL.
StatusOr<std::string> Decode(std::string_view in, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      int hi = i + 2 < in.size() ? HexDigit(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
      if (i + 2 >= in.size() || hi < 0 || lo < 0) {
        return absl::InvalidArgumentError("bad %-escape in the URL");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += plus_is_space && in[i] == '+' ? ' ' : in[i];
    }
  }
  if (out.find('\0') != std::string::npos) return absl::InvalidArgumentError("NUL in the URL");
  return out;
}

StatusOr<Parsed> ParseTarget(const std::string& target, const std::string& prefix) {
  Parsed p;
  const std::string rest = target.substr(prefix.size());
  size_t q = rest.find('?');
  const std::string path = rest.substr(0, q);
  for (absl::string_view piece : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    StatusOr<std::string> part = Decode(std::string(piece), false);
    if (!part.ok()) return part.status();
    if (*part == "." || *part == "..") {
      return absl::InvalidArgumentError("path segments may not be '.' or '..'");
    }
    p.parts.push_back(*std::move(part));
  }
  if (q != std::string::npos) {
    for (absl::string_view piece : absl::StrSplit(rest.substr(q + 1), '&', absl::SkipEmpty())) {
      const std::string kv(piece);
      size_t eq = kv.find('=');
      MLCORE_ASSIGN_OR_RETURN(std::string key, Decode(kv.substr(0, eq), true));
      std::string value;
      if (eq != std::string::npos) {
        MLCORE_ASSIGN_OR_RETURN(value, Decode(kv.substr(eq + 1), true));
      }
      p.query[key] = value;
    }
  }
  return p;
}

}  // namespace

StatusOr<int64_t> IntParam(const Parsed& p, const std::string& key, int64_t fallback) {
  auto it = p.query.find(key);
  if (it == p.query.end() || it->second.empty()) return fallback;
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter '", key, "' must be an integer"));
  }
  return v;
}

StatusOr<double> DoubleParam(const Parsed& p, const std::string& key, double fallback) {
  auto it = p.query.find(key);
  if (it == p.query.end() || it->second.empty()) return fallback;
  double v;
  if (!absl::SimpleAtod(it->second, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("query parameter '", key, "' must be a number"));
  }
  return v;
}

std::string Param(const Parsed& p, const std::string& key) {
  auto it = p.query.find(key);
  return it == p.query.end() ? "" : it->second;
}

namespace {

const char* ContentType(const std::string& name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

HttpReply ServeAsset(const DashboardOptions& options, const std::string& name,
                     const std::string& prefix) {
  bool plain =
      !name.empty() &&
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-.") == std::string::npos &&
      name[0] != '.';
  if (plain && !options.static_dir.empty()) {
    std::ifstream in(options.static_dir + "/" + name, std::ios::binary);
    if (in) {
      std::stringstream bytes;
      bytes << in.rdbuf();
      HttpReply r = JsonReply(200, bytes.str());
      r.content_type = ContentType(name);
      return r;
    }
  }
  for (size_t i = 0; plain && i < internal::kAssetCount; ++i) {
    if (name != internal::kAssets[i].name) continue;
    HttpReply r =
        JsonReply(200, std::string(reinterpret_cast<const char*>(internal::kAssets[i].data),
                                   internal::kAssets[i].size));
    r.content_type = ContentType(name);
    return r;
  }
  return HtmlError(404, "Not found", absl::StrCat("no page file '", name, "'"), prefix);
}

}  // namespace
}  // namespace internal

HttpReply Dashboard::HandleHttp(const HttpRequest& request, const std::string& prefix) {
  using namespace internal;  // NOLINT: this file's own helpers
  // The pages link their files relatively, so "/ui" must become "/ui/".
  if (request.target == prefix || absl::StartsWith(request.target, prefix + "?")) {
    HttpReply r = JsonReply(301, "");
    r.content_type = "text/plain";
    r.headers.emplace_back("Location", prefix + "/");
    return r;
  }
  StatusOr<Parsed> parsed = ParseTarget(request.target, prefix);
  if (!parsed.ok()) return ErrorJson(parsed.status());
  const std::vector<std::string>& parts = parsed->parts;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (parts.empty() || (parts.size() == 1 && parts[0] == "index.html")) {
    if (!get) return ErrorJson(absl::InvalidArgumentError("pages take GET"));
    return ServeAsset(options_, "index.html", prefix);
  }
  if (parts[0] == "static" && parts.size() == 2 && get)
    return ServeAsset(options_, parts[1], prefix);
  if (parts[0] != "api") {
    return HtmlError(404, "Not found", absl::StrCat("the dashboard has no page ", request.target),
                     prefix);
  }
  return RouteApi(*this, request, *parsed);
}

}  // namespace mlcore::ui
