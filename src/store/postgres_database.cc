// PostgresDatabase: the SqlDatabase interface over a PostgresStore's pool.
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "mlcore/store/postgres.h"

namespace mlcore::store {
namespace {

// The transactions this thread is inside, innermost last: the calls a transaction's function
// makes must run on its connection, not on another pooled one.
struct OpenTransaction {
  const PostgresDatabase* database;
  PostgresSession* session;
  int savepoints;
};
thread_local std::vector<OpenTransaction> open_transactions;

OpenTransaction* Current(const PostgresDatabase* database) {
  for (auto it = open_transactions.rbegin(); it != open_transactions.rend(); ++it) {
    if (it->database == database) return &*it;
  }
  return nullptr;
}

}  // namespace

std::string PostgresParameters(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 8);
  int next = 1;
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      out += c;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out += c;
      continue;
    }
    if (c != '?') {
      out += c;
      continue;
    }
    out += '$';
    size_t j = i + 1;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') ++j;
    if (j == i + 1) {
      out += std::to_string(next++);
    } else {
      out.append(sql.substr(i + 1, j - i - 1));
      next = std::stoi(std::string(sql.substr(i + 1, j - i - 1))) + 1;
    }
    i = j - 1;
  }
  return out;
}

StatusOr<std::shared_ptr<PostgresDatabase>> PostgresDatabase::Open(const PostgresOptions& options) {
  MLCORE_ASSIGN_OR_RETURN(std::shared_ptr<PostgresStore> store, PostgresStore::Open(options));
  return std::make_shared<PostgresDatabase>(std::move(store));
}

StatusOr<std::vector<Row>> PostgresDatabase::Query(std::string_view sql,
                                                   const std::vector<Value>& params) {
  const std::string text = PostgresParameters(sql);
  if (OpenTransaction* t = Current(this)) return t->session->Query(text, params);
  return store_->Query(text, params);
}

Status PostgresDatabase::Execute(std::string_view sql) {
  if (OpenTransaction* t = Current(this)) return t->session->Execute(sql);
  return store_->Execute(sql);
}

Status PostgresDatabase::Transaction(const std::function<Status()>& fn) {
  if (OpenTransaction* t = Current(this)) {
    // Nested: a savepoint, so an inner failure undoes only the inner work (as on SQLite).
    PostgresSession* session = t->session;
    const std::string name = absl::StrCat("mlcore_sp_", t->savepoints++);
    MLCORE_RETURN_IF_ERROR(session->Execute(absl::StrCat("SAVEPOINT ", name)));
    Status s = fn();
    if (!s.ok()) {
      Status undo = session->Execute(absl::StrCat("ROLLBACK TO SAVEPOINT ", name));
      if (!undo.ok()) return undo;
    }
    Status release = session->Execute(absl::StrCat("RELEASE SAVEPOINT ", name));
    return s.ok() ? release : s;
  }
  return store_->Transaction([&](PostgresSession& session) -> Status {
    open_transactions.push_back({this, &session, 0});
    Status s = fn();
    open_transactions.pop_back();
    return s;
  });
}

Status PostgresDatabase::Migrate(std::string_view module,
                                 const std::vector<Migration>& migrations) {
  return store_->Migrate(module, migrations);
}

StatusOr<bool> PostgresDatabase::HasTable(std::string_view table) {
  MLCORE_ASSIGN_OR_RETURN(auto rows,
                          Query("SELECT to_regclass(?1::text) IS NOT NULL", {std::string(table)}));
  return !rows.empty() && std::get<int64_t>(rows[0][0]) != 0;
}

}  // namespace mlcore::store
