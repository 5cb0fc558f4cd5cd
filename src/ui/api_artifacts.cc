// Artifacts: the list, one artifact's lineage (who made it, who read it, which model versions
// came from it), and its bytes, never from outside the artifact store.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ui/stores.h"

namespace mlcore::ui {

namespace {

// Refuses a path inside a directory artifact that could name something outside it.
Status CheckRelativePath(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  if (path[0] == '/' || absl::StrContains(path, '\\') || absl::StrContains(path, '\0')) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact path '", path, "' must be relative, '/'-separated"));
  }
  for (absl::string_view piece : absl::StrSplit(path, '/')) {
    if (piece.empty() || piece == "." || piece == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("artifact path '", path, "' may not hold empty, '.' or '..' segments"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::string> Dashboard::Artifacts(int64_t offset, int64_t limit) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(
      Stores::Page page,
      s->QueryPage("pipeline_artifacts", "id, run_id, task, output, type, sha256, created_at",
                   "FROM pipeline_artifacts", "id DESC", {}, offset, limit,
                   options_.max_page_size));
  Json out = {{"total", page.total}, {"offset", offset}, {"artifacts", Json::array()}};
  for (const store::Row& r : page.rows) {
    out["artifacts"].push_back({{"id", Int(r[0])},
                                {"run_id", Text(r[1])},
                                {"task", Text(r[2])},
                                {"output", Text(r[3])},
                                {"type", Text(r[4])},
                                {"sha256", Text(r[5])},
                                {"created_at", Number(r[6])}});
  }
  return out.dump();
}

StatusOr<std::string> Dashboard::Artifact(int64_t artifact_id) {
  std::lock_guard lock(mu_);
  MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
  MLCORE_ASSIGN_OR_RETURN(auto rows,
                          s->QueryTable("pipeline_artifacts",
                                        "SELECT id, run_id, task, output, type, sha256, metadata, "
                                        "created_at FROM pipeline_artifacts WHERE id = ?1",
                                        {artifact_id}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no artifact ", artifact_id));
  const store::Row& r = rows[0];
  const std::string digest = Text(r[5]);
  Json out = {{"id", Int(r[0])},
              {"run_id", Text(r[1])},
              {"task", Text(r[2])},
              {"output", Text(r[3])},
              {"type", Text(r[4])},
              {"sha256", digest},
              {"metadata", ParseJson(Text(r[6]))},
              {"created_at", Number(r[7])},
              {"used_by", Json::array()},
              {"models", Json::array()},
              {"files", nullptr}};
  MLCORE_ASSIGN_OR_RETURN(auto used, s->Query("SELECT run_id, task, input FROM pipeline_lineage "
                                              "WHERE artifact_id = ?1 ORDER BY run_id, task",
                                              {artifact_id}));
  for (const store::Row& u : used) {
    out["used_by"].push_back({{"run_id", Text(u[0])}, {"task", Text(u[1])}, {"input", Text(u[2])}});
  }
  // The version's lineage is JSON text: SQLite's json_extract, PostgreSQL's ->>.
  const bool pg = s->db->dialect() == store::SqlDialect::kPostgres;
  MLCORE_ASSIGN_OR_RETURN(
      auto models,
      s->QueryTable("registry_versions",
                    absl::StrCat("SELECT m.name, v.version FROM registry_versions v JOIN "
                                 "registry_models m ON m.id = v.model_id WHERE ",
                                 pg ? "v.lineage::json ->> 'artifact_id'"
                                    : "json_extract(v.lineage, '$.artifact_id')",
                                 " = ?1 OR v.digest = ?2 ORDER BY m.name, v.version"),
                    {artifact_id, digest}));
  for (const store::Row& m : models) {
    out["models"].push_back({{"name", Text(m[0])}, {"version", Int(m[1])}});
  }
  if (auto manifest = s->artifacts->ReadDirectoryManifest(digest); manifest.ok()) {
    out["files"] = Json::array();
    for (const store::DirectoryEntry& e : *manifest) {
      out["files"].push_back({{"path", e.path}, {"size", e.size}, {"sha256", e.digest}});
    }
  } else if (auto stat = s->artifacts->Stat(digest); stat.ok()) {
    out["size"] = stat->size;
  }
  return out.dump();
}

StatusOr<std::string> Dashboard::ArtifactBytes(int64_t artifact_id, const std::string& path,
                                               std::string* name) {
  MLCORE_RETURN_IF_ERROR(CheckRelativePath(path));
  std::string file;
  std::string root;
  {
    std::lock_guard lock(mu_);
    MLCORE_ASSIGN_OR_RETURN(Stores * s, OpenStores());
    MLCORE_ASSIGN_OR_RETURN(
        auto rows, s->QueryTable("pipeline_artifacts",
                                 "SELECT sha256, output FROM pipeline_artifacts WHERE id = ?1",
                                 {artifact_id}));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no artifact ", artifact_id));
    std::string digest = Text(rows[0][0]);
    *name = Text(rows[0][1]);
    auto manifest = s->artifacts->ReadDirectoryManifest(digest);
    if (manifest.ok()) {
      if (path.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("artifact ", artifact_id, " is a directory: name one of its files"));
      }
      auto it = std::find_if(manifest->begin(), manifest->end(),
                             [&](const store::DirectoryEntry& e) { return e.path == path; });
      if (it == manifest->end()) {
        return absl::NotFoundError(
            absl::StrCat("artifact ", artifact_id, " has no file '", path, "'"));
      }
      digest = it->digest;
      *name = path.substr(path.rfind('/') + 1);
    } else if (!path.empty()) {
      return absl::NotFoundError(
          absl::StrCat("artifact ", artifact_id, " is a single file; it has no '", path, "'"));
    }
    MLCORE_ASSIGN_OR_RETURN(file, s->artifacts->PathFor(digest));
    root = s->artifacts->root();
  }
  // The store names files by digest, but a damaged or tampered store may hold a symlink: read
  // only what resolves inside the store's root.
  MLCORE_ASSIGN_OR_RETURN(std::string real_root, internal::RealPath(root));
  MLCORE_ASSIGN_OR_RETURN(std::string real_file, internal::RealPath(file));
  if (!absl::StartsWith(real_file, real_root + "/")) {
    return absl::PermissionDeniedError(
        absl::StrCat("artifact ", artifact_id, " resolves outside the artifact store"));
  }
  std::ifstream in(real_file, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (!in) return absl::DataLossError(absl::StrCat("cannot read ", real_file));
  return bytes.str();
}

}  // namespace mlcore::ui
