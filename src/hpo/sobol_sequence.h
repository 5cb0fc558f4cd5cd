// A scrambled Sobol low-discrepancy sequence in up to 64 dimensions (32-bit points): the first
// 2^k points of every dimension fall one into each interval [i / 2^k, (i + 1) / 2^k), so a
// study's first trials cover the space far more evenly than independent random draws.
// Scrambling (Matousek's random linear matrix scrambling plus a random digital shift) keeps that
// property while making the sequence depend on a seed and removing the unscrambled sequence's
// point at the origin.
#pragma once

#include <cstdint>
#include <vector>

namespace mlcore::hpo::internal {

struct SobolDirection {
  uint32_t polynomial;            // bits 1 a_1 ... a_(s-1) 1 of a primitive polynomial of degree s
  std::vector<uint32_t> initial;  // m_1..m_s
};

// Joe and Kuo's table for dimensions 2..64 (sobol_directions.cc).
const std::vector<SobolDirection>& SobolDirections();

class SobolSequence {
 public:
  static constexpr int kMaxDimensions = 64;

  // dimensions in [1, kMaxDimensions] (larger values are clamped).
  SobolSequence(int dimensions, bool scramble, uint64_t seed);

  int dimensions() const { return static_cast<int>(directions_.size()); }
  // The index-th point (index < 2^32), each coordinate in [0, 1).
  std::vector<double> Point(uint32_t index) const;

 private:
  std::vector<std::vector<uint32_t>> directions_;  // per dimension, 32 direction numbers
  std::vector<uint32_t> shift_;                    // per dimension
};

}  // namespace mlcore::hpo::internal
