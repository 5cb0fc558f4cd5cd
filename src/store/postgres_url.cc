// postgresql:// URLs: parsing (RFC 3986 authority with percent-escapes, the form libpq and
// SQLAlchemy accept) and redaction, so that no message ever carries a password.
#include <cctype>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mlcore/store/postgres.h"

namespace mlcore::store {
namespace {

constexpr std::string_view kSchemes[] = {"postgresql://", "postgres://"};

size_t SchemeLength(std::string_view url) {
  for (std::string_view s : kSchemes) {
    if (url.size() >= s.size() && url.substr(0, s.size()) == s) return s.size();
  }
  return 0;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' in query values, as forms write spaces); false for a bad escape.
bool Unescape(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexDigit(in[i + 1]);
      int lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

// The user-info part "user:password@" of a URL starting at `authority`, or npos.
size_t UserInfoEnd(std::string_view url, size_t authority) {
  size_t end = url.find_first_of("/?#", authority);
  std::string_view auth = url.substr(
      authority, end == std::string_view::npos ? std::string_view::npos : end - authority);
  size_t at = auth.rfind('@');
  return at == std::string_view::npos ? std::string_view::npos : authority + at;
}

// The query part "k=v&k2=v2": libpq's host/port/user/password/dbname keywords fill `out`'s
// fields, the rest go to out.params.
template <typename Bad>
Status ParseParameters(std::string_view query, PostgresUrl& out, const Bad& bad) {
  for (const std::string& pair_text :
       std::vector<std::string>(absl::StrSplit(std::string(query), '&'))) {
    std::string_view pair = pair_text;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!Unescape(pair.substr(0, eq), true, &key) ||
        (eq != std::string_view::npos && !Unescape(pair.substr(eq + 1), true, &value))) {
      return bad("bad %-escape in a parameter");
    }
    if (key.empty()) return bad("a parameter has no name");
    // libpq's "host=/path" form for a socket folder.
    if (key == "host") {
      out.host = value;
    } else if (key == "port") {
      if (!absl::SimpleAtoi(value, &out.port) || out.port <= 0 || out.port > 65535) {
        return bad(absl::StrCat("port '", value, "' is not a number from 1 to 65535"));
      }
    } else if (key == "user") {
      out.user = value;
    } else if (key == "password") {
      out.password = value;
    } else if (key == "dbname") {
      out.database = value;
    } else {
      out.params[key] = value;
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsPostgresUrl(std::string_view url) { return SchemeLength(url) > 0; }

std::string RedactPostgresUrl(std::string_view text) {
  // Any scheme: a mistyped "postgressql://u:pw@h" or "mysql://u:pw@h" must not leak either.
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t found = text.find("://", pos);
    if (found == std::string_view::npos) break;
    size_t authority = found + 3;
    // The URL ends at whitespace or a quote in surrounding text.
    size_t url_end = text.find_first_of(" \t\n'\"", authority);
    std::string_view url = text.substr(0, url_end);
    size_t at = UserInfoEnd(url, authority);
    size_t colon = at == std::string_view::npos ? std::string_view::npos
                                                : url.substr(0, at).find(':', authority);
    if (colon != std::string_view::npos) {
      out.append(text.substr(pos, colon + 1 - pos)).append("***");
      pos = at;
    } else {
      out.append(text.substr(pos, authority - pos));
      pos = authority;
    }
  }
  out.append(text.substr(pos));
  return out;
}

std::string PostgresUrl::Endpoint() const {
  std::string h = host.empty() ? "localhost" : host;
  if (!h.empty() && h[0] == '/')
    return absl::StrCat(h, " (socket)", port ? ":" : "", port ? std::to_string(port) : "");
  return absl::StrCat(h, ":", port ? port : 5432);
}

std::string PostgresUrl::Redacted() const {
  std::string out = "postgresql://";
  if (!user.empty()) absl::StrAppend(&out, user, password.empty() ? "" : ":***", "@");
  absl::StrAppend(&out, host.find('/') == std::string::npos ? host : "", port ? ":" : "",
                  port ? std::to_string(port) : "", "/", database);
  std::string sep = "?";
  for (const auto& [k, v] : params) {
    // A parameter could carry a secret of its own (password=, sslpassword=).
    bool secret = k.find("password") != std::string::npos;
    absl::StrAppend(&out, sep, k, "=", secret ? "***" : v);
    sep = "&";
  }
  if (host.find('/') != std::string::npos) absl::StrAppend(&out, sep, "host=", host);
  return out;
}

StatusOr<PostgresUrl> ParsePostgresUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage URL '", RedactPostgresUrl(url), "': ", std::string(why)));
  };
  size_t scheme = SchemeLength(url);
  if (scheme == 0) return bad("expected postgresql://user:password@host:port/database");
  PostgresUrl out;
  size_t authority_end = url.find_first_of("/?#", scheme);
  std::string_view authority =
      url.substr(scheme, authority_end == std::string_view::npos ? std::string_view::npos
                                                                 : authority_end - scheme);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    size_t colon = info.find(':');
    if (!Unescape(info.substr(0, colon), false, &out.user)) return bad("bad %-escape in the user");
    if (colon != std::string_view::npos &&
        !Unescape(info.substr(colon + 1), false, &out.password)) {
      return bad("bad %-escape in the password");
    }
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  if (!host.empty() && host[0] == '[') {  // [IPv6]:port
    size_t close = host.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    out.host = std::string(host.substr(1, close - 1));
    host = host.substr(close + 1);
    if (!host.empty() && host[0] != ':') return bad("unexpected text after ']'");
  } else {
    size_t colon = host.rfind(':');
    std::string_view name = host.substr(0, colon);
    if (!Unescape(name, false, &out.host)) return bad("bad %-escape in the host");
    host = colon == std::string_view::npos ? std::string_view() : host.substr(colon);
  }
  if (!host.empty()) {  // ":port"
    std::string_view digits = host.substr(1);
    int port = 0;
    if (digits.empty() || !absl::SimpleAtoi(std::string(digits), &port) || port <= 0 ||
        port > 65535) {
      return bad(absl::StrCat("port '", std::string(digits), "' is not a number from 1 to 65535"));
    }
    out.port = port;
  }
  std::string_view rest =
      authority_end == std::string_view::npos ? std::string_view() : url.substr(authority_end);
  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t question = rest.find('?');
  std::string_view path = rest.substr(0, question);
  if (!path.empty() && path[0] == '/') path.remove_prefix(1);
  if (path.find('/') != std::string_view::npos) return bad("the database name may not hold '/'");
  if (!Unescape(path, false, &out.database)) return bad("bad %-escape in the database name");
  if (question != std::string_view::npos) {
    MLCORE_RETURN_IF_ERROR(ParseParameters(rest.substr(question + 1), out, bad));
  }
  return out;
}

}  // namespace mlcore::store
