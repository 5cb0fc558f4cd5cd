// Katib Experiment YAML -> the JSON document KatibExperimentFromJson reads. YAML comes from users
// and from clusters (kubectl get -o yaml), so the conversion is bounded: aliases may not expand a
// document past kMaxNodes nodes (a "billion laughs" file would otherwise take all memory), and
// yaml-cpp refuses nesting past its depth guard.
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "mlcore/hpo/katib.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace mlcore::hpo {
namespace {

constexpr int64_t kMaxNodes = 100000;
constexpr int kMaxDepth = 64;

// A plain (unquoted) scalar typed as YAML 1.2's core schema types it; quoted ones are strings.
nlohmann::json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  int64_t i = 0;
  if (absl::SimpleAtoi(internal::AV(text), &i) && text.find_first_of(".eE") == std::string::npos) {
    return i;
  }
  double d = 0;
  if (text.find_first_of("0123456789") != std::string::npos &&
      text.find_first_not_of("0123456789+-.eE") == std::string::npos &&
      absl::SimpleAtod(internal::AV(text), &d)) {
    return d;
  }
  return text;
}

Status Convert(const YAML::Node& node, int depth, int64_t& budget, nlohmann::json& out) {
  if (--budget < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("document: more than ", kMaxNodes, " nodes (aliases expanding?)"));
  }
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat("document: nested deeper than ", kMaxDepth));
  }
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      out = ScalarToJson(node);
      return absl::OkStatus();
    case YAML::NodeType::Sequence:
      out = nlohmann::json::array();
      for (const YAML::Node& item : node) {
        nlohmann::json child;
        MLCORE_RETURN_IF_ERROR(Convert(item, depth + 1, budget, child));
        out.push_back(std::move(child));
      }
      return absl::OkStatus();
    case YAML::NodeType::Map:
      out = nlohmann::json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          return absl::InvalidArgumentError(absl::StrCat("line ", entry.first.Mark().line + 1,
                                                         ": mapping keys must be plain text"));
        }
        nlohmann::json child;
        MLCORE_RETURN_IF_ERROR(Convert(entry.second, depth + 1, budget, child));
        out[entry.first.Scalar()] = std::move(child);
      }
      return absl::OkStatus();
    default:
      out = nullptr;
      return absl::OkStatus();
  }
}

}  // namespace

StatusOr<std::string> KatibYamlToJson(std::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // e.mark is 0-based; a document a person wrote is read by line number from 1.
    return absl::InvalidArgumentError(absl::StrCat("document is not valid YAML: line ",
                                                   e.mark.line + 1, ", column ", e.mark.column + 1,
                                                   ": ", e.msg));
  }
  nlohmann::json doc;
  int64_t budget = kMaxNodes;
  try {
    MLCORE_RETURN_IF_ERROR(Convert(root, 0, budget, doc));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("document is not valid YAML: ", e.msg));
  }
  try {
    return doc.dump();
  } catch (const nlohmann::json::exception& e) {  // strings that are not UTF-8 (fuzz finding)
    return absl::InvalidArgumentError(absl::StrCat("document is not valid UTF-8: ", e.what()));
  }
}

StatusOr<KatibExperimentOptions> KatibExperimentFromYaml(std::string_view yaml) {
  MLCORE_ASSIGN_OR_RETURN(std::string json, KatibYamlToJson(yaml));
  return KatibExperimentFromJson(json);
}

}  // namespace mlcore::hpo
