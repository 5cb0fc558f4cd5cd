// Helpers for the tests of nn's CUDA twins against their CPU originals.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "mlcore/core/cuda.h"
#include "mlcore/core/tensor.h"
#include "mlcore/nn/sequential.h"

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

// Fits two copies of one compiled model on (x, y), `cpu` on the CPU and `gpu` on the GPU, for
// `epochs` of batches of 32: the final losses, and the predictions (back on the CPU) after, agree
// within 1e-3.
inline void ExpectGpuFitMatchesCpu(Sequential& cpu, Sequential& gpu, const Tensor& x,
                                   const Tensor& y, int epochs) {
  FitOptions f;
  f.epochs = epochs;
  f.batch_size = 32;
  auto h_cpu = cpu.Fit(x, y, f);
  ASSERT_TRUE(h_cpu.ok()) << h_cpu.status();
  f.device = "cuda";
  auto h_gpu = gpu.Fit(x, y, f);
  ASSERT_TRUE(h_gpu.ok()) << h_gpu.status();
  EXPECT_NEAR(h_cpu->metrics["loss"].back(), h_gpu->metrics["loss"].back(), 1e-3);
  Tensor p_cpu = *cpu.Predict(x), p_gpu = *gpu.Predict(x);
  EXPECT_TRUE(p_gpu.device().is_cpu());
  for (int64_t i = 0; i < p_cpu.numel(); ++i) {
    ASSERT_NEAR(p_cpu.data<float>()[i], p_gpu.data<float>()[i], 1e-3);
  }
}

}  // namespace mlcore::nn::testing
