// Reading the file-system model repository.
#include "serve/repository.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace mlcore::serve::internal {

namespace fs = std::filesystem;

Status CheckModelName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 128 && name != "." && name != "..";
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        "a model name is 1-128 characters of letters, digits, '_', '-' and '.', not '.' or '..'");
  }
  return absl::OkStatus();
}

StatusOr<std::vector<std::string>> ListRepositoryModels(const std::string& repo) {
  std::error_code ec;
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(repo, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && CheckModelName(name).ok() && name[0] != '.') {
      names.push_back(name);
    }
  }
  if (ec) {
    return absl::NotFoundError(absl::StrCat("model repository '", repo, "': ", ec.message()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

StatusOr<RepositoryModel> ReadRepositoryModel(const std::string& repo, const std::string& name) {
  MLCORE_RETURN_IF_ERROR(CheckModelName(name));
  fs::path dir = fs::path(repo) / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository"));
  }
  RepositoryModel out;
  std::ifstream file(dir / "config.json");
  if (file) {
    std::stringstream text;
    text << file.rdbuf();
    out.config_text = text.str();
    auto config = ModelConfig::FromJson(out.config_text);
    if (!config.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", name, "' config.json: ", config.status().message()));
    }
    out.config = *std::move(config);
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    int64_t version = 0;
    std::string base = entry.path().filename().string();
    if (entry.is_directory() && absl::SimpleAtoi(base, &version) && version > 0) {
      out.versions[version] = entry.path().string();
    }
  }
  return out;
}

std::vector<int64_t> SelectVersions(const VersionPolicy& policy,
                                    const std::map<int64_t, std::string>& available) {
  std::vector<int64_t> out;
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll:
      for (const auto& entry : available) out.push_back(entry.first);
      break;
    case VersionPolicy::Kind::kLatest:
      for (auto it = available.rbegin();
           it != available.rend() && static_cast<int64_t>(out.size()) < policy.latest; ++it) {
        out.insert(out.begin(), it->first);
      }
      break;
    case VersionPolicy::Kind::kSpecific:
      for (int64_t v : policy.specific) {
        if (available.count(v) != 0) out.push_back(v);
      }
      std::sort(out.begin(), out.end());
      break;
  }
  return out;
}

}  // namespace mlcore::serve::internal
