// A prepared SQL statement on a MetadataStore, the one way later modules read and write their
// tables. Values are bound, never pasted into SQL text, so a run name or a trial parameter can
// hold any characters; errors come back as Status naming the store file and the SQL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mlcore/core/status.h"

struct sqlite3_stmt;

namespace mlcore::store {

class MetadataStore;

// One SQL value: NULL, INTEGER, REAL, TEXT or BLOB (bytes, kept apart from text).
struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
};
using Value = std::variant<std::monostate, int64_t, double, std::string, Blob>;
using Row = std::vector<Value>;

enum class ColumnType { kNull, kInt64, kDouble, kText, kBlob };

// Not thread-compatible on its own: it locks its store's connection for each call, so several
// threads may use different statements of one store, but one statement belongs to one thread at
// a time. Must not outlive the MetadataStore that prepared it.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1 (`?`, `?NNN`) or named with their prefix (":name", "@name",
  // "$name"). Text and blobs are copied, so the arguments may die right after the call.
  Status BindInt64(int index, int64_t value);
  Status BindDouble(int index, double value);
  Status BindText(int index, std::string_view value);
  Status BindBlob(int index, std::string_view bytes);
  Status BindNull(int index);
  Status BindValue(int index, const Value& value);
  Status BindInt64(std::string_view name, int64_t value);
  Status BindDouble(std::string_view name, double value);
  Status BindText(std::string_view name, std::string_view value);
  Status BindBlob(std::string_view name, std::string_view bytes);
  Status BindNull(std::string_view name);
  Status BindValue(std::string_view name, const Value& value);
  // Binds values[i] to parameter i + 1; the count must match the statement's.
  Status BindAll(const std::vector<Value>& values);

  // Runs the statement to its next row: true when a row is ready for the column getters, false
  // when the statement is done.
  StatusOr<bool> Step();
  // Binds `values` (as BindAll), steps to the end and resets, holding the store's connection the
  // whole time: between the separate Step calls of another thread's loop, this connection's
  // open read would make a write from another thread fail at once with "database is locked"
  // (SQLite skips the busy handler when a read transaction is open). Returns every row.
  StatusOr<std::vector<Row>> Run(const std::vector<Value>& values);
  // Makes the statement runnable again; bindings are kept until ClearBindings.
  Status Reset();
  Status ClearBindings();

  int parameter_count() const;
  int column_count() const;
  std::string column_name(int column) const;
  // Column getters read the current row; columns are numbered from 0. They convert the way
  // SQLite does (text "12" reads as 12), so check column_type when the kind matters.
  ColumnType column_type(int column) const;
  bool ColumnIsNull(int column) const;
  int64_t ColumnInt64(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;
  Value ColumnValue(int column) const;
  Row ReadRow() const;

  // The SQL this statement was prepared from.
  std::string sql() const;

 private:
  friend class MetadataStore;
  Statement(MetadataStore* store, sqlite3_stmt* stmt);

  StatusOr<int> IndexOf(std::string_view name) const;
  Status CheckBind(int rc, int index) const;

  MetadataStore* store_;
  sqlite3_stmt* stmt_;
};

}  // namespace mlcore::store
