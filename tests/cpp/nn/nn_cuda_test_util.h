// Helpers for the tests of nn's CUDA twins against their CPU originals.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "mlcore/core/cuda.h"
#include "mlcore/core/tensor.h"

// Skips the test where no usable GPU is present (every CUDA twin test does, first).
#define SKIP_WITHOUT_GPU()            \
  if (!::mlcore::cuda::IsAvailable()) \
  GTEST_SKIP() << "no CUDA device: " << ::mlcore::cuda::UnavailableReason()

namespace mlcore::nn::testing {

inline Tensor Host(const Tensor& t) { return *t.To(Device::CPU()); }
inline Tensor Gpu(const Tensor& t) { return *t.To(Device::CUDA(0)); }

// Every value of the GPU result within tol * (1 + |cpu value|) of the CPU one.
inline void ExpectNear(const Tensor& cpu, const Tensor& gpu, double tol, const std::string& what) {
  // A GPU result that silently came back on the CPU would compare equal and prove nothing.
  ASSERT_TRUE(gpu.device().is_cuda()) << what;
  Tensor g = Host(gpu);
  ASSERT_EQ(cpu.shape(), g.shape()) << what;
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    const double a = cpu.data<float>()[i], b = g.data<float>()[i];
    ASSERT_NEAR(a, b, tol * (1.0 + std::abs(a))) << what << " at " << i;
  }
}

}  // namespace mlcore::nn::testing
