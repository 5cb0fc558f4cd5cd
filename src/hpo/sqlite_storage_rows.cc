#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hpo/sqlite_storage.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo::internal {

using Json = nlohmann::json;

double Seconds(absl::Time t) { return absl::ToDoubleSeconds(t - absl::UnixEpoch()); }
absl::Time FromSeconds(const Value& v) {
  if (std::holds_alternative<double>(v))
    return absl::UnixEpoch() + absl::Seconds(std::get<double>(v));
  if (std::holds_alternative<int64_t>(v)) return absl::FromUnixSeconds(std::get<int64_t>(v));
  return absl::InfinitePast();
}
Value TimeValue(absl::Time t) {
  if (t == absl::InfinitePast()) return std::monostate();
  return Seconds(t);
}
double AsDouble(const Value& v) {
  if (std::holds_alternative<double>(v)) return std::get<double>(v);
  if (std::holds_alternative<int64_t>(v)) return static_cast<double>(std::get<int64_t>(v));
  return std::nan("");
}
int64_t AsInt(const Value& v) {
  return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : 0;
}
std::string AsText(const Value& v) {
  return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
}

std::string FixedToJson(const ParamValue& v) {
  return std::visit([](const auto& x) { return Json(x).dump(); }, v);
}
StatusOr<ParamValue> FixedFromJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_boolean()) return ParamValue(j.get<bool>());
  if (j.is_number_integer()) return ParamValue(j.get<int64_t>());
  if (j.is_number()) return ParamValue(j.get<double>());
  if (j.is_string()) return ParamValue(j.get<std::string>());
  return absl::DataLossError(absl::StrCat("stored parameter value is not valid: ", text));
}

std::string DirectionsToJson(const std::vector<StudyDirection>& directions) {
  Json j = Json::array();
  for (StudyDirection d : directions) j.push_back(StudyDirectionName(d));
  return j.dump();
}

std::string ValuesToJson(const std::vector<double>& values) {
  Json j = Json::array();
  for (double v : values) j.push_back(v);
  return j.dump();
}

StatusOr<std::shared_ptr<FrozenTrial>> TrialFromRow(const store::Row& r, std::string_view store) {
  auto t = std::make_shared<FrozenTrial>();
  t->id = AsInt(r[0]);
  t->number = AsInt(r[1]);
  MLCORE_ASSIGN_OR_RETURN(t->state, ParseTrialState(AsText(r[2])));
  t->has_value = !std::holds_alternative<std::monostate>(r[3]);
  t->value = AsDouble(r[3]);
  t->error = AsText(r[4]);
  t->started = FromSeconds(r[5]);
  t->finished = FromSeconds(r[6]);
  if (std::holds_alternative<std::string>(r[7])) {
    Json j = Json::parse(AsText(r[7]), nullptr, false);
    if (!j.is_array()) {
      return absl::DataLossError(absl::StrCat("trial ", t->number, " in ", std::string(store),
                                              ": stored values are not valid"));
    }
    for (const Json& v : j) t->values.push_back(v.is_number() ? v.get<double>() : NAN);
  } else if (t->has_value) {
    t->values = {t->value};
  }
  return t;
}

Status AddParamRow(FrozenTrial& trial, const store::Row& r, const DistributionParser& parse) {
  std::string name = AsText(r[1]);
  if (std::holds_alternative<std::string>(r[3])) {
    MLCORE_ASSIGN_OR_RETURN(Distribution d, parse(AsText(r[3])));
    trial.params[name] = d.ToExternal(AsDouble(r[2]));
    trial.distributions.insert_or_assign(name, std::move(d));
    return absl::OkStatus();
  }
  MLCORE_ASSIGN_OR_RETURN(trial.params[name], FixedFromJson(AsText(r[4])));
  return absl::OkStatus();
}

StatusOr<StudyRecord> StudyFromRow(const store::Row& r, std::string_view store) {
  StudyRecord s;
  s.id = AsInt(r[0]);
  s.name = AsText(r[1]);
  MLCORE_ASSIGN_OR_RETURN(s.direction, ParseStudyDirection(AsText(r[2])));
  s.created = FromSeconds(r[3]);
  s.directions = {s.direction};
  if (std::holds_alternative<std::string>(r[4])) {
    Json j = Json::parse(AsText(r[4]), nullptr, false);
    if (!j.is_array() || j.empty()) {
      return absl::DataLossError(absl::StrCat("study '", s.name, "' in ", std::string(store),
                                              ": stored directions are not valid: ", AsText(r[4])));
    }
    s.directions.clear();
    for (const Json& d : j) {
      StatusOr<StudyDirection> parsed =
          ParseStudyDirection(d.is_string() ? d.get<std::string>() : d.dump());
      if (!parsed.ok()) {
        return absl::DataLossError(absl::StrCat("study '", s.name, "' in ", std::string(store),
                                                ": ", parsed.status().message()));
      }
      s.directions.push_back(*parsed);
    }
  }
  return s;
}

StatusOr<std::vector<Value>> NewStudyValues(const std::string& name,
                                            const std::vector<StudyDirection>& directions,
                                            absl::Time now) {
  if (directions.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("study '", name, "' needs a direction"));
  }
  Value directions_json = std::monostate();
  if (directions.size() > 1) directions_json = DirectionsToJson(directions);
  return std::vector<Value>{name, std::string(StudyDirectionName(directions[0])), Seconds(now),
                            directions_json};
}

std::vector<Value> NewTrialValues(FrozenTrial& t, const std::string& owner) {
  if (t.state == TrialState::kRunning && t.started == absl::InfinitePast()) {
    t.started = absl::Now();
  }
  if (t.values.empty() && t.has_value && std::isfinite(t.value)) t.values = {t.value};
  Value value = std::monostate();
  if (t.has_value && std::isfinite(t.value)) value = t.value;
  return {std::string(TrialStateName(t.state)),
          value,
          t.error,
          t.state == TrialState::kRunning ? Value(owner) : Value(),
          TimeValue(t.started),
          TimeValue(t.finished),
          t.values.size() > 1 ? Value(ValuesToJson(t.values)) : Value()};
}

Status InsertTrialParams(const FrozenTrial& t, const FixedParamWriter& fixed,
                         const SampledParamWriter& sampled) {
  for (const auto& [name, v] : t.params) {
    auto d = t.distributions.find(name);
    if (d == t.distributions.end()) {
      MLCORE_RETURN_IF_ERROR(fixed(name, FixedToJson(v)));
      continue;
    }
    MLCORE_ASSIGN_OR_RETURN(double internal, d->second.ToInternal(v));
    MLCORE_RETURN_IF_ERROR(sampled(name, d->second, internal));
  }
  return absl::OkStatus();
}

void SetCachedUserAttr(std::vector<std::shared_ptr<const FrozenTrial>>& finished, int64_t trial_id,
                       const std::string& key, const std::string& json_value) {
  for (auto& t : finished) {
    if (t->id != trial_id) continue;
    auto copy = std::make_shared<FrozenTrial>(*t);
    copy->user_attrs[key] = json_value;
    t = std::move(copy);
  }
}

}  // namespace mlcore::hpo::internal
