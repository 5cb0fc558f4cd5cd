// The CUDA twins against the CPU twins on the same inputs: bit for bit for fill, cast, add, mul
// and axpy (NaN payloads aside: the GPU's conversions return the canonical NaN), within
// rounding for sums, whose order differs. Every test skips on a machine without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mlcore/core/cuda.h"
#include "mlcore/ops/elementwise.h"
#include "ops/ops_test_util.h"

namespace mlcore::ops {
namespace {

// Sizes that exercise the vector packs, their scalar tails and grids of one and many blocks.
// 3000017: more 16-byte packs than the clamped grid has threads (sm count x 8 blocks x 256 on an
// H200 is 270336), so every vectorised grid-stride loop runs more than one pass, plus a tail.
constexpr int64_t kGpuSizes[] = {0, 1, 7, 17, 65537, 1000003, 3000017};

bool IsNaNAt(const Tensor& t, int64_t i) {
  return IsFloatingPoint(t.dtype()) && std::isnan(testing::ElementAsDouble(t, i));
}

// Bitwise equality of a GPU result (copied back) and the CPU twin's, treating any two NaNs as
// equal.
::testing::AssertionResult TwinsAgree(const Tensor& gpu, const Tensor& cpu) {
  auto host = gpu.To(Device::CPU());
  if (!host.ok()) return ::testing::AssertionFailure() << host.status();
  if (host->dtype() != cpu.dtype() || host->shape() != cpu.shape()) {
    return ::testing::AssertionFailure() << gpu.ToString() << " vs " << cpu.ToString();
  }
  const size_t size = DTypeSize(cpu.dtype());
  const auto* g = static_cast<const unsigned char*>(host->data());
  const auto* c = static_cast<const unsigned char*>(cpu.data());
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    if (std::memcmp(g + i * size, c + i * size, size) == 0) continue;
    if (IsNaNAt(*host, i) && IsNaNAt(cpu, i)) continue;
    return ::testing::AssertionFailure()
           << DTypeName(cpu.dtype()) << " element " << i << " of " << cpu.numel() << ": GPU "
           << testing::ElementAsDouble(*host, i) << ", CPU " << testing::ElementAsDouble(cpu, i);
  }
  return ::testing::AssertionSuccess();
}

class CudaTwinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device: " << cuda::UnavailableReason();
  }

  static Tensor ToGpu(const Tensor& t, int device = 0) {
    auto g = t.To(Device::CUDA(device));
    EXPECT_TRUE(g.ok()) << g.status();
    return *std::move(g);
  }

  // A view one element into a copy of `t` on the GPU: its pointer is not 16-byte aligned, which
  // sends the kernels down their one-element path.
  static Tensor MisalignedGpu(const Tensor& t) {
    Tensor padded = *Tensor::Empty({t.numel() + 1}, t.dtype(), Device::CUDA(0));
    Tensor view = *padded.Slice(1, t.numel() + 1);
    EXPECT_TRUE(view.CopyFrom(t).ok());
    return view;
  }
};

using ElementwiseCudaTest = CudaTwinTest;
using CastCudaTest = CudaTwinTest;
using SumCudaTest = CudaTwinTest;

TEST_F(ElementwiseCudaTest, FillMatchesCpu) {
  for (DType dtype : testing::kAllDTypes) {
    for (int64_t n : kGpuSizes) {
      for (double value : {0.0, -3.7, 1e20, 0.1, std::nan("")}) {
        SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " n=" << n << " v=" << value);
        Tensor cpu = *Tensor::Empty({n}, dtype);
        ASSERT_TRUE(Fill(cpu, value).ok());
        Tensor gpu = *Tensor::Empty({n}, dtype, Device::CUDA(0));
        ASSERT_TRUE(Fill(gpu, value).ok());
        EXPECT_TRUE(TwinsAgree(gpu, cpu));
        Tensor misaligned = MisalignedGpu(cpu);
        ASSERT_TRUE(Fill(misaligned, value).ok());
        EXPECT_TRUE(TwinsAgree(misaligned, cpu));
      }
    }
  }
}

TEST_F(ElementwiseCudaTest, AddAndMulMatchCpuBitwise) {
  for (DType dtype : testing::kNumericDTypes) {
    for (int64_t n : kGpuSizes) {
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " n=" << n);
      const Tensor a = testing::RandomTensor(dtype, n, 21, /*special=*/true);
      const Tensor b = testing::RandomTensor(dtype, n, 22, /*special=*/true);
      const Tensor ga = ToGpu(a);
      const Tensor gb = ToGpu(b);
      const Tensor cpu_sum = *Add(a, b);
      const Tensor cpu_product = *Mul(a, b);
      auto gpu_sum = Add(ga, gb);
      ASSERT_TRUE(gpu_sum.ok()) << gpu_sum.status();
      EXPECT_EQ(gpu_sum->device(), Device::CUDA(0));
      EXPECT_TRUE(TwinsAgree(*gpu_sum, cpu_sum));
      auto gpu_product = Mul(ga, gb);
      ASSERT_TRUE(gpu_product.ok()) << gpu_product.status();
      EXPECT_TRUE(TwinsAgree(*gpu_product, cpu_product));

      Tensor in_place = ToGpu(a);
      ASSERT_TRUE(AddInto(in_place, gb, in_place).ok());
      EXPECT_TRUE(TwinsAgree(in_place, cpu_sum));
      Tensor misaligned = MisalignedGpu(a);
      ASSERT_TRUE(MulInto(misaligned, gb, misaligned).ok());
      EXPECT_TRUE(TwinsAgree(misaligned, cpu_product));
    }
  }
}

TEST_F(ElementwiseCudaTest, AxpyMatchesCpuBitwise) {
  for (DType dtype : testing::kFloatDTypes) {
    for (int64_t n : kGpuSizes) {
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " n=" << n);
      const Tensor x = testing::RandomTensor(dtype, n, 23, /*special=*/true);
      Tensor y = testing::RandomTensor(dtype, n, 24, /*special=*/true);
      Tensor gy = ToGpu(y);
      Tensor misaligned_y = MisalignedGpu(y);
      ASSERT_TRUE(Axpy(0.37, ToGpu(x), gy).ok());
      ASSERT_TRUE(Axpy(0.37, MisalignedGpu(x), misaligned_y).ok());
      ASSERT_TRUE(Axpy(0.37, x, y).ok());
      EXPECT_TRUE(TwinsAgree(gy, y));
      EXPECT_TRUE(TwinsAgree(misaligned_y, y));
    }
  }
}

TEST_F(CastCudaTest, EveryPairMatchesCpuBitwise) {
  for (DType from : testing::kAllDTypes) {
    const Tensor x = testing::RandomTensor(from, 100003, 25, /*special=*/true);
    const Tensor gx = ToGpu(x);
    const Tensor misaligned = MisalignedGpu(x);
    for (DType to : testing::kAllDTypes) {
      SCOPED_TRACE(::testing::Message() << DTypeName(from) << " -> " << DTypeName(to));
      const Tensor cpu = *Cast(x, to);
      auto gpu = Cast(gx, to);
      ASSERT_TRUE(gpu.ok()) << gpu.status();
      EXPECT_TRUE(TwinsAgree(*gpu, cpu));
      Tensor into = *Tensor::Empty({x.numel() + 1}, to, Device::CUDA(0));
      Tensor into_view = *into.Slice(1, x.numel() + 1);
      ASSERT_TRUE(CastInto(misaligned, into_view).ok());
      EXPECT_TRUE(TwinsAgree(into_view, cpu));
    }
  }
}

TEST_F(CastCudaTest, RoundingCasesMatchCpu) {
  const std::vector<float> values = {1.0f + std::ldexp(1.0f, -11),
                                     1.0f + 3 * std::ldexp(1.0f, -11),
                                     65519.0f,
                                     65520.0f,
                                     std::ldexp(1.0f, -25),
                                     std::ldexp(1.5f, -24),
                                     std::ldexp(0.75f, -24),
                                     -0.0f,
                                     1.0f + std::ldexp(1.0f, -8),
                                     1e-40f,
                                     3.4e38f,
                                     -1e10f,
                                     2.7f};
  const Tensor x = testing::TensorOf(values);
  for (DType to : testing::kAllDTypes) {
    SCOPED_TRACE(DTypeName(to));
    auto gpu = Cast(ToGpu(x), to);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    EXPECT_TRUE(TwinsAgree(*gpu, *Cast(x, to)));
  }
}

// Integer sums are exact on both twins; float sums accumulate in double on both, in different
// orders, so only the final rounding may differ.
void ExpectSumsAgree(const Tensor& gpu_sum, const Tensor& cpu_sum) {
  ASSERT_EQ(gpu_sum.device(), Device::CUDA(0));
  ASSERT_EQ(gpu_sum.dim(), 0);
  ASSERT_EQ(gpu_sum.dtype(), cpu_sum.dtype());
  const Tensor host = *gpu_sum.To(Device::CPU());
  if (cpu_sum.dtype() == DType::kInt64) {
    EXPECT_EQ(*testing::Data<int64_t>(host), *testing::Data<int64_t>(cpu_sum));
    return;
  }
  const double want = testing::ElementAsDouble(cpu_sum, 0);
  const double relative = cpu_sum.dtype() == DType::kFloat64 ? 1e-12 : 1e-6;
  EXPECT_NEAR(testing::ElementAsDouble(host, 0), want, relative * (1 + std::abs(want)));
}

TEST_F(SumCudaTest, MatchesCpuTwin) {
  for (DType dtype : testing::kAllDTypes) {
    for (int64_t n : kGpuSizes) {
      SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " n=" << n);
      const Tensor x = testing::RandomTensor(dtype, n, 26);
      const Tensor cpu = *Sum(x);
      auto gpu = Sum(ToGpu(x));
      ASSERT_TRUE(gpu.ok()) << gpu.status();
      ExpectSumsAgree(*gpu, cpu);
      auto misaligned = Sum(MisalignedGpu(x));
      ASSERT_TRUE(misaligned.ok()) << misaligned.status();
      ExpectSumsAgree(*misaligned, cpu);
    }
  }
}

TEST_F(SumCudaTest, RepeatableAndAccurate) {
  Tensor ones = *Tensor::Empty({20000003}, DType::kFloat32, Device::CUDA(0));
  ASSERT_TRUE(Fill(ones, 1.0).ok());
  auto first = SumToDouble(ones);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 20000003.0);
  const Tensor x = ToGpu(testing::RandomTensor(DType::kFloat64, 1000003, 27));
  const double once = *SumToDouble(x);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*SumToDouble(x), once);
}

TEST_F(ElementwiseCudaTest, RunsOnTheTensorsDeviceAndRestoresTheCurrentOne) {
  if (cuda::DeviceCount() < 2) GTEST_SKIP() << "needs two CUDA devices";
  const Tensor a = testing::RandomTensor(DType::kFloat32, 100001, 28);
  const Tensor g1 = ToGpu(a, 1);
  auto sum = Add(g1, g1);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->device(), Device::CUDA(1));
  EXPECT_TRUE(TwinsAgree(*sum, *Add(a, a)));
  // A follow-up op on device 0 still lands there.
  const Tensor g0 = ToGpu(a, 0);
  auto sum0 = Add(g0, g0);
  ASSERT_TRUE(sum0.ok());
  EXPECT_TRUE(TwinsAgree(*sum0, *Add(a, a)));
}

TEST_F(ElementwiseCudaTest, ErrorsAfterKernelsAreNotSticky) {
  // A refused op on the GPU leaves the device usable for the next one.
  const Tensor a = ToGpu(testing::RandomTensor(DType::kFloat32, 10, 29));
  const Tensor b = ToGpu(testing::RandomTensor(DType::kFloat32, 11, 30));
  EXPECT_FALSE(Add(a, b).ok());
  EXPECT_TRUE(Add(a, a).ok());
  EXPECT_TRUE(cuda::Synchronize(0).ok());
}

}  // namespace
}  // namespace mlcore::ops
