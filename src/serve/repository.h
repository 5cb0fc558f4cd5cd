// The file-system model repository: <repo>/<model>/<version>/ folders (versions are positive
// integers) and an optional <repo>/<model>/config.json (ModelConfig::FromJson).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mlcore/serve/model_config.h"

namespace mlcore::serve::internal {

// InvalidArgument unless `name` is 1-128 characters of [A-Za-z0-9_.-], not "." or "..": names
// become paths, so nothing may climb out of the repository.
Status CheckModelName(const std::string& name);

// Model folders of the repository, sorted.
StatusOr<std::vector<std::string>> ListRepositoryModels(const std::string& repo);

struct RepositoryModel {
  ModelConfig config;
  std::string config_text;                  // the file as read ("" without one)
  std::map<int64_t, std::string> versions;  // every version folder: number -> path
};
// NotFound when <repo>/<name> is not a folder; InvalidArgument for a bad config.json.
StatusOr<RepositoryModel> ReadRepositoryModel(const std::string& repo, const std::string& name);

// The versions `policy` selects among `available` (ascending).
std::vector<int64_t> SelectVersions(const VersionPolicy& policy,
                                    const std::map<int64_t, std::string>& available);

}  // namespace mlcore::serve::internal
