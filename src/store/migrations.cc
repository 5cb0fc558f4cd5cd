#include "store/migrations.h"

#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "mlcore/core/logging.h"

namespace mlcore::store {
namespace {

using ::mlcore::internal::AV;

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}

std::map<std::string, std::vector<Migration>>& Registry() {
  static auto* registry = new std::map<std::string, std::vector<Migration>>();
  return *registry;
}

bool SameMigrations(const std::vector<Migration>& a, const std::vector<Migration>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].version != b[i].version || a[i].name != b[i].name || a[i].sql != b[i].sql) {
      return false;
    }
  }
  return true;
}

}  // namespace

const std::vector<Migration>& CoreMigrations() {
  // Timestamps are UTC ISO-8601 text so that they sort and read well in any SQLite client.
  static const auto* migrations = new std::vector<Migration>{
      {1, "create_properties",
       "CREATE TABLE properties (\n"
       "  key TEXT PRIMARY KEY NOT NULL,\n"
       "  value TEXT NOT NULL\n"
       ");"},
      {2, "create_artifacts",
       "CREATE TABLE artifacts (\n"
       "  sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),\n"
       "  size INTEGER NOT NULL CHECK (size >= 0),\n"
       "  uri TEXT NOT NULL,\n"
       "  media_type TEXT NOT NULL DEFAULT 'application/octet-stream',\n"
       "  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
       ");\n"
       "CREATE INDEX artifacts_by_created_at ON artifacts (created_at);"},
  };
  return *migrations;
}

Status RegisterMigrations(std::string_view module, std::vector<Migration> migrations) {
  MLCORE_RETURN_IF_ERROR(internal::ValidateMigrations(module, migrations));
  if (module == internal::kCoreModule) {
    return absl::AlreadyExistsError(
        absl::StrCat("module name '", AV(module), "' is reserved for the store's own tables"));
  }
  std::lock_guard lock(RegistryMutex());
  auto [it, inserted] = Registry().emplace(std::string(module), migrations);
  if (!inserted && !SameMigrations(it->second, migrations)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "migrations for module '", AV(module), "' are already registered with different content"));
  }
  return absl::OkStatus();
}

namespace internal {

Status ValidateMigrations(std::string_view module, const std::vector<Migration>& migrations) {
  bool valid_name = !module.empty();
  for (char c : module) {
    valid_name = valid_name && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  }
  if (!valid_name) {
    return absl::InvalidArgumentError(absl::StrCat("invalid migration module name '", AV(module),
                                                   "': use lowercase letters, digits and '_'"));
  }
  for (size_t i = 0; i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    if (m.version != static_cast<int>(i) + 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migrations of module '", AV(module), "' must have versions 1, 2, 3... in order; entry ",
          i, " ('", m.name, "') has version ", m.version, " instead of ", i + 1));
    }
    if (m.name.empty() || m.sql.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("migration ", m.version, " of module '",
                                                     AV(module), "' needs a name and SQL"));
    }
  }
  return absl::OkStatus();
}

std::map<std::string, std::vector<Migration>> RegisteredMigrations() {
  std::lock_guard lock(RegistryMutex());
  return Registry();
}

Status ApplyMigrations(MigrationTarget& target, std::string_view module,
                       const std::vector<Migration>& migrations) {
  MLCORE_RETURN_IF_ERROR(ValidateMigrations(module, migrations));
  MLCORE_RETURN_IF_ERROR(target.EnsureTable());
  const int known = static_cast<int>(migrations.size());
  auto newer = [&](int found) {
    return absl::FailedPreconditionError(absl::StrCat(
        target.Name(), ": module '", AV(module), "' has schema version ", found,
        ", newer than version ", known,
        ", the newest this build of mlcore knows; open it with a newer mlcore (the store was "
        "left unchanged)"));
  };
  MLCORE_ASSIGN_OR_RETURN(int current, target.Version(module));
  if (current > known) return newer(current);
  for (const Migration& migration : migrations) {
    if (migration.version <= current) continue;
    MLCORE_RETURN_IF_ERROR(target.Exclusive([&]() -> Status {
      // Another process may have applied it while this one waited for the write lock.
      MLCORE_ASSIGN_OR_RETURN(int now_at, target.Version(module));
      if (now_at > known) return newer(now_at);
      if (now_at >= migration.version) return absl::OkStatus();
      Status applied = target.ExecuteScript(migration.sql);
      if (!applied.ok()) {
        return Status(applied.code(),
                      absl::StrCat("migration ", migration.version, " '", migration.name,
                                   "' of module '", AV(module), "' failed: ", applied.message()));
      }
      MLCORE_RETURN_IF_ERROR(target.Record(module, migration));
      MLCORE_LOG(Info) << target.Name() << ": applied migration " << module << " "
                       << migration.version << " (" << migration.name << ")";
      return absl::OkStatus();
    }));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace mlcore::store
