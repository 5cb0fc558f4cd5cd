// Study user attributes, kept as study system attributes with a prefix so that every storage
// (in memory, SQLite, any other) stores them without a schema of its own.
#include <cstddef>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "mlcore/hpo/study.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

constexpr char kUserAttrPrefix[] = "user_attr:";
constexpr size_t kUserAttrPrefixSize = sizeof(kUserAttrPrefix) - 1;

}  // namespace

Status Study::SetUserAttr(const std::string& key, const std::string& json_value) {
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("study '", record_.name, "': user attr key is empty"));
  }
  if (!nlohmann::json::accept(json_value)) {
    return absl::InvalidArgumentError(absl::StrCat("study '", record_.name, "': user attr '", key,
                                                   "' is not a JSON value: ", json_value));
  }
  return storage_->SetStudySystemAttr(record_.id, absl::StrCat(kUserAttrPrefix, key), json_value);
}

StatusOr<std::map<std::string, std::string>> Study::UserAttrs() {
  MLCORE_ASSIGN_OR_RETURN(auto attrs, storage_->GetStudySystemAttrs(record_.id));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : attrs) {
    if (absl::StartsWith(key, kUserAttrPrefix)) out[key.substr(kUserAttrPrefixSize)] = value;
  }
  return out;
}

}  // namespace mlcore::hpo
