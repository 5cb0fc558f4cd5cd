#include "hpo/space_encoding.h"

#include <algorithm>
#include <cmath>

namespace mlcore::hpo::internal {

std::vector<std::pair<std::string, Distribution>> IntersectionSpace(const SamplerContext& context) {
  std::vector<std::pair<std::string, Distribution>> space;
  if (context.declared_space != nullptr && !context.declared_space->empty()) {
    for (const SearchSpace::Param& p : context.declared_space->params()) {
      if (!p.condition.has_value()) space.emplace_back(p.name, p.distribution);
    }
    std::sort(space.begin(), space.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return space;
  }
  bool first = true;
  for (const auto& t : context.trials) {
    if (t->state != TrialState::kComplete) continue;
    if (first) {
      for (const auto& [name, d] : t->distributions) space.emplace_back(name, d);
      first = false;
      continue;
    }
    std::erase_if(space, [&](const auto& entry) {
      auto it = t->distributions.find(entry.first);
      return it == t->distributions.end() || it->second != entry.second;
    });
    if (space.empty()) break;
  }
  return space;
}

SpaceEncoding::SpaceEncoding(const std::vector<std::pair<std::string, Distribution>>& space,
                             bool include_categorical) {
  for (const auto& [name, d] : space) {
    Dim dim{name, d};
    if (d.type() == ParamType::kCategorical) {
      if (!include_categorical) continue;
      dim.one_hot = true;
      dim.width = static_cast<int>(d.choices().size());
    } else if (d.type() == ParamType::kDiscrete) {
      // An ordered list: its index is a number like an int's.
      dim.low = -0.5;
      dim.high = static_cast<double>(d.choices().size()) - 0.5;
    } else {
      const double half = d.step().has_value() ? *d.step() / 2 : 0.0;
      dim.log = d.log();
      dim.low = d.low() - half;
      dim.high = d.high() + half;
      if (dim.log) {
        dim.low = std::log(std::max(dim.low, d.low() / 2));
        dim.high = std::log(dim.high);
      }
    }
    dim.offset = size_;
    size_ += dim.width;
    dims_.push_back(std::move(dim));
  }
}

void SpaceEncoding::EncodeValue(const Dim& dim, double internal, double* out) const {
  if (dim.one_hot) {
    for (int k = 0; k < dim.width; ++k) out[dim.offset + k] = 0.0;
    const int c = std::clamp(static_cast<int>(std::lround(internal)), 0, dim.width - 1);
    out[dim.offset + c] = 1.0;
    return;
  }
  const double t = dim.log ? std::log(internal) : internal;
  const double range = dim.high - dim.low;
  out[dim.offset] = range > 0 ? std::clamp((t - dim.low) / range, 0.0, 1.0) : 0.5;
}

bool SpaceEncoding::Encode(const FrozenTrial& trial, double* out) const {
  for (const Dim& dim : dims_) {
    auto d = trial.distributions.find(dim.name);
    if (d == trial.distributions.end() || d->second != dim.distribution) return false;
    std::optional<double> v = trial.InternalParam(dim.name);
    if (!v.has_value()) return false;
    EncodeValue(dim, *v, out);
  }
  return true;
}

std::map<std::string, double> SpaceEncoding::Decode(const double* point) const {
  std::map<std::string, double> out;
  for (const Dim& dim : dims_) {
    if (dim.one_hot) {
      const double* p = point + dim.offset;
      out[dim.name] = static_cast<double>(std::max_element(p, p + dim.width) - p);
      continue;
    }
    const double u = std::clamp(point[dim.offset], 0.0, 1.0);
    const double t = dim.low + u * (dim.high - dim.low);
    out[dim.name] = dim.distribution.Snap(dim.log ? std::exp(t) : t);
  }
  return out;
}

void SpaceEncoding::Snap(double* point) const {
  for (const Dim& dim : dims_) {
    double* p = point + dim.offset;
    if (dim.one_hot) {
      const int c = static_cast<int>(std::max_element(p, p + dim.width) - p);
      for (int k = 0; k < dim.width; ++k) p[k] = k == c ? 1.0 : 0.0;
      continue;
    }
    p[0] = std::clamp(p[0], 0.0, 1.0);
    // Continuous floats keep their exact coordinate (decoding would only add rounding noise).
    if (dim.distribution.type() == ParamType::kFloat && !dim.distribution.step().has_value()) {
      continue;
    }
    const double t = dim.low + p[0] * (dim.high - dim.low);
    EncodeValue(dim, dim.distribution.Snap(dim.log ? std::exp(t) : t), point);
  }
}

}  // namespace mlcore::hpo::internal
