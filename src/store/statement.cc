#include "mlcore/store/statement.h"

#include <sqlite3.h>

#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "mlcore/store/metadata_store.h"
#include "store/sqlite_status.h"

namespace mlcore::store {

Statement::Statement(MetadataStore* store, sqlite3_stmt* stmt) : store_(store), stmt_(stmt) {}

Statement::Statement(Statement&& other) noexcept
    : store_(other.store_), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    this->~Statement();
    store_ = other.store_;
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  std::lock_guard lock(store_->mu_);
  sqlite3_finalize(stmt_);
  stmt_ = nullptr;
}

Status Statement::CheckBind(int rc, int index) const {
  if (rc == SQLITE_OK) return absl::OkStatus();
  return store_->SqliteError(
      rc, absl::StrCat("binding parameter ", index, " of ", internal::QuoteSql(sql())));
}

StatusOr<int> Statement::IndexOf(std::string_view name) const {
  std::string key(name);
  int index = sqlite3_bind_parameter_index(stmt_, key.c_str());
  if (index == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata store ", store_->path(), ": ", internal::QuoteSql(sql()),
        " has no parameter named '", key, "' (names include their prefix, as in \":", key, "\")"));
  }
  return index;
}

Status Statement::BindInt64(int index, int64_t value) {
  std::lock_guard lock(store_->mu_);
  return CheckBind(sqlite3_bind_int64(stmt_, index, value), index);
}

Status Statement::BindDouble(int index, double value) {
  std::lock_guard lock(store_->mu_);
  return CheckBind(sqlite3_bind_double(stmt_, index, value), index);
}

Status Statement::BindText(int index, std::string_view value) {
  std::lock_guard lock(store_->mu_);
  return CheckBind(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
}

Status Statement::BindBlob(int index, std::string_view bytes) {
  std::lock_guard lock(store_->mu_);
  // A null pointer would bind NULL; an empty blob is a zero-length blob, not NULL.
  int rc = bytes.empty()
               ? sqlite3_bind_zeroblob(stmt_, index, 0)
               : sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return CheckBind(rc, index);
}

Status Statement::BindNull(int index) {
  std::lock_guard lock(store_->mu_);
  return CheckBind(sqlite3_bind_null(stmt_, index), index);
}

Status Statement::BindValue(int index, const Value& value) {
  struct Binder {
    Statement* s;
    int i;
    Status operator()(std::monostate) { return s->BindNull(i); }
    Status operator()(int64_t v) { return s->BindInt64(i, v); }
    Status operator()(double v) { return s->BindDouble(i, v); }
    Status operator()(const std::string& v) { return s->BindText(i, v); }
    Status operator()(const Blob& v) { return s->BindBlob(i, v.bytes); }
  };
  return std::visit(Binder{this, index}, value);
}

Status Statement::BindInt64(std::string_view name, int64_t value) {
  MLCORE_ASSIGN_OR_RETURN(int index, IndexOf(name));
  return BindInt64(index, value);
}

Status Statement::BindDouble(std::string_view name, double value) {
  MLCORE_ASSIGN_OR_RETURN(int index, IndexOf(name));
  return BindDouble(index, value);
}

Status Statement::BindText(std::string_view name, std::string_view value) {
  MLCORE_ASSIGN_OR_RETURN(int index, IndexOf(name));
  return BindText(index, value);
}

Status Statement::BindBlob(std::string_view name, std::string_view bytes) {
  MLCORE_ASSIGN_OR_RETURN(int index, IndexOf(name));
  return BindBlob(index, bytes);
}

Status Statement::BindNull(std::string_view name) {
  MLCORE_ASSIGN_OR_RETURN(int index, IndexOf(name));
  return BindNull(index);
}

Status Statement::BindValue(std::string_view name, const Value& value) {
  MLCORE_ASSIGN_OR_RETURN(int index, IndexOf(name));
  return BindValue(index, value);
}

Status Statement::BindAll(const std::vector<Value>& values) {
  if (static_cast<int>(values.size()) != parameter_count()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata store ", store_->path(), ": ", internal::QuoteSql(sql()), " takes ",
                     parameter_count(), " parameters but ", values.size(), " values were given"));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    MLCORE_RETURN_IF_ERROR(BindValue(static_cast<int>(i) + 1, values[i]));
  }
  return absl::OkStatus();
}

StatusOr<bool> Statement::Step() {
  std::lock_guard lock(store_->mu_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status status = store_->SqliteError(rc, absl::StrCat("running ", internal::QuoteSql(sql())));
  // A failed step leaves the statement needing a reset before it can run again.
  sqlite3_reset(stmt_);
  return status;
}

StatusOr<std::vector<Row>> Statement::Run(const std::vector<Value>& values) {
  std::lock_guard lock(store_->mu_);  // recursive: the calls below take it again
  MLCORE_RETURN_IF_ERROR(BindAll(values));
  std::vector<Row> rows;
  while (true) {
    StatusOr<bool> has_row = Step();  // resets the statement itself when it fails
    if (!has_row.ok()) return has_row.status();
    if (!*has_row) break;
    rows.push_back(ReadRow());
  }
  sqlite3_reset(stmt_);
  return rows;
}

Status Statement::Reset() {
  std::lock_guard lock(store_->mu_);
  // sqlite3_reset repeats the last step's error, which Step already reported.
  sqlite3_reset(stmt_);
  return absl::OkStatus();
}

Status Statement::ClearBindings() {
  std::lock_guard lock(store_->mu_);
  sqlite3_clear_bindings(stmt_);
  return absl::OkStatus();
}

int Statement::parameter_count() const { return sqlite3_bind_parameter_count(stmt_); }
int Statement::column_count() const { return sqlite3_column_count(stmt_); }

std::string Statement::column_name(int column) const {
  const char* name = sqlite3_column_name(stmt_, column);
  return name == nullptr ? std::string() : std::string(name);
}

ColumnType Statement::column_type(int column) const {
  switch (sqlite3_column_type(stmt_, column)) {
    case SQLITE_INTEGER:
      return ColumnType::kInt64;
    case SQLITE_FLOAT:
      return ColumnType::kDouble;
    case SQLITE_TEXT:
      return ColumnType::kText;
    case SQLITE_BLOB:
      return ColumnType::kBlob;
    default:
      return ColumnType::kNull;
  }
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
}

std::string Statement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  if (blob == nullptr) return std::string();
  return std::string(static_cast<const char*>(blob), sqlite3_column_bytes(stmt_, column));
}

Value Statement::ColumnValue(int column) const {
  switch (column_type(column)) {
    case ColumnType::kInt64:
      return ColumnInt64(column);
    case ColumnType::kDouble:
      return ColumnDouble(column);
    case ColumnType::kText:
      return ColumnText(column);
    case ColumnType::kBlob:
      return Blob{ColumnBlob(column)};
    case ColumnType::kNull:
      break;
  }
  return std::monostate();
}

Row Statement::ReadRow() const {
  std::lock_guard lock(store_->mu_);
  Row row;
  int n = column_count();
  row.reserve(n);
  for (int i = 0; i < n; ++i) row.push_back(ColumnValue(i));
  return row;
}

std::string Statement::sql() const {
  const char* text = sqlite3_sql(stmt_);
  return text == nullptr ? std::string() : std::string(text);
}

}  // namespace mlcore::store
