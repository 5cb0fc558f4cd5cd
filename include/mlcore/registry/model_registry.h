// The model registry: named models with immutable numbered versions, movable aliases and the
// lineage of each version, kept in the metadata store (migrations module "registry", tables
// registry_*) with each version's directory in the content-addressed artifact store. Several
// processes may register, alias and resolve at once: version numbers come out unique and
// contiguous, and an alias moves in one transaction, so a reader sees the old or the new target,
// never neither. See docs/serving.md ("Model registry").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "mlcore/core/json.h"
#include "mlcore/core/status.h"
#include "mlcore/registry/model_ref.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/metadata_store.h"
#include "mlcore/store/sql_database.h"

namespace mlcore::registry {

using Json = ::mlcore::Json;

// What produced a version. Every field is optional; a version registered from a directory has
// none unless the caller names them, one registered from a pipeline artifact gets the run, task,
// output and artifact id filled in by Register.
struct Lineage {
  std::string run_id;            // pipeline run
  std::string task;              // pipeline task within the run
  std::string output;            // the task's output that holds the model
  int64_t artifact_id = 0;       // pipeline_artifacts.id; 0 when none
  std::string study;             // HPO study name
  std::optional<int64_t> trial;  // HPO trial number within the study

  bool empty() const;
  Json ToJson() const;
};

struct RegisterOptions {
  // Numbers a version was judged by ({"accuracy": 0.97}); any JSON object.
  Json metrics = Json::object();
  // Free-form labels ({"framework": "mlcore"}); a JSON object of strings.
  Json tags = Json::object();
  // Who produced the model, when the source does not say it itself.
  Lineage lineage;
  std::string description;
};

// One immutable version of a model.
struct ModelVersion {
  std::string name;
  int64_t version = 0;
  std::string digest;  // the directory artifact (manifest) digest, 64 hex digits
  int64_t size = 0;    // bytes of all files
  std::string source;  // what was registered: a path or "run://RUN/TASK/OUTPUT"
  Json metrics = Json::object();
  Json tags = Json::object();
  Lineage lineage;
  std::string description;
  std::vector<std::string> aliases;  // the aliases pointing here now, sorted
  absl::Time created_at = absl::InfinitePast();
};

// A model and a summary of its versions.
struct RegisteredModel {
  std::string name;
  int64_t latest_version = 0;  // 0 when every version was deleted
  int64_t version_count = 0;
  std::map<std::string, int64_t> aliases;  // alias -> version
  absl::Time created_at = absl::InfinitePast();
};

struct ModelRegistryOptions {
  // The mlcore home holding mlcore.db and artifacts/. Empty: store::DefaultHome().
  std::string home;

  // How long a call waits for another process's write lock before DeadlineExceeded. Raising it
  // lets more processes register at once behind long transactions; it also delays the error when
  // a process holds the lock and is stuck.
  absl::Duration busy_timeout = absl::Seconds(30);

  // fsync each stored file (ArtifactStoreOptions::sync). false makes registering many small
  // files faster, at the risk that a power loss leaves a version whose files fail verification.
  bool sync_artifacts = true;
};

class ModelRegistry {
 public:
  static StatusOr<std::unique_ptr<ModelRegistry>> Open(const ModelRegistryOptions& options = {});

  // Stores `source` and records it as the next version of `name` (1 for a new model). `source`
  // is a directory (every file below it is stored), a single file (stored as a directory holding
  // that one file), or "run://RUN/TASK/OUTPUT": the newest artifact a pipeline task recorded
  // under that output, with its lineage. The files are stored before the version is numbered, so
  // the write lock is held only for the few rows. InvalidArgument for a bad name or options;
  // NotFound for a missing path or pipeline artifact.
  StatusOr<ModelVersion> Register(std::string_view name, std::string_view source,
                                  const RegisterOptions& options = {});

  // Every model, by name.
  StatusOr<std::vector<RegisteredModel>> ListModels();
  // One model's summary. NotFound naming the model.
  StatusOr<RegisteredModel> GetModel(std::string_view name);
  // A model's versions, oldest first. NotFound for an unknown model.
  StatusOr<std::vector<ModelVersion>> ListVersions(std::string_view name);
  // The version a reference names ("m", "m/3", "m@production"). NotFound naming the unknown
  // model, version or alias; InvalidArgument for a malformed reference.
  StatusOr<ModelVersion> Resolve(std::string_view ref);
  StatusOr<ModelVersion> Resolve(const ModelRef& ref);

  // Points `alias` of `name` at `version`, creating or moving it in one transaction. NotFound for
  // an unknown model or version.
  Status SetAlias(std::string_view name, std::string_view alias, int64_t version);
  // NotFound when the alias does not exist.
  Status DeleteAlias(std::string_view name, std::string_view alias);
  // Deletes a version's record (its number is never given out again; the stored files stay, as
  // other versions or runs may share them). FailedPrecondition naming the aliases when any point
  // at it, unless `force`, which deletes those aliases too.
  Status DeleteVersion(std::string_view name, int64_t version, bool force = false);

  // The version's files as a directory: checks every stored file against its digest
  // (VerifyDirectory), then copies them to `dest` (which must not exist) or, when `dest` is
  // empty, to $home/registry/models/<digest>, shared by every process and reused once it exists
  // (it appears whole, by rename). Returns the directory. DataLoss when a stored file is damaged.
  StatusOr<std::string> Materialize(const ModelVersion& version, const std::string& dest = "");
  // Resolve, then Materialize.
  StatusOr<std::string> Materialize(std::string_view ref, const std::string& dest = "");

  store::SqlDatabase& metadata() { return *metadata_; }
  store::ArtifactStore& artifacts() { return *artifacts_; }
  const std::string& home() const { return home_; }

 private:
  ModelRegistry(std::string home, std::shared_ptr<store::SqlDatabase> metadata,
                std::unique_ptr<store::ArtifactStore> artifacts);

  // The artifact and lineage a source string names (see Register).
  struct Source;
  StatusOr<Source> StoreSource(std::string_view source);
  StatusOr<Source> StorePipelineArtifact(std::string_view source);
  StatusOr<int64_t> ModelId(std::string_view name);
  StatusOr<std::vector<ModelVersion>> QueryVersions(std::string_view where,
                                                    const std::vector<store::Value>& params);

  std::string home_;
  std::shared_ptr<store::SqlDatabase> metadata_;
  std::unique_ptr<store::ArtifactStore> artifacts_;
};

// The "registry" migrations: the registry_* tables.
const std::vector<store::Migration>& RegistryMigrations();
// The same tables on PostgreSQL.
const std::vector<store::Migration>& PostgresRegistryMigrations();

}  // namespace mlcore::registry
