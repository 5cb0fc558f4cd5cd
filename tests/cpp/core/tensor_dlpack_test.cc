// What a DLPack producer claims is checked before mlcore views its memory (issue 12: a DLPack
// capsule fuzz target; these are the inputs it must refuse, and one it must take).
#include "core/tensor_dlpack.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace mlcore::internal {
namespace {

DLTensor Float32(std::vector<int64_t>& shape, void* data) {
  DLTensor dl{};
  dl.device.device_type = kDLCPU;
  dl.ndim = static_cast<int32_t>(shape.size());
  dl.dtype.code = kDLFloat;
  dl.dtype.bits = 32;
  dl.dtype.lanes = 1;
  dl.shape = shape.data();
  dl.data = data;
  return dl;
}

TEST(TensorDLPackTest, ACompactTensorIsViewedAndReleasedOnce) {
  float buffer[6] = {0, 1, 2, 3, 4, 5};
  std::vector<int64_t> shape = {2, 3}, strides = {3, 1};
  DLTensor dl = Float32(shape, buffer);
  dl.strides = strides.data();
  int released = 0;
  {
    StatusOr<Tensor> t = ViewDLTensor(dl, [&] { ++released; });
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->shape(), (Shape{2, 3}));
    EXPECT_EQ(t->data<float>()[4], 4.0f);
  }
  EXPECT_EQ(released, 1);
}

TEST(TensorDLPackTest, ClaimsNoProducerShouldMakeAreRefused) {
  float buffer[4] = {};
  int released = 0;
  auto refused = [&](const DLTensor& dl, const char* why) {
    StatusOr<Tensor> t = ViewDLTensor(dl, [&] { ++released; });
    EXPECT_TRUE(absl::IsInvalidArgument(t.status())) << why << ": " << t.status();
  };
  std::vector<int64_t> shape = {2, 2};
  DLTensor dl = Float32(shape, buffer);
  dl.ndim = -1;
  refused(dl, "negative ndim");
  dl = Float32(shape, buffer);
  dl.shape = nullptr;
  refused(dl, "no shape array");
  std::vector<int64_t> negative = {2, -2};
  refused(Float32(negative, buffer), "a negative dimension");
  refused(Float32(shape, nullptr), "no data");
  // Strides whose running product overflows int64 (undefined behaviour before the check).
  std::vector<int64_t> huge = {int64_t{1} << 40, int64_t{1} << 40, int64_t{1} << 40};
  std::vector<int64_t> strides = {int64_t{1} << 62, int64_t{1} << 20, 1};
  dl = Float32(huge, buffer);
  dl.strides = strides.data();
  refused(dl, "overflowing strides");
  std::vector<int64_t> transposed_strides = {1, 2};
  dl = Float32(shape, buffer);
  dl.strides = transposed_strides.data();
  refused(dl, "not row-major");
  dl = Float32(shape, buffer);
  dl.device.device_type = kDLCUDA;
  dl.device.device_id = -3;
  refused(dl, "a negative device id");
  EXPECT_EQ(released, 0);  // refused tensors stay the producer's
}

}  // namespace
}  // namespace mlcore::internal
