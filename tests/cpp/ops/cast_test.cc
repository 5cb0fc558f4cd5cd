#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "mlcore/ops/elementwise.h"
#include "ops/ops_test_util.h"

namespace mlcore::ops {
namespace {

using testing::Data;
using testing::kIsHalf;
using testing::TensorOf;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<uint16_t> CastFloatsToBits(const std::vector<float>& values, DType dtype) {
  auto out = Cast(TensorOf(values), dtype);
  EXPECT_TRUE(out.ok()) << out.status();
  const auto* bits = static_cast<const uint16_t*>(out->data());
  return std::vector<uint16_t>(bits, bits + values.size());
}

TEST(CastCpuTest, Float32ToFloat16RoundsToNearestEven) {
  const std::vector<float> values = {
      1.0f,
      1.0f + std::ldexp(1.0f, -11),      // tie between 1 and 1 + 2^-10: stays even (1)
      1.0f + 3 * std::ldexp(1.0f, -11),  // tie between 1 + 2^-10 and 1 + 2^-9: rounds up
      65504.0f,                          // largest float16
      65519.0f,                          // below the tie: stays finite
      65520.0f,                          // the tie with 2^16 rounds to even: infinity
      1e6f,
      -kInf,
      -0.0f,
      std::ldexp(1.0f, -24),     // smallest subnormal
      std::ldexp(1.0f, -25),     // tie between 0 and the smallest subnormal: to even (0)
      std::ldexp(1.5f, -24),     // tie between subnormals 1 and 2: to even (2)
      std::ldexp(0.75f, -24),    // above the tie: smallest subnormal
      std::ldexp(1.0f, -14),     // smallest normal
      std::ldexp(1023.0f, -24),  // largest subnormal
      0.333333343f,
  };
  const std::vector<uint16_t> expected = {0x3c00, 0x3c00, 0x3c02, 0x7bff, 0x7bff, 0x7c00,
                                          0x7c00, 0xfc00, 0x8000, 0x0001, 0x0000, 0x0002,
                                          0x0001, 0x0400, 0x03ff, 0x3555};
  EXPECT_EQ(CastFloatsToBits(values, DType::kFloat16), expected);
}

TEST(CastCpuTest, Float32ToBFloat16RoundsToNearestEven) {
  const std::vector<float> values = {
      1.0f,
      1.0f + std::ldexp(1.0f, -8),      // tie: stays even
      1.0f + 3 * std::ldexp(1.0f, -8),  // tie: rounds up to even
      std::numeric_limits<float>::max(),
      -kInf,
      1e-40f,  // float subnormal
      -0.0f,
  };
  const std::vector<uint16_t> expected = {0x3f80, 0x3f80, 0x3f82, 0x7f80, 0xff80, 0x0001, 0x8000};
  EXPECT_EQ(CastFloatsToBits(values, DType::kBFloat16), expected);
}

TEST(CastCpuTest, NaNStaysNaN) {
  for (DType dtype : {DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    auto out = Cast(TensorOf<float>({kNaN, -kNaN}), dtype);
    ASSERT_TRUE(out.ok());
    auto back = Cast(*out, DType::kFloat32);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(std::isnan(Data<float>(*back)[0])) << DTypeName(dtype);
    EXPECT_TRUE(std::isnan(Data<float>(*back)[1])) << DTypeName(dtype);
  }
}

TEST(CastCpuTest, HalfToFloat32IsExact) {
  const std::vector<float16> h = {float16{0x0001}, float16{0x03ff}, float16{0x7bff},
                                  float16{0x7c00}, float16{0x8000}, float16{0x3555}};
  auto out = Cast(TensorOf(h), DType::kFloat32);
  ASSERT_TRUE(out.ok());
  const float* f = Data<float>(*out);
  EXPECT_EQ(f[0], std::ldexp(1.0f, -24));
  EXPECT_EQ(f[1], std::ldexp(1023.0f, -24));
  EXPECT_EQ(f[2], 65504.0f);
  EXPECT_EQ(f[3], kInf);
  EXPECT_TRUE(std::signbit(f[4]) && f[4] == 0.0f);
  EXPECT_EQ(f[5], 0.333251953125f);
}

TEST(CastCpuTest, FloatToIntTruncatesAndSaturates) {
  const Tensor x = TensorOf<float>({2.7f, -2.7f, 1e10f, -1e10f, kNaN, kInf, 300.0f, -5.0f});
  auto i32 = Cast(x, DType::kInt32);
  ASSERT_TRUE(i32.ok());
  EXPECT_EQ(std::vector<int32_t>(Data<int32_t>(*i32), Data<int32_t>(*i32) + 8),
            (std::vector<int32_t>{2, -2, std::numeric_limits<int32_t>::max(),
                                  std::numeric_limits<int32_t>::min(), 0,
                                  std::numeric_limits<int32_t>::max(), 300, -5}));
  auto u8 = Cast(x, DType::kUInt8);
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ(std::vector<uint8_t>(Data<uint8_t>(*u8), Data<uint8_t>(*u8) + 8),
            (std::vector<uint8_t>{2, 0, 255, 0, 0, 255, 255, 0}));
  auto i64 = Cast(TensorOf<double>({1e19, -1e19, 9.0e18}), DType::kInt64);
  ASSERT_TRUE(i64.ok());
  EXPECT_EQ(Data<int64_t>(*i64)[0], std::numeric_limits<int64_t>::max());
  EXPECT_EQ(Data<int64_t>(*i64)[1], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Data<int64_t>(*i64)[2], int64_t{9000000000000000000});
}

TEST(CastCpuTest, IntToIntWrapsAndBoolIsNonzero) {
  auto i32 = Cast(TensorOf<int64_t>({(int64_t{1} << 32) + 5, -1}), DType::kInt32);
  ASSERT_TRUE(i32.ok());
  EXPECT_EQ(Data<int32_t>(*i32)[0], 5);
  EXPECT_EQ(Data<int32_t>(*i32)[1], -1);
  auto u8 = Cast(TensorOf<int32_t>({-1, 300}), DType::kUInt8);
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ(Data<uint8_t>(*u8)[0], 255);
  EXPECT_EQ(Data<uint8_t>(*u8)[1], 44);
  auto b = Cast(TensorOf<float>({0.0f, -0.0f, kNaN, 0.5f}), DType::kBool);
  ASSERT_TRUE(b.ok());
  const auto* bytes = static_cast<const uint8_t*>(b->data());
  EXPECT_EQ(std::vector<uint8_t>(bytes, bytes + 4), (std::vector<uint8_t>{0, 0, 1, 1}));
}

TEST(CastCpuTest, BoolBytesOtherThanOneReadAsTrue) {
  std::vector<uint8_t> raw = {0, 1, 2, 255};
  Tensor b = *Tensor::FromBlob(raw.data(), {4}, DType::kBool, Device::CPU());
  auto f = Cast(b, DType::kFloat32);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(std::vector<float>(Data<float>(*f), Data<float>(*f) + 4),
            (std::vector<float>{0, 1, 1, 1}));
  auto sum = SumToDouble(b);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(*sum, 3.0);
}

// Every (from, to) pair at every size against a scalar loop of the documented rules.
TEST(CastCpuTest, EveryPairMatchesScalarRules) {
  for (DType from : testing::kAllDTypes) {
    for (DType to : testing::kAllDTypes) {
      for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{65537}, int64_t{1000003}}) {
        SCOPED_TRACE(::testing::Message()
                     << DTypeName(from) << " -> " << DTypeName(to) << " n=" << n);
        const Tensor x = testing::RandomTensor(from, n, 5, /*special=*/true);
        auto out = Cast(x, to);
        ASSERT_TRUE(out.ok()) << out.status();
        ASSERT_EQ(out->dtype(), to);
        ASSERT_EQ(out->shape(), x.shape());
        Tensor into = *Tensor::Empty({n}, to);
        ASSERT_TRUE(CastInto(x, into).ok());
        EXPECT_TRUE(testing::BitwiseEqual(into, *out));
        for (int64_t i = 0; i < n; i += 1 + n / 997) {
          const double v = testing::ElementAsDouble(x, i);
          const double got = testing::ElementAsDouble(*out, i);
          // int64 -> float rounds once, not through double.
          const float fv = from == DType::kInt64 ? static_cast<float>(Data<int64_t>(x)[i])
                                                 : static_cast<float>(v);
          double want;
          switch (to) {
            case DType::kBool:
              want = v != 0 ? 1 : 0;
              break;
            case DType::kFloat16:
              want = Float16ToFloat(FloatToFloat16(fv));
              break;
            case DType::kBFloat16:
              want = BFloat16ToFloat(FloatToBFloat16(fv));
              break;
            case DType::kFloat32:
              want = fv;
              break;
            case DType::kFloat64:
              want = v;
              break;
            default: {
              // Integers: exact from integers (modular for narrowing), saturating from floats.
              const double lo = to == DType::kUInt8   ? 0
                                : to == DType::kInt32 ? -2147483648.0
                                                      : -9.223372036854775808e18;
              const double hi = to == DType::kUInt8   ? 255
                                : to == DType::kInt32 ? 2147483647.0
                                                      : 9.223372036854775807e18;
              if (IsFloatingPoint(from)) {
                want = std::isnan(v) ? 0 : std::trunc(std::clamp(v, lo, hi));
              } else if (v >= lo && v <= hi) {
                want = v;
              } else {
                continue;  // modular narrowing, covered by IntToIntWrapsAndBoolIsNonzero
              }
            }
          }
          if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << "element " << i;
          } else {
            EXPECT_EQ(got, want) << "element " << i << " of value " << v;
          }
        }
      }
    }
  }
}

TEST(CastCpuTest, SameDTypeCopies) {
  const Tensor x = TensorOf<int32_t>({1, 2, 3});
  auto y = Cast(x, DType::kInt32);
  ASSERT_TRUE(y.ok());
  EXPECT_FALSE(y->SharesStorageWith(x));
  EXPECT_TRUE(testing::BitwiseEqual(*y, x));
}

TEST(CastCpuTest, InPlaceWhenElementSizesMatch) {
  Tensor x = TensorOf<int32_t>({1, -2, 3});
  Tensor as_float = *Tensor::FromStorage(x.storage(), 0, {3}, DType::kFloat32);
  ASSERT_TRUE(CastInto(x, as_float).ok());
  EXPECT_EQ(Data<float>(as_float)[1], -2.0f);
}

}  // namespace
}  // namespace mlcore::ops
