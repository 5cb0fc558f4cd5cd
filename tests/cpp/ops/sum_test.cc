#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "mlcore/ops/elementwise.h"
#include "ops/ops_test_util.h"

namespace mlcore::ops {
namespace {

using testing::Data;
using testing::TensorOf;

// The exact-ish reference: a long double running sum of the elements as double.
long double ReferenceSum(const Tensor& x) {
  long double total = 0;
  for (int64_t i = 0; i < x.numel(); ++i) total += testing::ElementAsDouble(x, i);
  return total;
}

double AbsSum(const Tensor& x) {
  double total = 0;
  for (int64_t i = 0; i < x.numel(); ++i) total += std::abs(testing::ElementAsDouble(x, i));
  return total;
}

TEST(SumCpuTest, FloatsAccumulateInDouble) {
  for (DType dtype : testing::kFloatDTypes) {
    for (int64_t n : testing::kSizes) {
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " n=" << n);
      const Tensor x = testing::RandomTensor(dtype, n, 11);
      auto sum = Sum(x);
      ASSERT_TRUE(sum.ok()) << sum.status();
      EXPECT_EQ(sum->dim(), 0);
      EXPECT_EQ(sum->numel(), 1);
      const long double want = ReferenceSum(x);
      if (dtype == DType::kFloat64) {
        ASSERT_EQ(sum->dtype(), DType::kFloat64);
        EXPECT_NEAR(*Data<double>(*sum), static_cast<double>(want), 1e-13 * AbsSum(x));
      } else {
        // Accumulated in double, so the only error left is the final rounding to float.
        ASSERT_EQ(sum->dtype(), DType::kFloat32);
        EXPECT_EQ(*Data<float>(*sum), static_cast<float>(static_cast<double>(want)));
      }
    }
  }
}

TEST(SumCpuTest, ManySmallFloatsDoNotDrift) {
  // A float accumulator would stop growing at 2^24; a double one does not.
  Tensor x = *Tensor::Empty({20000000}, DType::kFloat32);
  ASSERT_TRUE(Fill(x, 1.0).ok());
  auto sum = SumToDouble(x);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(*sum, 20000000.0);
}

TEST(SumCpuTest, IntegersSumExactlyInInt64) {
  for (DType dtype : {DType::kBool, DType::kUInt8, DType::kInt32}) {
    for (int64_t n : testing::kSizes) {
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " n=" << n);
      const Tensor x = testing::RandomTensor(dtype, n, 12);
      auto sum = Sum(x);
      ASSERT_TRUE(sum.ok());
      ASSERT_EQ(sum->dtype(), DType::kInt64);
      int64_t want = 0;
      for (int64_t i = 0; i < n; ++i) want += static_cast<int64_t>(testing::ElementAsDouble(x, i));
      EXPECT_EQ(*Data<int64_t>(*sum), want);
    }
  }
}

TEST(SumCpuTest, Int64WrapsAround) {
  const Tensor x = TensorOf<int64_t>({std::numeric_limits<int64_t>::max(), 2, -5});
  auto sum = Sum(x);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(*Data<int64_t>(*sum), std::numeric_limits<int64_t>::max() - 3);
}

TEST(SumCpuTest, EmptyIsZero) {
  for (DType dtype : testing::kAllDTypes) {
    const Tensor x = *Tensor::Empty({0, 3}, dtype);
    auto sum = SumToDouble(x);
    ASSERT_TRUE(sum.ok()) << DTypeName(dtype);
    EXPECT_EQ(*sum, 0.0);
  }
}

TEST(SumCpuTest, NonFiniteValuesPropagate) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(*SumToDouble(TensorOf<float>({1.0f, inf})), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(*SumToDouble(TensorOf<float>({inf, -inf}))));
  EXPECT_TRUE(std::isnan(*SumToDouble(TensorOf<float>({1.0f, std::nanf("")}))));
}

TEST(SumCpuTest, RepeatableBitForBit) {
  const Tensor x = testing::RandomTensor(DType::kFloat64, 1000003, 13);
  const double first = *SumToDouble(x);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*SumToDouble(x), first);
}

}  // namespace
}  // namespace mlcore::ops
