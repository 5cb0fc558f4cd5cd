// The relative search space of the model-based samplers (GP, CMA-ES, Sobol) and its encoding
// into the unit cube: each numeric parameter becomes one coordinate in [0, 1] (log ranges in log
// space, int and stepped ranges widened by half a step so every grid point owns an equal slice),
// each categorical parameter K one-hot coordinates. A model works on the cube only; Decode
// snaps back onto the parameter's grid, which is how int parameters are "rounded inside the
// model".
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mlcore/hpo/sampler.h"

namespace mlcore::hpo::internal {

// The parameters every complete trial shares with the same distribution (the declared space's
// unconditional parameters when the study declared one), in name order.
std::vector<std::pair<std::string, Distribution>> IntersectionSpace(const SamplerContext& context);

class SpaceEncoding {
 public:
  struct Dim {
    std::string name;
    Distribution distribution;
    bool one_hot = false;  // categorical: K coordinates; everything else: one
    int offset = 0;        // first coordinate
    int width = 1;
    bool log = false;
    double low = 0, high = 1;  // the coordinate's range before scaling to [0, 1]
  };

  // include_categorical false leaves categorical parameters out (CMA-ES samples them apart).
  SpaceEncoding(const std::vector<std::pair<std::string, Distribution>>& space,
                bool include_categorical);

  const std::vector<Dim>& dims() const { return dims_; }
  int size() const { return size_; }  // coordinates
  bool empty() const { return dims_.empty(); }

  // A trial's point, false when it lacks a parameter or has it with another distribution.
  bool Encode(const FrozenTrial& trial, double* out) const;
  // One internal value -> its coordinate(s).
  void EncodeValue(const Dim& dim, double internal, double* out) const;
  // Coordinates -> internal values by name (snapped; argmax for one-hot).
  std::map<std::string, double> Decode(const double* point) const;
  // Replaces the point by the encoding of its decoding: where the model scores it.
  void Snap(double* point) const;

 private:
  std::vector<Dim> dims_;
  int size_ = 0;
};

}  // namespace mlcore::hpo::internal
