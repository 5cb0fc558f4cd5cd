// Opening the registry and registering versions: the files are stored first (outside any
// transaction, since hashing a model can take seconds), then one short transaction numbers the
// version and writes its row.
#include "mlcore/registry/model_registry.h"

#include <stdlib.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "registry/rows.h"
#include "store/module_home.h"

namespace mlcore::registry {
namespace fs = std::filesystem;

using internal::Int;
using internal::NowSeconds;
using internal::Text;

// What Register stores: the directory artifact and, for pipeline artifacts, where it came from.
struct ModelRegistry::Source {
  store::Artifact artifact;
  int64_t files_size = 0;  // the bytes of the files the manifest lists
  std::string recorded;    // the source as recorded: absolute for a path
  Lineage lineage;
};

namespace {

constexpr std::string_view kRunScheme = "run://";
constexpr char kDirectoryMediaType[] = "application/vnd.mlcore.directory+json";

// A private directory under $home/registry/tmp, removed with its content when this dies.
class TempDir {
 public:
  static StatusOr<TempDir> Make(const std::string& home) {
    std::error_code ec;
    const std::string parent = home + "/registry/tmp";
    fs::create_directories(parent, ec);
    std::string pattern = parent + "/stage_XXXXXX";
    if (ec || ::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create a staging directory under ", parent));
    }
    return TempDir(pattern);
  }
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// A single file stored as a directory holding it under `file_name`, so every version is a
// directory whatever was registered.
StatusOr<store::Artifact> PutFileAsDirectory(store::ArtifactStore& artifacts,
                                             const std::string& home, const std::string& file,
                                             const std::string& file_name) {
  MLCORE_ASSIGN_OR_RETURN(TempDir staging, TempDir::Make(home));
  std::error_code ec;
  fs::copy_file(file, staging.path() + "/" + file_name, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot copy ", file, " to stage it: ", ec.message()));
  }
  return artifacts.PutDirectory(staging.path());
}

Status CheckOptions(const RegisterOptions& options) {
  if (!options.metrics.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics must be a JSON object, got ", options.metrics.dump()));
  }
  if (!options.tags.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tags must be a JSON object, got ", options.tags.dump()));
  }
  for (const auto& [key, value] : options.tags.items()) {
    if (!value.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tag '", key, "' must be a string, got ", value.dump()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

ModelRegistry::ModelRegistry(std::string home, std::shared_ptr<store::SqlDatabase> metadata,
                             std::unique_ptr<store::ArtifactStore> artifacts)
    : home_(std::move(home)), metadata_(std::move(metadata)), artifacts_(std::move(artifacts)) {}

StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Open(const ModelRegistryOptions& options) {
  MLCORE_ASSIGN_OR_RETURN(
      store::ModuleHome opened,
      store::OpenModuleHome(options.home,
                            store::ModuleHomeOptionsOf(options, "registry", RegistryMigrations(),
                                                       PostgresRegistryMigrations())));
  return std::unique_ptr<ModelRegistry>(new ModelRegistry(
      std::move(opened.files_home), std::move(opened.db), std::move(opened.artifacts)));
}

StatusOr<ModelRegistry::Source> ModelRegistry::StorePipelineArtifact(std::string_view source) {
  const std::vector<std::string> parts =
      absl::StrSplit(std::string(source.substr(kRunScheme.size())), absl::MaxSplits('/', 2));
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a pipeline artifact is run://RUN_ID/TASK/OUTPUT, got '", std::string(source), "'"));
  }
  MLCORE_ASSIGN_OR_RETURN(bool has_pipelines, metadata_->HasTable("pipeline_artifacts"));
  std::vector<store::Row> rows;
  if (has_pipelines) {
    MLCORE_ASSIGN_OR_RETURN(rows, metadata_->Query("SELECT id, sha256 FROM pipeline_artifacts "
                                                   "WHERE run_id = ?1 AND task = ?2 AND "
                                                   "output = ?3 ORDER BY id DESC LIMIT 1",
                                                   {parts[0], parts[1], parts[2]}));
  }
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("no artifact '", parts[2], "' of task '", parts[1],
                                            "' in pipeline run '", parts[0], "'"));
  }
  Source out;
  out.recorded = std::string(source);
  out.lineage.run_id = parts[0];
  out.lineage.task = parts[1];
  out.lineage.output = parts[2];
  out.lineage.artifact_id = Int(rows[0][0]);
  const std::string digest = Text(rows[0][1]);
  if (artifacts_->ReadDirectoryManifest(digest).ok()) {
    MLCORE_ASSIGN_OR_RETURN(out.artifact, artifacts_->Stat(digest));
    return out;
  }
  MLCORE_ASSIGN_OR_RETURN(store::Artifact file, artifacts_->Stat(digest));
  MLCORE_ASSIGN_OR_RETURN(out.artifact,
                          PutFileAsDirectory(*artifacts_, home_, file.path, parts[2]));
  return out;
}

StatusOr<ModelRegistry::Source> ModelRegistry::StoreSource(std::string_view source) {
  if (source.empty()) return absl::InvalidArgumentError("the model source must not be empty");
  if (source.starts_with(kRunScheme)) return StorePipelineArtifact(source);
  const std::string path(source);
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  Source out;
  out.recorded = fs::absolute(path, ec).lexically_normal().string();
  if (fs::is_directory(status)) {
    MLCORE_ASSIGN_OR_RETURN(out.artifact, artifacts_->PutDirectory(path));
  } else if (fs::is_regular_file(status)) {
    MLCORE_ASSIGN_OR_RETURN(out.artifact, PutFileAsDirectory(*artifacts_, home_, path,
                                                             fs::path(path).filename().string()));
  } else if (!fs::exists(status)) {
    return absl::NotFoundError(absl::StrCat("model source ", path, " does not exist"));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("model source ", path, " is neither a directory nor a regular file"));
  }
  return out;
}

StatusOr<ModelVersion> ModelRegistry::Register(std::string_view name, std::string_view source,
                                               const RegisterOptions& options) {
  MLCORE_RETURN_IF_ERROR(ValidateModelName(name));
  MLCORE_RETURN_IF_ERROR(CheckOptions(options));
  MLCORE_ASSIGN_OR_RETURN(Source stored, StoreSource(source));
  MLCORE_ASSIGN_OR_RETURN(auto files, artifacts_->ReadDirectoryManifest(stored.artifact.digest));
  for (const store::DirectoryEntry& file : files) stored.files_size += file.size;
  Lineage lineage = options.lineage;
  if (!stored.lineage.empty()) {
    lineage.run_id = stored.lineage.run_id;
    lineage.task = stored.lineage.task;
    lineage.output = stored.lineage.output;
    lineage.artifact_id = stored.lineage.artifact_id;
  }
  const std::string model(name);
  const double now = NowSeconds();
  int64_t version = 0;
  MLCORE_RETURN_IF_ERROR(metadata_->Transaction([&]() -> Status {
    MLCORE_RETURN_IF_ERROR(store::RecordArtifact(*metadata_, stored.artifact, kDirectoryMediaType));
    MLCORE_RETURN_IF_ERROR(
        metadata_
            ->Query("INSERT INTO registry_models(name, created_at, updated_at) VALUES (?1, ?2, ?2) "
                    "ON CONFLICT(name) DO NOTHING",
                    {model, now})
            .status());
    MLCORE_ASSIGN_OR_RETURN(
        auto rows, metadata_->Query("UPDATE registry_models SET last_version = last_version + 1, "
                                    "updated_at = ?2 WHERE name = ?1 RETURNING id, last_version",
                                    {model, now}));
    if (rows.size() != 1) return absl::InternalError("numbering a model version changed no row");
    version = Int(rows[0][1]);
    store::Value run_id = std::monostate();
    if (!lineage.run_id.empty()) run_id = lineage.run_id;
    return metadata_
        ->Query(
            "INSERT INTO registry_versions(model_id, version, digest, size, source, metrics, tags, "
            "lineage, run_id, description, created_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            {rows[0][0], version, stored.artifact.digest, stored.files_size, stored.recorded,
             options.metrics.dump(), options.tags.dump(), lineage.ToJson().dump(), run_id,
             options.description, now})
        .status();
  }));
  return Resolve(ModelRef{.name = model, .version = version});
}

}  // namespace mlcore::registry
