#include "hpo/sobol_sequence.h"

#include <algorithm>
#include <bit>
#include <random>

namespace mlcore::hpo::internal {

SobolSequence::SobolSequence(int dimensions, bool scramble, uint64_t seed) {
  dimensions = std::clamp(dimensions, 1, kMaxDimensions);
  const std::vector<SobolDirection>& table = SobolDirections();
  directions_.assign(dimensions, std::vector<uint32_t>(32));
  shift_.assign(dimensions, 0);
  for (int j = 0; j < dimensions; ++j) {
    std::vector<uint32_t>& v = directions_[j];
    if (j == 0) {
      for (int k = 0; k < 32; ++k) v[k] = uint32_t{1} << (31 - k);
    } else {
      const SobolDirection& dir = table[j - 1];
      const int s = std::bit_width(dir.polynomial) - 1;
      const uint32_t a = (dir.polynomial >> 1) & ((uint32_t{1} << (s - 1)) - 1);
      for (int k = 0; k < s && k < 32; ++k) v[k] = dir.initial[k] << (31 - k);
      for (int k = s; k < 32; ++k) {
        v[k] = v[k - s] ^ (v[k - s] >> s);
        for (int i = 1; i < s; ++i) {
          if ((a >> (s - 1 - i)) & 1) v[k] ^= v[k - i];
        }
      }
    }
  }
  if (!scramble) return;
  std::mt19937_64 rng(seed);
  for (int j = 0; j < dimensions; ++j) {
    // Output bit b (b = 0 the most significant) = parity of row_b & v, where row_b has a one on
    // the diagonal, random bits left of it (more significant) and zeros right of it: a random
    // nonsingular lower-triangular matrix, which maps every elementary interval onto one.
    uint32_t rows[32];
    for (int b = 0; b < 32; ++b) {
      const uint32_t diag = uint32_t{1} << (31 - b);
      const uint32_t above = b == 0 ? 0 : ~((diag << 1) - 1);
      rows[b] = (static_cast<uint32_t>(rng()) & above) | diag;
    }
    for (uint32_t& v : directions_[j]) {
      uint32_t out = 0;
      for (int b = 0; b < 32; ++b) {
        out |= static_cast<uint32_t>(std::popcount(rows[b] & v) & 1) << (31 - b);
      }
      v = out;
    }
    shift_[j] = static_cast<uint32_t>(rng());
  }
}

std::vector<double> SobolSequence::Point(uint32_t index) const {
  std::vector<double> out(directions_.size());
  for (size_t j = 0; j < directions_.size(); ++j) {
    uint32_t x = shift_[j];
    for (int k = 0; index >> k; ++k) {
      if ((index >> k) & 1) x ^= directions_[j][k];
    }
    // The centre of the point's 2^-32 cell, so no coordinate is exactly 0.
    out[j] = (static_cast<double>(x) + 0.5) / 4294967296.0;
  }
  return out;
}

}  // namespace mlcore::hpo::internal
