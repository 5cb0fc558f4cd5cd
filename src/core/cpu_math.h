// CPU kernels shared by the layers, losses and optimisers: matrix products on Eigen split over
// mlcore's thread pool, and a parallel loop that stays on the calling thread for small work
// (waking a pool thread costs about as much as 100K simple float operations).
#pragma once

#include <cstdint>
#include <functional>

namespace mlcore::cpu {

// C[M,N] = A[M,K] * B[K,N] (+ C when accumulate). Row-major, no aliasing.
void MatMul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
            bool accumulate = false);
// C[K,N] = A[M,K]^T * B[M,N].
void MatMulTN(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n);
// C[M,K] = A[M,N] * B[K,N]^T.
void MatMulNT(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k);

// fn(begin, end) over [0, n) where each index costs about `cost` simple operations: inline
// below a threshold, else split over ThreadPool::Default().
void ParallelFor(int64_t n, int64_t cost, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace mlcore::cpu
