// A single-precision GEMM for x86-64 CPUs with AVX2 and FMA, chosen at run time. Eigen is built
// for the baseline ISA (SSE2) here, which leaves half the vector width and the fused
// multiply-add unused; this kernel is what lets a small MLP train as fast as PyTorch's oneDNN.
#pragma once

#include <cstdint>

namespace mlcore::cpu {

// True when the CPU has AVX2 and FMA (checked once).
bool HasAvx2Fma();

// C[i, j] (+)= sum_p A(i, p) * B[p, j] for i < m, j < n, p < k, where A(i, p) is
// a[i * a_row_stride + p * a_col_stride] (so A or A^T), B is row-major with leading dimension
// ldb and C with ldc. Call only when HasAvx2Fma().
void GemmAvx2(const float* a, int64_t a_row_stride, int64_t a_col_stride, const float* b,
              int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n, int64_t k, bool accumulate);

}  // namespace mlcore::cpu
