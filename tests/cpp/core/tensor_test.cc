#include "mlcore/core/tensor.h"

#include <gtest/gtest.h>

#include <vector>

#include "mlcore/core/allocator.h"
#include "mlcore/core/cuda.h"

namespace mlcore {
namespace {

TEST(TensorTest, EmptyHasShapeDtypeAndAlignedOwnedStorage) {
  auto t = Tensor::Empty({2, 3, 4}, DType::kFloat32);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->numel(), 24);
  EXPECT_EQ(t->nbytes(), 96u);
  EXPECT_EQ(t->dim(), 3);
  EXPECT_TRUE(t->device().is_cpu());
  EXPECT_TRUE(t->storage()->owns_memory());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data()) % 64, 0u);
  EXPECT_EQ(t->ToString(), "Tensor(float32, [2, 3, 4], cpu)");
}

TEST(TensorTest, ZerosAreZeroForEveryDtype) {
  for (DType dt : {DType::kBool, DType::kUInt8, DType::kInt32, DType::kInt64, DType::kFloat16,
                   DType::kBFloat16, DType::kFloat32, DType::kFloat64}) {
    auto t = Tensor::Zeros({5, 7}, dt);
    ASSERT_TRUE(t.ok());
    const auto* bytes = static_cast<const unsigned char*>(t->data());
    for (size_t i = 0; i < t->nbytes(); ++i) ASSERT_EQ(bytes[i], 0) << DTypeName(dt);
  }
}

TEST(TensorTest, ZeroSizedAndScalarTensors) {
  auto empty = Tensor::Empty({0, 5}, DType::kFloat64);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->numel(), 0);
  auto scalar = Tensor::Empty({}, DType::kInt64);
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->numel(), 1);
  EXPECT_EQ(scalar->dim(), 0);
}

TEST(TensorTest, NegativeOrOverflowingShapesAreRejected) {
  auto neg = Tensor::Empty({2, -1}, DType::kFloat32);
  EXPECT_EQ(neg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(neg.status().message().find("[2, -1]"), absl::string_view::npos);
  auto huge = Tensor::Empty({int64_t{1} << 40, int64_t{1} << 40}, DType::kFloat32);
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
}

// Elements that fit in int64 but whose bytes do not: 2**62 float32 elements are 2**64 bytes,
// which wrapped to a 0-byte buffer under a tensor claiming 2**62 elements.
TEST(TensorTest, ByteSizesThatWrapAreRejectedEverywhere) {
  for (const Shape& shape : {Shape{int64_t{1} << 62}, Shape{int64_t{1} << 31, int64_t{1} << 31},
                             Shape{(int64_t{1} << 61) + 1}}) {
    SCOPED_TRACE(ShapeToString(shape));
    auto bytes = NumBytes(shape, DType::kFloat32);
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bytes.status().message().find(ShapeToString(shape)), absl::string_view::npos);
    EXPECT_EQ(Tensor::Empty(shape, DType::kFloat32).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Tensor::Zeros(shape, DType::kFloat32).status().code(),
              absl::StatusCode::kInvalidArgument);
    float one = 1.0f;
    EXPECT_EQ(Tensor::FromBlob(&one, shape, DType::kFloat32, Device::CPU(), {}).status().code(),
              absl::StatusCode::kInvalidArgument);
    auto storage = Storage::Borrow(&one, sizeof(one), Device::CPU(), {});
    EXPECT_EQ(Tensor::FromStorage(storage, 0, shape, DType::kFloat32).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(*NumBytes({3, 5}, DType::kFloat64), 120u);
  EXPECT_EQ(*NumBytes({}, DType::kInt32), 4u);
  EXPECT_EQ(*NumBytes({0, int64_t{1} << 62}, DType::kFloat32), 0u);
  // Representable but impossible to allocate: a clean ResourceExhausted, not a crash.
  auto exabytes = Tensor::Empty({int64_t{1} << 60}, DType::kFloat32);
  EXPECT_EQ(exabytes.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(TensorTest, FromVectorChecksSize) {
  auto ok = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->data<float>()[5], 6.0f);
  EXPECT_EQ(ok->data<double>(), nullptr);  // wrong type gives no pointer
  auto bad = Tensor::FromVector<float>({1, 2, 3}, {2, 3});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("[2, 3]"), absl::string_view::npos);
}

TEST(TensorTest, FromBlobBorrowsAndReleasesOnce) {
  std::vector<int32_t> buffer = {1, 2, 3, 4};
  int released = 0;
  {
    auto t =
        Tensor::FromBlob(buffer.data(), {4}, DType::kInt32, Device::CPU(), [&] { ++released; });
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE(t->storage()->owns_memory());
    Tensor copy = *t;              // shares storage
    copy.data<int32_t>()[2] = 42;  // writes through to the borrowed memory
    EXPECT_EQ(buffer[2], 42);
    EXPECT_EQ(released, 0);
  }
  EXPECT_EQ(released, 1);
}

TEST(TensorTest, ReshapeAndSliceAreViews) {
  auto t = Tensor::FromVector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  ASSERT_TRUE(t.ok());
  auto r = t->Reshape({-1, 6});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->shape(), (Shape{2, 6}));
  EXPECT_TRUE(r->SharesStorageWith(*t));
  auto s = t->Slice(1, 3);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->shape(), (Shape{2, 4}));
  EXPECT_EQ(s->data<int64_t>()[0], 4);
  s->data<int64_t>()[0] = -4;
  EXPECT_EQ(t->data<int64_t>()[4], -4);

  EXPECT_EQ(t->Reshape({5, -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->Reshape({-1, -1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->Reshape({7}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t->Slice(2, 5).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(TensorTest, ToAndCopyFromCopyOnTheHost) {
  auto t = Tensor::FromVector<double>({1.5, 2.5}, {2});
  ASSERT_TRUE(t.ok());
  auto c = t->To(Device::CPU());
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->SharesStorageWith(*t));
  EXPECT_EQ(c->data<double>()[1], 2.5);
  auto dst = Tensor::Zeros({1, 2}, DType::kFloat64);
  ASSERT_TRUE(dst->CopyFrom(*t).ok());
  EXPECT_EQ(dst->data<double>()[0], 1.5);
  auto wrong = Tensor::Zeros({3}, DType::kFloat64);
  EXPECT_EQ(wrong->CopyFrom(*t).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorTest, CudaRequestWithoutDeviceIsAClearError) {
  if (cuda::DeviceCount() > 0) GTEST_SKIP() << "a CUDA device exists";
  auto t = Tensor::Empty({4}, DType::kFloat32, Device::CUDA(0));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("cuda:0"), absl::string_view::npos);
  EXPECT_FALSE(cuda::UnavailableReason().empty());
}

TEST(TensorTest, CpuAllocatorStatsTrackLiveBytes) {
  auto before = GetAllocatorStats(Device::CPU());
  ASSERT_TRUE(before.ok());
  {
    auto t = Tensor::Empty({1 << 20}, DType::kUInt8);
    auto during = GetAllocatorStats(Device::CPU());
    EXPECT_GE(during->allocated_bytes, before->allocated_bytes + (1u << 20));
    EXPECT_GE(during->peak_allocated_bytes, during->allocated_bytes);
  }
  auto after = GetAllocatorStats(Device::CPU());
  EXPECT_EQ(after->allocated_bytes, before->allocated_bytes);
}

TEST(CudaTensorTest, CopiesRoundTripThroughTheDevice) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << cuda::UnavailableReason();
  auto host = Tensor::FromVector<float>({1, 2, 3, 4, 5}, {5});
  auto dev = host->To(Device::CUDA(0));
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_TRUE(dev->device().is_cuda());
  auto back = dev->To(Device::CPU());
  ASSERT_TRUE(back.ok());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(back->data<float>()[i], float(i + 1));
  auto zeros = Tensor::Zeros({3}, DType::kFloat32, Device::CUDA(0));
  ASSERT_TRUE(zeros.ok());
  auto zh = zeros->To(Device::CPU());
  EXPECT_EQ(zh->data<float>()[2], 0.0f);
}

TEST(CudaTensorTest, CachingAllocatorReusesFreedBlocks) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << cuda::UnavailableReason();
  { auto t = Tensor::Empty({1 << 20}, DType::kFloat32, Device::CUDA(0)); }
  auto before = GetAllocatorStats(Device::CUDA(0));
  { auto t = Tensor::Empty({1 << 20}, DType::kFloat32, Device::CUDA(0)); }
  auto after = GetAllocatorStats(Device::CUDA(0));
  EXPECT_EQ(after->num_cache_hits, before->num_cache_hits + 1);
  EXPECT_EQ(after->num_device_mallocs, before->num_device_mallocs);
  EmptyCudaCache();
  EXPECT_EQ(GetAllocatorStats(Device::CUDA(0))->cached_bytes, 0u);
}

}  // namespace
}  // namespace mlcore
