// ModelConfig's checks and its repository file form (config.json beside the version folders).
#include "mlcore/serve/model_config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace mlcore::serve {
namespace {

using nlohmann::json;

StatusOr<int64_t> IntField(const json& doc, const char* key, int64_t fallback) {
  auto it = doc.find(key);
  if (it == doc.end()) return fallback;
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("config '", key, "' must be an integer"));
  }
  return it->get<int64_t>();
}

StatusOr<std::vector<int64_t>> IntList(const json& value, const char* key) {
  if (!value.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("config '", key, "' must be a list"));
  }
  std::vector<int64_t> out;
  for (const json& v : value) {
    if (!v.is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat("config '", key, "' holds a non-integer"));
    }
    out.push_back(v.get<int64_t>());
  }
  return out;
}

StatusOr<VersionPolicy> ParsePolicy(const json& value) {
  VersionPolicy policy;
  if (!value.is_object() || value.size() != 1) {
    return absl::InvalidArgumentError(
        "config 'version_policy' must be one of {\"latest\": N}, {\"all\": {}}, "
        "{\"specific\": [versions]}");
  }
  if (value.contains("latest")) {
    const json& n = value["latest"];
    if (n.is_object() && n.contains("num_versions")) {
      if (!n["num_versions"].is_number_integer()) {
        return absl::InvalidArgumentError("version_policy.latest.num_versions must be an integer");
      }
      policy.latest = n["num_versions"].get<int64_t>();
    } else if (n.is_number_integer()) {
      policy.latest = n.get<int64_t>();
    } else {
      return absl::InvalidArgumentError("version_policy.latest must be an integer");
    }
  } else if (value.contains("all")) {
    policy.kind = VersionPolicy::Kind::kAll;
  } else if (value.contains("specific")) {
    policy.kind = VersionPolicy::Kind::kSpecific;
    const json& s = value["specific"];
    auto list = IntList(s.is_object() && s.contains("versions") ? s["versions"] : s,
                        "version_policy.specific");
    if (!list.ok()) return list.status();
    policy.specific = *std::move(list);
  } else {
    return absl::InvalidArgumentError("config 'version_policy' has an unknown kind");
  }
  return policy;
}

}  // namespace

Status ModelConfig::Validate() const {
  if (backend.empty()) return absl::InvalidArgumentError("config 'backend' is empty");
  if (max_batch_size < 0) return absl::InvalidArgumentError("max_batch_size must be >= 0");
  if (max_queue_delay_us < 0) return absl::InvalidArgumentError("max_queue_delay_us must be >= 0");
  if (max_queue_size < 1) return absl::InvalidArgumentError("max_queue_size must be >= 1");
  if (instance_count < 1 || instance_count > 256) {
    return absl::InvalidArgumentError("instance_count must be in [1, 256]");
  }
  for (int64_t size : preferred_batch_sizes) {
    if (size < 1 || size > max_batch_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "preferred batch size ", size, " is outside [1, max_batch_size=", max_batch_size, "]"));
    }
  }
  if (version_policy.kind == VersionPolicy::Kind::kLatest && version_policy.latest < 1) {
    return absl::InvalidArgumentError("version_policy latest must be >= 1");
  }
  if (version_policy.kind == VersionPolicy::Kind::kSpecific && version_policy.specific.empty()) {
    return absl::InvalidArgumentError("version_policy specific needs at least one version");
  }
  if (backend == "sequence" && steps.empty()) {
    return absl::InvalidArgumentError("a sequence model needs 'steps'");
  }
  return absl::OkStatus();
}

StatusOr<ModelConfig> ModelConfig::FromJson(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("model config is not a JSON object");
  }
  ModelConfig config;
  for (const auto& item : doc.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    if (key == "backend" || key == "python_class") {
      if (!value.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("config '", key, "' must be a string"));
      }
      (key == "backend" ? config.backend : config.python_class) = value.get<std::string>();
    } else if (key == "max_batch_size" || key == "max_queue_delay_us" || key == "max_queue_size" ||
               key == "instance_count") {
      auto v = IntField(doc, key.c_str(), 0);
      if (!v.ok()) return v.status();
      if (key == "max_batch_size") config.max_batch_size = *v;
      if (key == "max_queue_delay_us") config.max_queue_delay_us = *v;
      if (key == "max_queue_size") config.max_queue_size = *v;
      if (key == "instance_count") config.instance_count = *v;
    } else if (key == "preferred_batch_sizes") {
      auto v = IntList(value, "preferred_batch_sizes");
      if (!v.ok()) return v.status();
      config.preferred_batch_sizes = *std::move(v);
    } else if (key == "version_policy") {
      auto v = ParsePolicy(value);
      if (!v.ok()) return v.status();
      config.version_policy = *std::move(v);
    } else if (key == "device") {
      if (!value.is_string()) return absl::InvalidArgumentError("config 'device' must be a string");
      auto device = ParseDevice(value.get<std::string>());
      if (!device.ok()) return device.status();
      config.device = *device;
    } else if (key == "steps") {
      if (!value.is_array()) return absl::InvalidArgumentError("config 'steps' must be a list");
      for (const json& step : value) {
        if (!step.is_string())
          return absl::InvalidArgumentError("config 'steps' holds a non-string");
        config.steps.push_back(step.get<std::string>());
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown model config key '", key, "'"));
    }
  }
  Status valid = config.Validate();
  if (!valid.ok()) return valid;
  return config;
}

std::string ModelConfig::ToJson() const {
  json doc = {{"backend", backend},
              {"max_batch_size", max_batch_size},
              {"max_queue_delay_us", max_queue_delay_us},
              {"preferred_batch_sizes", preferred_batch_sizes},
              {"max_queue_size", max_queue_size},
              {"instance_count", instance_count},
              {"device", device.ToString()}};
  switch (version_policy.kind) {
    case VersionPolicy::Kind::kLatest:
      doc["version_policy"] = {{"latest", version_policy.latest}};
      break;
    case VersionPolicy::Kind::kAll:
      doc["version_policy"] = {{"all", json::object()}};
      break;
    case VersionPolicy::Kind::kSpecific:
      doc["version_policy"] = {{"specific", version_policy.specific}};
      break;
  }
  if (!steps.empty()) doc["steps"] = steps;
  if (!python_class.empty()) doc["python_class"] = python_class;
  return doc.dump();
}

}  // namespace mlcore::serve
