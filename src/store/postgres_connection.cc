#include "store/postgres_connection.h"

#include <libpq-fe.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mlcore::store::internal {
namespace {

// Type OIDs of the result columns converted to numbers or bytes (pg_type.h).
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700,
              kFloat8 = 701, kNumeric = 1700;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

std::string DoubleText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// Milliseconds for a SET ... = N; at least 1 for a positive duration (0 disables the timeout).
int64_t Millis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(d));
}

// libpq's messages end with a newline.
std::string Trimmed(const char* text) {
  std::string s = text == nullptr ? "" : text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

absl::StatusCode CodeForSqlState(std::string_view state) {
  if (state == "40001" || state == "40P01") return absl::StatusCode::kAborted;
  if (state == "57014" || state == "55P03") return absl::StatusCode::kDeadlineExceeded;
  if (state == "23505") return absl::StatusCode::kAlreadyExists;
  if (state == "28P01" || state == "28000") return absl::StatusCode::kUnauthenticated;
  if (state == "3D000") return absl::StatusCode::kNotFound;
  // Connection exceptions, and the server shutting down or starting up.
  if (state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" || state == "57P03") {
    return absl::StatusCode::kUnavailable;
  }
  if (state.substr(0, 2) == "23" || state.substr(0, 2) == "22") {
    return absl::StatusCode::kInvalidArgument;
  }
  return absl::StatusCode::kInternal;
}

StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const PostgresUrl& url,
                                                              const PostgresOptions& options,
                                                              const std::string& description) {
  std::vector<std::pair<std::string, std::string>> kv;
  if (!url.host.empty()) kv.emplace_back("host", url.host);
  if (url.port != 0) kv.emplace_back("port", std::to_string(url.port));
  if (!url.user.empty()) kv.emplace_back("user", url.user);
  if (!url.password.empty()) kv.emplace_back("password", url.password);
  if (!url.database.empty()) kv.emplace_back("dbname", url.database);
  kv.emplace_back("fallback_application_name", "mlcore");
  if (url.params.count("connect_timeout") == 0) {
    kv.emplace_back("connect_timeout", std::to_string(std::max<int64_t>(
                                           1, absl::ToInt64Seconds(options.connect_timeout))));
  }
  for (const auto& [k, v] : url.params) kv.emplace_back(k, v);
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : kv) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("PostgreSQL store ", description, ": out of memory opening a connection"));
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = RedactPostgresUrl(Trimmed(PQerrorMessage(conn)));
    if (!url.password.empty()) {
      // libpq does not print passwords; this is a second fence for a future one that might.
      for (size_t at; (at = message.find(url.password)) != std::string::npos;) {
        message.replace(at, url.password.size(), "***");
      }
    }
    PQfinish(conn);
    absl::StatusCode code = absl::StatusCode::kUnavailable;
    if (message.find("authentication failed") != std::string::npos ||
        message.find("no password supplied") != std::string::npos) {
      code = absl::StatusCode::kUnauthenticated;
    } else if (message.find("does not exist") != std::string::npos &&
               message.find("database") != std::string::npos) {
      code = absl::StatusCode::kNotFound;
    }
    return Status(code, absl::StrCat("cannot connect to PostgreSQL at ", url.Endpoint(), " (",
                                     description, "): ", message));
  }
  auto out = std::unique_ptr<PgConnection>(new PgConnection(conn, description));
  // Session settings: the server enforces the timeouts, so a stuck statement or a lock held by a
  // dead client fails the call instead of hanging it. Statements are prepared once per
  // connection and run with their generic plan: no planning per call (a quarter of a
  // millisecond for a study's trial read), which the store's statements, written to be
  // index-driven whatever their parameters, can afford.
  MLCORE_RETURN_IF_ERROR(out->Execute(absl::StrCat(
      "SET statement_timeout = ", Millis(options.statement_timeout),
      "; SET lock_timeout = ", Millis(options.lock_timeout),
      "; SET client_min_messages = warning; SET plan_cache_mode = force_generic_plan")));
  return out;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

Status PgConnection::ResultError(PGresult* result, std::string_view sql) const {
  std::string message;
  const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (result != nullptr) message = Trimmed(PQresultErrorMessage(result));
  if (message.empty()) message = Trimmed(PQerrorMessage(conn_));
  message = RedactPostgresUrl(message);
  absl::StatusCode code = state != nullptr ? CodeForSqlState(state) : absl::StatusCode::kUnknown;
  if (broken() || state == nullptr) code = absl::StatusCode::kUnavailable;
  std::string statement(sql.substr(0, 200));
  return Status(code, absl::StrCat("PostgreSQL store ", description_, ": ", message,
                                   state != nullptr ? absl::StrCat(" (SQLSTATE ", state, ")") : "",
                                   " in: ", statement, sql.size() > 200 ? "..." : ""));
}

StatusOr<std::vector<Row>> PgConnection::ReadRows(PGresult* result) const {
  std::vector<Row> rows;
  const int n = PQntuples(result), cols = PQnfields(result);
  rows.reserve(n);
  std::vector<Oid> types(cols);
  for (int c = 0; c < cols; ++c) types[c] = PQftype(result, c);
  for (int r = 0; r < n; ++r) {
    Row row;
    row.reserve(cols);
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(result, r, c)) {
        row.emplace_back(std::monostate());
        continue;
      }
      const char* text = PQgetvalue(result, r, c);
      const int len = PQgetlength(result, r, c);
      switch (types[c]) {
        case kInt2:
        case kInt4:
        case kInt8:
        case kOid: {
          int64_t v = 0;
          std::from_chars(text, text + len, v);
          row.emplace_back(v);
          break;
        }
        case kBool:
          row.emplace_back(int64_t{text[0] == 't' ? 1 : 0});
          break;
        case kFloat4:
        case kFloat8:
        case kNumeric:
          row.emplace_back(std::strtod(text, nullptr));
          break;
        case kBytea: {
          Blob b;
          if (len >= 2 && text[0] == '\\' && text[1] == 'x') {
            b.bytes.reserve((len - 2) / 2);
            for (int i = 2; i + 1 < len; i += 2) {
              b.bytes.push_back(static_cast<char>(Hex(text[i]) * 16 + Hex(text[i + 1])));
            }
          }
          row.emplace_back(std::move(b));
          break;
        }
        default:
          row.emplace_back(std::string(text, len));
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

StatusOr<std::vector<Row>> PgConnection::Query(std::string_view sql,
                                               const std::vector<Value>& params) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = absl::StrCat("mlcore_", prepared_.size());
    std::string text(sql);
    Result prepared(PQprepare(conn_, name.c_str(), text.c_str(), 0, nullptr));
    if (prepared == nullptr || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
      return ResultError(prepared.get(), sql);
    }
    it = prepared_.emplace(std::move(text), std::move(name)).first;
  }
  std::vector<std::string> texts(params.size());
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Value& v = params[i];
    if (std::holds_alternative<std::monostate>(v)) {
      values[i] = nullptr;
      continue;
    }
    if (const auto* b = std::get_if<Blob>(&v)) {
      values[i] = b->bytes.data();
      lengths[i] = static_cast<int>(b->bytes.size());
      formats[i] = 1;  // binary: bytea takes the bytes as they are
      continue;
    }
    if (const auto* n = std::get_if<int64_t>(&v)) {
      texts[i] = std::to_string(*n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      texts[i] = DoubleText(*d);
    } else {
      texts[i] = std::get<std::string>(v);
    }
    values[i] = texts[i].c_str();
  }
  Result result(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                               values.data(), lengths.data(), formats.data(), 0));
  if (result == nullptr) return ResultError(nullptr, sql);
  ExecStatusType status = PQresultStatus(result.get());
  if (status == PGRES_TUPLES_OK) return ReadRows(result.get());
  if (status == PGRES_COMMAND_OK) return std::vector<Row>();
  return ResultError(result.get(), sql);
}

Status PgConnection::Execute(std::string_view sql) {
  std::string text(sql);
  Result result(PQexec(conn_, text.c_str()));
  if (result == nullptr) return ResultError(nullptr, sql);
  ExecStatusType status = PQresultStatus(result.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  return ResultError(result.get(), sql);
}

}  // namespace mlcore::store::internal
