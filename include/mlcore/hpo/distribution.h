// The search space of a study: what values each hyperparameter may take. Samplers work on one
// "internal" number per parameter (the value itself for float/int, the index of the choice for
// discrete/categorical), so a sampler never needs to know how a choice is spelled; a
// Distribution converts between that number and the user's value and refuses invalid ranges at
// definition, before any trial runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::hpo {

// A parameter's value as the objective sees it. Categorical choices may be any of these.
using ParamValue = std::variant<bool, int64_t, double, std::string>;

// "0.001", "32", "true", "adam": how a value prints in tables, errors and command templates.
std::string ParamValueToString(const ParamValue& value);

enum class ParamType {
  kFloat,        // continuous in [low, high], optionally on a grid of `step`
  kInt,          // integers in [low, high] on a grid of `step` (default 1)
  kDiscrete,     // a list of numbers (Katib "discrete"); sampled as an ordered set of choices
  kCategorical,  // a list of unordered choices of any ParamValue kind
};

const char* ParamTypeName(ParamType type);

class Distribution {
 public:
  // Each factory validates its arguments: InvalidArgument for low > high, log with low <= 0, a
  // non-positive step, a step that does not divide high - low, log combined with a float step,
  // a non-finite bound, and empty or duplicate choices.
  static StatusOr<Distribution> Float(double low, double high, bool log = false,
                                      std::optional<double> step = std::nullopt);
  static StatusOr<Distribution> Int(int64_t low, int64_t high, bool log = false, int64_t step = 1);
  static StatusOr<Distribution> Discrete(std::vector<double> values);
  static StatusOr<Distribution> Categorical(std::vector<ParamValue> choices);

  ParamType type() const { return type_; }
  double low() const { return low_; }
  double high() const { return high_; }
  bool log() const { return log_; }
  // The grid spacing: empty for a continuous float, >= 1 for an int.
  std::optional<double> step() const { return step_; }
  const std::vector<ParamValue>& choices() const { return choices_; }

  // True for discrete and categorical, whose internal value is a choice index.
  bool is_choice() const {
    return type_ == ParamType::kDiscrete || type_ == ParamType::kCategorical;
  }
  // The number of distinct values; empty for a continuous float (no step).
  std::optional<int64_t> size() const;
  // The index-th distinct value's internal representation, for grids (0 <= index < size()).
  double GridValue(int64_t index) const;

  // The user's value -> internal number. InvalidArgument when the value is not in the space
  // (out of range, off the step grid, not one of the choices).
  StatusOr<double> ToInternal(const ParamValue& value) const;
  // The internal number -> the user's value (snapped to the grid and clamped into range).
  ParamValue ToExternal(double internal) const;
  // Snaps an internal number onto this space (range, step, integer index).
  double Snap(double internal) const;
  bool Contains(double internal) const;

  // A compact JSON form, used by the SQLite storage and the Python bindings.
  std::string ToJson() const;
  static StatusOr<Distribution> FromJson(std::string_view json);
  // "float[0.001, 0.1] log", "int[1, 8] step 1", "categorical[adam, sgd]".
  std::string DebugString() const;

  bool operator==(const Distribution& other) const;
  bool operator!=(const Distribution& other) const { return !(*this == other); }

 private:
  ParamType type_ = ParamType::kFloat;
  double low_ = 0.0;
  double high_ = 0.0;
  bool log_ = false;
  std::optional<double> step_;
  std::vector<ParamValue> choices_;
};

// A parameter that exists only when another one has one of some values ("momentum" only when
// "optimizer" is "sgd"): conditional spaces declared up front.
struct Condition {
  std::string parent;
  std::vector<ParamValue> values;
};

// A search space declared up front (a dict in Python, a Katib parameter list), for samplers that
// want the whole space (grid) and for studies run from a spec rather than a define-by-run
// objective. Parameters keep their declaration order; a conditional parameter must come after
// its parent.
class SearchSpace {
 public:
  struct Param {
    std::string name;
    Distribution distribution;
    std::optional<Condition> condition;
  };

  // InvalidArgument for an empty or duplicate name, or a condition whose parent is not declared
  // before it or whose values are not the parent's values.
  Status Add(std::string name, Distribution distribution,
             std::optional<Condition> condition = std::nullopt);
  const std::vector<Param>& params() const { return params_; }
  const Param* Find(std::string_view name) const;
  bool empty() const { return params_.empty(); }
  size_t size() const { return params_.size(); }

 private:
  std::vector<Param> params_;
};

// Katib's vocabulary, one to one: parameterType double|int|discrete|categorical, feasibleSpace
// min/max/step/list and distribution uniform|logUniform. Strings are Katib's (numbers as text).
struct KatibParameter {
  std::string name;
  std::string parameter_type;     // "double", "int", "discrete", "categorical"
  std::string min;                // double/int
  std::string max;                // double/int
  std::string step;               // optional, double/int
  std::vector<std::string> list;  // discrete/categorical
  std::string distribution;       // "", "uniform", "logUniform"
};

// InvalidArgument naming the parameter and the field for anything Katib would reject or that
// mlcore cannot represent (unknown type, unparsable number, invalid range).
StatusOr<Distribution> DistributionFromKatib(const KatibParameter& parameter);
KatibParameter DistributionToKatib(std::string name, const Distribution& distribution);

}  // namespace mlcore::hpo
