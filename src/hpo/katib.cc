// Katib's parameter vocabulary <-> Distribution.
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "mlcore/hpo/distribution.h"

namespace mlcore::hpo {
namespace {

using internal::AV;

StatusOr<double> ParseNumber(const KatibParameter& p, const char* field, const std::string& text) {
  double v;
  if (!absl::SimpleAtod(AV(text), &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Katib parameter '", p.name, "': ", field, " '", text, "' is not a number"));
  }
  return v;
}

StatusOr<int64_t> ParseInt(const KatibParameter& p, const char* field, const std::string& text) {
  int64_t v;
  if (!absl::SimpleAtoi(AV(text), &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Katib parameter '", p.name, "': ", field, " '", text, "' is not an integer"));
  }
  return v;
}

Status Named(const KatibParameter& p, const Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("Katib parameter '", p.name, "': ", s.message()));
}

}  // namespace

StatusOr<Distribution> DistributionFromKatib(const KatibParameter& p) {
  bool log;
  if (p.distribution.empty() || p.distribution == "uniform") {
    log = false;
  } else if (p.distribution == "logUniform") {
    log = true;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("Katib parameter '", p.name, "': distribution '",
                                                   p.distribution,
                                                   "' is not supported (uniform, logUniform)"));
  }
  StatusOr<Distribution> d;
  if (p.parameter_type == "double") {
    MLCORE_ASSIGN_OR_RETURN(double lo, ParseNumber(p, "min", p.min));
    MLCORE_ASSIGN_OR_RETURN(double hi, ParseNumber(p, "max", p.max));
    std::optional<double> step;
    if (!p.step.empty()) {
      MLCORE_ASSIGN_OR_RETURN(step, ParseNumber(p, "step", p.step));
    }
    d = Distribution::Float(lo, hi, log, step);
  } else if (p.parameter_type == "int") {
    MLCORE_ASSIGN_OR_RETURN(int64_t lo, ParseInt(p, "min", p.min));
    MLCORE_ASSIGN_OR_RETURN(int64_t hi, ParseInt(p, "max", p.max));
    int64_t step = 1;
    if (!p.step.empty()) {
      MLCORE_ASSIGN_OR_RETURN(step, ParseInt(p, "step", p.step));
    }
    d = Distribution::Int(lo, hi, log, step);
  } else if (p.parameter_type == "discrete") {
    std::vector<double> values;
    for (const std::string& s : p.list) {
      MLCORE_ASSIGN_OR_RETURN(double v, ParseNumber(p, "list", s));
      values.push_back(v);
    }
    d = Distribution::Discrete(std::move(values));
  } else if (p.parameter_type == "categorical") {
    std::vector<ParamValue> choices(p.list.begin(), p.list.end());
    d = Distribution::Categorical(std::move(choices));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("Katib parameter '", p.name, "': parameterType '", p.parameter_type,
                     "' is not one of double, int, discrete, categorical"));
  }
  if (!d.ok()) return Named(p, d.status());
  return d;
}

KatibParameter DistributionToKatib(std::string name, const Distribution& d) {
  KatibParameter p;
  p.name = std::move(name);
  switch (d.type()) {
    case ParamType::kFloat:
      p.parameter_type = "double";
      break;
    case ParamType::kInt:
      p.parameter_type = "int";
      break;
    case ParamType::kDiscrete:
      p.parameter_type = "discrete";
      break;
    case ParamType::kCategorical:
      p.parameter_type = "categorical";
      break;
  }
  if (d.is_choice()) {
    for (const ParamValue& c : d.choices()) p.list.push_back(ParamValueToString(c));
    return p;
  }
  p.min = ParamValueToString(d.ToExternal(d.low()));
  p.max = ParamValueToString(d.ToExternal(d.high()));
  if (d.step().has_value() && !(d.type() == ParamType::kInt && *d.step() == 1)) {
    p.step =
        ParamValueToString(d.type() == ParamType::kInt ? ParamValue(static_cast<int64_t>(*d.step()))
                                                       : ParamValue(*d.step()));
  }
  p.distribution = d.log() ? "logUniform" : "uniform";
  return p;
}

}  // namespace mlcore::hpo
