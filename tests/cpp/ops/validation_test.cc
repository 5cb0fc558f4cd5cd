#include <gtest/gtest.h>

#include <string>

#include "mlcore/core/cuda.h"
#include "mlcore/ops/elementwise.h"
#include "ops/ops_test_util.h"

namespace mlcore::ops {
namespace {

Tensor Filled(const Shape& shape, DType dtype, double value = 1.0) {
  Tensor t = *Tensor::Empty(shape, dtype);
  EXPECT_TRUE(Fill(t, value).ok());
  return t;
}

// A CUDA tensor without a GPU: borrowed memory is never touched, since every op checks first.
Tensor FakeCudaTensor(const Shape& shape, DType dtype) {
  static char dummy[64];
  return *Tensor::FromBlob(dummy, shape, dtype, Device::CUDA(0));
}

std::string Message(const Status& status) { return std::string(status.message()); }

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

TEST(OpsValidationTest, DTypeMismatchIsTypeErrorNamingBoth) {
  const Status st = Add(Filled({3}, DType::kFloat32), Filled({3}, DType::kInt32)).status();
  EXPECT_TRUE(IsTypeError(st)) << st;
  EXPECT_TRUE(Contains(Message(st), "ops::Add"));
  EXPECT_TRUE(Contains(Message(st), "a is float32 but b is int32"));
}

TEST(OpsValidationTest, ShapeMismatchNamesBothShapes) {
  const Status st = Mul(Filled({2, 3}, DType::kFloat32), Filled({3, 2}, DType::kFloat32)).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsTypeError(st));
  EXPECT_TRUE(Contains(Message(st), "ops::Mul: a has shape [2, 3] but b has shape [3, 2]"));
  EXPECT_TRUE(Contains(Message(st), "broadcast"));
}

TEST(OpsValidationTest, OutMustMatchToo) {
  const Tensor a = Filled({4}, DType::kFloat32);
  Tensor out = *Tensor::Empty({5}, DType::kFloat32);
  const Status st = AddInto(a, a, out);
  EXPECT_TRUE(Contains(Message(st), "ops::AddInto: a has shape [4] but out has shape [5]"));
  Tensor wrong_dtype = *Tensor::Empty({4}, DType::kFloat64);
  EXPECT_TRUE(IsTypeError(MulInto(a, a, wrong_dtype)));
}

TEST(OpsValidationTest, UndefinedTensorIsNamed) {
  const Tensor undefined;
  Tensor also_undefined;
  EXPECT_TRUE(Contains(Message(Add(undefined, Filled({1}, DType::kFloat32)).status()),
                       "ops::Add: a is an undefined tensor"));
  EXPECT_TRUE(Contains(Message(Fill(also_undefined, 1.0)), "ops::Fill: tensor is an undefined"));
  EXPECT_TRUE(Contains(Message(Sum(undefined).status()), "ops::Sum: x is an undefined"));
  EXPECT_TRUE(Contains(Message(Cast(undefined, DType::kFloat16).status()), "ops::Cast: x"));
  EXPECT_EQ(Axpy(1.0, undefined, also_undefined).code(), absl::StatusCode::kInvalidArgument);
}

TEST(OpsValidationTest, BoolArithmeticIsRefused) {
  const Tensor b = Filled({3}, DType::kBool);
  for (const Status& st : {Add(b, b).status(), Mul(b, b).status()}) {
    EXPECT_TRUE(IsTypeError(st)) << st;
    EXPECT_TRUE(Contains(Message(st), "bool tensors are not supported"));
  }
}

TEST(OpsValidationTest, AxpyOnIntegersIsRefused) {
  Tensor y = Filled({3}, DType::kInt32);
  const Status st = Axpy(2.0, Filled({3}, DType::kInt32), y);
  EXPECT_TRUE(IsTypeError(st)) << st;
  EXPECT_TRUE(Contains(Message(st), "ops::Axpy: x and y are int32"));
  EXPECT_TRUE(Contains(Message(st), "floating dtypes only"));
}

TEST(OpsValidationTest, CrossDeviceOperandsAreRefused) {
  const Tensor cpu = Filled({4}, DType::kFloat32);
  const Tensor gpu = FakeCudaTensor({4}, DType::kFloat32);
  const Status st = Add(cpu, gpu).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(Message(st), "ops::Add: a is on cpu but b is on cuda:0"));
  Tensor y = Filled({4}, DType::kFloat32);
  EXPECT_TRUE(Contains(Message(Axpy(1.0, gpu, y)), "x is on cuda:0 but y is on cpu"));
}

TEST(OpsValidationTest, CudaTensorWithoutUsableDeviceIsFailedPrecondition) {
  if (cuda::DeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  Tensor gpu = FakeCudaTensor({4}, DType::kFloat32);
  for (const Status& st : {Add(gpu, gpu).status(), Fill(gpu, 1.0), Sum(gpu).status(),
                           Cast(gpu, DType::kFloat16).status(), Axpy(1.0, gpu, gpu)}) {
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    EXPECT_TRUE(Contains(Message(st), "ops::"));
    EXPECT_TRUE(Contains(Message(st), "cuda:0"));
  }
}

TEST(OpsValidationTest, PartialOverlapIsRefused) {
  Tensor base = Filled({10}, DType::kFloat32);
  const Tensor a = *base.Slice(0, 8);
  Tensor shifted = *base.Slice(1, 9);
  const Status st = AddInto(a, a, shifted);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(Message(st), "out partially overlaps a"));
  Tensor as_half = *Tensor::FromStorage(base.storage(), 0, {10}, DType::kFloat16);
  EXPECT_EQ(CastInto(base, as_half).code(), absl::StatusCode::kInvalidArgument);
}

TEST(OpsValidationTest, CastIntoChecksShapeButNotDType) {
  const Tensor x = Filled({3}, DType::kFloat32);
  Tensor out = *Tensor::Empty({4}, DType::kFloat16);
  EXPECT_TRUE(Contains(Message(CastInto(x, out)), "ops::CastInto: x has shape [3]"));
}

}  // namespace
}  // namespace mlcore::ops
