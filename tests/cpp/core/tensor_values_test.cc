// The readouts a C++ program takes from a tensor: values out, one item, row argmax, and float32
// tensors from doubles as Python makes them from floats.
#include "mlcore/core/tensor_values.h"

#include <gtest/gtest.h>

#include <cmath>

#include "mlcore/core/half.h"

namespace mlcore {
namespace {

TEST(TensorValuesTest, ToVectorConvertsEveryDtype) {
  Tensor ints = Tensor::FromVector<int64_t>({1, -2, 3}, {3}).value();
  EXPECT_EQ(ToVector<double>(ints).value(), (std::vector<double>{1, -2, 3}));
  Tensor halves =
      Tensor::FromVector<float16>({FloatToFloat16(0.5f), FloatToFloat16(-1.25f)}, {2}).value();
  EXPECT_EQ(ToVector<float>(halves).value(), (std::vector<float>{0.5f, -1.25f}));
  Tensor bytes = Tensor::FromVector<uint8_t>({200, 0}, {2}).value();
  EXPECT_EQ(ToVector<int32_t>(bytes).value(), (std::vector<int32_t>{200, 0}));
  EXPECT_EQ(ToVector<bool>(bytes).value(), (std::vector<bool>{true, false}));
  EXPECT_EQ(ToVector<float>(Tensor()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorValuesTest, ItemNeedsOneElement) {
  EXPECT_EQ(Item(Tensor::FromVector<float>({2.5f}, {1, 1}).value()).value(), 2.5);
  auto two = Item(Tensor::FromVector<float>({1, 2}, {2}).value());
  EXPECT_EQ(two.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(two.status().message().find("[2]"), absl::string_view::npos) << two.status();
}

TEST(TensorValuesTest, ArgmaxPerRowFirstTieAndNanWins) {
  Tensor logits = FloatTensor({0.1, 2.0, -1.0, 3.0, 3.0, 1.0, 0.0, NAN, 5.0}, {3, 3}).value();
  EXPECT_EQ(logits.dtype(), DType::kFloat32);
  EXPECT_EQ(Argmax(logits).value(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(Argmax(FloatTensor({1, 4, 2}, {3}).value()).value(), (std::vector<int64_t>{1}));
  EXPECT_EQ(Argmax(Tensor::Zeros({2, 0}, DType::kFloat32).value()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlcore
