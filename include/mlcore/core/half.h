// Storage types for the two 16-bit floats. They hold bits only; arithmetic goes through float.
// Conversions round to nearest even, as the GPU's conversion instructions do, so CPU and CUDA
// twins agree bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

namespace mlcore {

struct float16 {
  uint16_t bits = 0;
};
struct bfloat16 {
  uint16_t bits = 0;
};

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline bfloat16 FloatToBFloat16(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bfloat16{uint16_t((u >> 16) | 0x40)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return bfloat16{uint16_t(u >> 16)};
}
inline float BFloat16ToFloat(bfloat16 h) { return BitsToFloat(uint32_t(h.bits) << 16); }

inline float16 FloatToFloat16(float f) {
  uint32_t u = FloatBits(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return float16{uint16_t(sign | 0x7e00u)};   // NaN
  if (abs >= 0x477ff000u) return float16{uint16_t(sign | 0x7c00u)};  // overflow to inf
  if (abs < 0x38800000u) {                                           // subnormal or zero
    if (abs < 0x33000000u) return float16{sign};                     // below half the min subnormal
    uint32_t exp = abs >> 23;
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp;  // 14 + (127 - 1 - exp) - 0 relative to half's 2^-24 unit
    uint32_t half_mant = mant >> (shift - 0);
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half_mant & 1u))) ++half_mant;
    return float16{uint16_t(sign | (half_mant >> 0))};
  }
  uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return float16{uint16_t(sign | ((rounded - 0x38000000u) >> 13))};
}
inline float Float16ToFloat(float16 h) {
  uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  uint32_t exp = (h.bits >> 10) & 0x1fu;
  uint32_t mant = h.bits & 0x3ffu;
  if (exp == 0x1f) return BitsToFloat(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return BitsToFloat(sign);
    float f = float(mant) * 5.9604644775390625e-08f;  // mant * 2^-24
    return sign ? -f : f;
  }
  return BitsToFloat(sign | ((exp + 112u) << 23) | (mant << 13));
}

}  // namespace mlcore
