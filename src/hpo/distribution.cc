#include "mlcore/hpo/distribution.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace mlcore::hpo {
namespace {

using Json = nlohmann::json;

std::string FormatDouble(double v) {
  std::string s = absl::StrFormat("%.17g", v);
  // Prefer the shortest form that reads back exactly, so "0.1" prints as 0.1.
  for (int precision = 1; precision < 17; ++precision) {
    std::string shorter = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(shorter.c_str(), nullptr) == v) return shorter;
  }
  return s;
}

// A step divides the range when (high - low) / step is an integer up to rounding error.
bool StepDivides(double low, double high, double step) {
  double n = (high - low) / step;
  return std::fabs(n - std::round(n)) <= 1e-8 * std::max(1.0, std::fabs(n));
}

Json ValueToJson(const ParamValue& v) {
  return std::visit([](const auto& x) { return Json(x); }, v);
}

StatusOr<ParamValue> ValueFromJson(const Json& j) {
  if (j.is_boolean()) return ParamValue(j.get<bool>());
  if (j.is_number_integer()) return ParamValue(j.get<int64_t>());
  if (j.is_number()) return ParamValue(j.get<double>());
  if (j.is_string()) return ParamValue(j.get<std::string>());
  return absl::InvalidArgumentError(absl::StrCat("not a parameter value: ", j.dump()));
}

}  // namespace

std::string ParamValueToString(const ParamValue& value) {
  struct Printer {
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return FormatDouble(v); }
    std::string operator()(const std::string& v) const { return v; }
  };
  return std::visit(Printer{}, value);
}

const char* ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kFloat:
      return "float";
    case ParamType::kInt:
      return "int";
    case ParamType::kDiscrete:
      return "discrete";
    case ParamType::kCategorical:
      return "categorical";
  }
  return "unknown";
}

StatusOr<Distribution> Distribution::Float(double low, double high, bool log,
                                           std::optional<double> step) {
  if (!std::isfinite(low) || !std::isfinite(high)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "float range [", FormatDouble(low), ", ", FormatDouble(high), "] must have finite bounds"));
  }
  if (low > high) {
    return absl::InvalidArgumentError(
        absl::StrCat("float range has low ", FormatDouble(low), " > high ", FormatDouble(high)));
  }
  if (log && low <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("log float range needs low > 0, got low ", FormatDouble(low)));
  }
  if (step.has_value()) {
    if (log) return absl::InvalidArgumentError("a float range cannot be both log and stepped");
    if (!(*step > 0) || !std::isfinite(*step)) {
      return absl::InvalidArgumentError(
          absl::StrCat("float step must be > 0, got ", FormatDouble(*step)));
    }
    if (!StepDivides(low, high, *step)) {
      return absl::InvalidArgumentError(
          absl::StrCat("float step ", FormatDouble(*step), " does not divide the range [",
                       FormatDouble(low), ", ", FormatDouble(high), "]"));
    }
  }
  Distribution d;
  d.type_ = ParamType::kFloat;
  d.low_ = low;
  d.high_ = high;
  d.log_ = log;
  d.step_ = step;
  return d;
}

StatusOr<Distribution> Distribution::Int(int64_t low, int64_t high, bool log, int64_t step) {
  if (low > high) {
    return absl::InvalidArgumentError(absl::StrCat("int range has low ", low, " > high ", high));
  }
  if (log && low <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("log int range needs low > 0, got low ", low));
  }
  if (step <= 0)
    return absl::InvalidArgumentError(absl::StrCat("int step must be > 0, got ", step));
  if (log && step != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a log int range needs step 1, got step ", step));
  }
  if ((high - low) % step != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("int step ", step, " does not divide the range [", low, ", ", high, "]"));
  }
  Distribution d;
  d.type_ = ParamType::kInt;
  d.low_ = static_cast<double>(low);
  d.high_ = static_cast<double>(high);
  d.log_ = log;
  d.step_ = static_cast<double>(step);
  return d;
}

StatusOr<Distribution> Distribution::Discrete(std::vector<double> values) {
  if (values.empty()) return absl::InvalidArgumentError("discrete values must not be empty");
  std::vector<ParamValue> choices;
  for (double v : values) {
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("discrete value ", FormatDouble(v), " is not finite"));
    }
    if (std::count(values.begin(), values.end(), v) > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("discrete value ", FormatDouble(v), " appears twice"));
    }
  }
  std::sort(values.begin(), values.end());
  for (double v : values) choices.push_back(v);
  // A discrete distribution is a categorical one over numbers (indexes 0..n-1 over the sorted
  // choices), only typed apart; the values are distinct (checked above), so Categorical's own
  // check passes.
  MLCORE_ASSIGN_OR_RETURN(Distribution d, Categorical(std::move(choices)));
  d.type_ = ParamType::kDiscrete;
  return d;
}

StatusOr<Distribution> Distribution::Categorical(std::vector<ParamValue> choices) {
  if (choices.empty()) return absl::InvalidArgumentError("categorical choices must not be empty");
  for (size_t i = 0; i < choices.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (choices[i] == choices[j]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "categorical choice '", ParamValueToString(choices[i]), "' appears twice"));
      }
    }
  }
  Distribution d;
  d.type_ = ParamType::kCategorical;
  d.choices_ = std::move(choices);
  d.low_ = 0;
  d.high_ = static_cast<double>(d.choices_.size() - 1);
  return d;
}

std::optional<int64_t> Distribution::size() const {
  if (is_choice()) return static_cast<int64_t>(choices_.size());
  if (!step_.has_value()) return std::nullopt;
  return static_cast<int64_t>(std::llround((high_ - low_) / *step_)) + 1;
}

double Distribution::GridValue(int64_t index) const {
  if (is_choice()) return static_cast<double>(index);
  return Snap(low_ + static_cast<double>(index) * step_.value_or(0.0));
}

double Distribution::Snap(double x) const {
  if (std::isnan(x)) x = low_;
  x = std::clamp(x, low_, high_);
  if (is_choice()) return std::round(x);
  if (step_.has_value()) {
    double k = std::round((x - low_) / *step_);
    x = std::clamp(low_ + k * *step_, low_, high_);
  }
  if (type_ == ParamType::kInt) x = std::round(x);
  return x;
}

bool Distribution::Contains(double x) const {
  if (!(x >= low_ && x <= high_)) return false;
  if (is_choice() || type_ == ParamType::kInt) {
    if (x != std::round(x)) return false;
  }
  if (step_.has_value() && !is_choice()) return StepDivides(low_, x, *step_);
  return true;
}

StatusOr<double> Distribution::ToInternal(const ParamValue& value) const {
  if (is_choice()) {
    for (size_t i = 0; i < choices_.size(); ++i) {
      if (choices_[i] == value) return static_cast<double>(i);
      // Discrete lists hold doubles; accept an equal int (Katib lists "1", "2", ...).
      if (type_ == ParamType::kDiscrete && std::holds_alternative<int64_t>(value) &&
          std::get<double>(choices_[i]) == static_cast<double>(std::get<int64_t>(value))) {
        return static_cast<double>(i);
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("value '", ParamValueToString(value), "' is not one of ", DebugString()));
  }
  double x;
  if (std::holds_alternative<int64_t>(value)) {
    x = static_cast<double>(std::get<int64_t>(value));
  } else if (std::holds_alternative<double>(value) && type_ == ParamType::kFloat) {
    x = std::get<double>(value);
  } else if (std::holds_alternative<double>(value) &&
             std::get<double>(value) == std::round(std::get<double>(value))) {
    x = std::get<double>(value);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("value '", ParamValueToString(value), "' does not fit ", DebugString()));
  }
  if (!Contains(x)) {
    return absl::InvalidArgumentError(
        absl::StrCat("value ", ParamValueToString(value), " is outside ", DebugString()));
  }
  return x;
}

ParamValue Distribution::ToExternal(double internal) const {
  double x = Snap(internal);
  if (is_choice()) return choices_[static_cast<size_t>(x)];
  if (type_ == ParamType::kInt) return static_cast<int64_t>(x);
  return x;
}

std::string Distribution::ToJson() const {
  Json j;
  j["type"] = ParamTypeName(type_);
  if (is_choice()) {
    Json list = Json::array();
    for (const ParamValue& c : choices_) list.push_back(ValueToJson(c));
    j["choices"] = std::move(list);
  } else {
    j["low"] = low_;
    j["high"] = high_;
    if (log_) j["log"] = true;
    if (step_.has_value()) j["step"] = *step_;
  }
  return j.dump();
}

namespace {

// A field of a stored distribution, `fallback` when absent. Stored forms come from a store file
// that may be damaged or written by hand, so a wrong JSON type is an error naming the field,
// never nlohmann's exception.
StatusOr<Json> StoredField(const Json& j, const char* key, Json fallback, Json::value_t type,
                           std::string_view text) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  const bool number = type == Json::value_t::number_float;
  if (number ? !it->is_number() : it->type() != type) {
    return absl::InvalidArgumentError(absl::StrCat("distribution field '", key, "' has the wrong ",
                                                   "type in ", std::string(text)));
  }
  return *it;
}

// An int distribution's bound or step stored as a JSON number: whole and within int64.
StatusOr<int64_t> StoredInt(double v, const char* key, std::string_view text) {
  if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) {
    return absl::InvalidArgumentError(
        absl::StrCat("int distribution field '", key, "' is out of range in ", std::string(text)));
  }
  return std::llround(v);
}

}  // namespace

StatusOr<Distribution> Distribution::FromJson(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type")) {
    return absl::InvalidArgumentError(absl::StrCat("not a distribution: ", std::string(text)));
  }
  using T = Json::value_t;
  MLCORE_ASSIGN_OR_RETURN(Json type_field, StoredField(j, "type", "", T::string, text));
  const std::string type = type_field.get<std::string>();
  if (type == "discrete" || type == "categorical") {
    MLCORE_ASSIGN_OR_RETURN(Json list, StoredField(j, "choices", Json::array(), T::array, text));
    std::vector<ParamValue> choices;
    for (const Json& c : list) {
      MLCORE_ASSIGN_OR_RETURN(ParamValue v, ValueFromJson(c));
      choices.push_back(std::move(v));
    }
    if (type == "categorical") return Categorical(std::move(choices));
    std::vector<double> values;
    for (const ParamValue& v : choices) {
      if (std::holds_alternative<double>(v))
        values.push_back(std::get<double>(v));
      else if (std::holds_alternative<int64_t>(v))
        values.push_back(std::get<int64_t>(v));
      else
        return absl::InvalidArgumentError("discrete values must be numbers");
    }
    return Discrete(std::move(values));
  }
  MLCORE_ASSIGN_OR_RETURN(Json low, StoredField(j, "low", 0.0, T::number_float, text));
  MLCORE_ASSIGN_OR_RETURN(Json high, StoredField(j, "high", 0.0, T::number_float, text));
  MLCORE_ASSIGN_OR_RETURN(Json log, StoredField(j, "log", false, T::boolean, text));
  if (type == "int") {
    MLCORE_ASSIGN_OR_RETURN(Json step, StoredField(j, "step", 1.0, T::number_float, text));
    MLCORE_ASSIGN_OR_RETURN(int64_t lo, StoredInt(low.get<double>(), "low", text));
    MLCORE_ASSIGN_OR_RETURN(int64_t hi, StoredInt(high.get<double>(), "high", text));
    MLCORE_ASSIGN_OR_RETURN(int64_t st, StoredInt(step.get<double>(), "step", text));
    return Int(lo, hi, log.get<bool>(), st);
  }
  if (type == "float") {
    std::optional<double> step;
    if (j.contains("step")) {
      MLCORE_ASSIGN_OR_RETURN(Json s, StoredField(j, "step", 0.0, T::number_float, text));
      step = s.get<double>();
    }
    return Float(low.get<double>(), high.get<double>(), log.get<bool>(), step);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown distribution type '", type, "'"));
}

std::string Distribution::DebugString() const {
  if (is_choice()) {
    std::vector<std::string> names;
    for (const ParamValue& c : choices_) names.push_back(ParamValueToString(c));
    return absl::StrCat(ParamTypeName(type_), "[", absl::StrJoin(names, ", "), "]");
  }
  std::string s =
      absl::StrCat(ParamTypeName(type_), "[", FormatDouble(low_), ", ", FormatDouble(high_), "]");
  if (log_) absl::StrAppend(&s, " log");
  if (step_.has_value() && !(type_ == ParamType::kInt && *step_ == 1)) {
    absl::StrAppend(&s, " step ", FormatDouble(*step_));
  }
  return s;
}

bool Distribution::operator==(const Distribution& o) const {
  return type_ == o.type_ && low_ == o.low_ && high_ == o.high_ && log_ == o.log_ &&
         step_ == o.step_ && choices_ == o.choices_;
}

Status SearchSpace::Add(std::string name, Distribution distribution,
                        std::optional<Condition> condition) {
  if (name.empty()) return absl::InvalidArgumentError("a parameter name must not be empty");
  if (Find(name) != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "' is declared twice"));
  }
  if (condition.has_value()) {
    const Param* parent = Find(condition->parent);
    if (parent == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "' depends on '",
                                                     condition->parent,
                                                     "', which is not declared before it"));
    }
    for (const ParamValue& v : condition->values) {
      if (!parent->distribution.ToInternal(v).ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter '", name, "' depends on '", condition->parent, "' being '",
                         ParamValueToString(v), "', which is not one of its values"));
      }
    }
  }
  params_.push_back(Param{std::move(name), std::move(distribution), std::move(condition)});
  return absl::OkStatus();
}

const SearchSpace::Param* SearchSpace::Find(std::string_view name) const {
  for (const Param& p : params_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace mlcore::hpo
