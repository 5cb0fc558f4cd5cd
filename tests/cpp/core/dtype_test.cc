#include "mlcore/core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mlcore/core/device.h"

namespace mlcore {
namespace {

TEST(DTypeTest, NamesRoundTrip) {
  for (DType dt : {DType::kBool, DType::kUInt8, DType::kInt32, DType::kInt64, DType::kFloat16,
                   DType::kBFloat16, DType::kFloat32, DType::kFloat64}) {
    auto parsed = ParseDType(DTypeName(dt));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, dt);
  }
  EXPECT_EQ(*ParseDType("f4"), DType::kFloat32);
  EXPECT_EQ(*ParseDType("half"), DType::kFloat16);
  EXPECT_EQ(DTypeSize(DType::kBFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kInt64), 8u);
}

TEST(DTypeTest, UnsupportedDtypeIsATypeErrorNamingIt) {
  auto st = ParseDType("complex64").status();
  EXPECT_TRUE(IsTypeError(st));
  EXPECT_NE(st.message().find("complex64"), absl::string_view::npos);
  EXPECT_FALSE(IsTypeError(absl::InvalidArgumentError("plain")));
}

TEST(HalfTest, Float16ConversionRoundsToNearestEven) {
  EXPECT_EQ(FloatToFloat16(1.0f).bits, 0x3c00);
  EXPECT_EQ(FloatToFloat16(-2.0f).bits, 0xc000);
  EXPECT_EQ(FloatToFloat16(65504.0f).bits, 0x7bff);
  EXPECT_EQ(FloatToFloat16(65520.0f).bits, 0x7c00);  // rounds up to infinity
  EXPECT_EQ(FloatToFloat16(std::numeric_limits<float>::infinity()).bits, 0x7c00);
  EXPECT_TRUE(std::isnan(Float16ToFloat(FloatToFloat16(std::nanf("")))));
  // 1 + 2^-11 is exactly between 1 and the next half (1 + 2^-10): ties go to even (1).
  EXPECT_EQ(FloatToFloat16(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00);
  // 1 + 3 * 2^-11 lies between 1 + 2^-10 (odd) and 1 + 2^-9 (even): ties go up.
  EXPECT_EQ(FloatToFloat16(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3c02);
  // Smallest subnormal 2^-24 and its half, which ties to zero (even).
  EXPECT_EQ(FloatToFloat16(std::ldexp(1.0f, -24)).bits, 0x0001);
  EXPECT_EQ(FloatToFloat16(std::ldexp(1.0f, -25)).bits, 0x0000);
  EXPECT_EQ(FloatToFloat16(std::ldexp(3.0f, -25)).bits, 0x0002);
  for (uint32_t bits = 0; bits < 0x7c00; ++bits) {  // every finite positive half round-trips
    float f = Float16ToFloat(float16{uint16_t(bits)});
    ASSERT_EQ(FloatToFloat16(f).bits, bits) << bits;
  }
}

TEST(HalfTest, BFloat16ConversionRoundsToNearestEven) {
  EXPECT_EQ(FloatToBFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(bfloat16{0x3f80}), 1.0f);
  // 1 + 2^-8 ties between 1 and 1 + 2^-7: to even (1).
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::infinity()).bits, 0x7f80);
}

TEST(DeviceTest, ParsesAndPrints) {
  EXPECT_EQ(*ParseDevice("cpu"), Device::CPU());
  EXPECT_EQ(*ParseDevice("cuda"), Device::CUDA(0));
  EXPECT_EQ(*ParseDevice("cuda:3"), Device::CUDA(3));
  EXPECT_EQ(Device::CUDA(2).ToString(), "cuda:2");
  for (const char* bad : {"tpu", "cuda:", "cuda:-1", "cuda:1x", ""}) {
    auto st = ParseDevice(bad).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace mlcore
