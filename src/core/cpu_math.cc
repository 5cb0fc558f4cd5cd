#include "core/cpu_math.h"

#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <vector>

#include "core/gemm_avx2.h"
#include "mlcore/core/thread_pool.h"

namespace mlcore::cpu {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapC = Eigen::Map<const RowMatrix>;
using Map = Eigen::Map<RowMatrix>;

// Work below this many operations stays on the calling thread (see the header).
constexpr int64_t kParallelOps = int64_t{1} << 18;

}  // namespace

void ParallelFor(int64_t n, int64_t cost, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  ThreadPool& pool = ThreadPool::Default();
  const int64_t total = n * std::max<int64_t>(cost, 1);
  if (total < kParallelOps || pool.num_threads() <= 1) {
    fn(0, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(pool.num_threads(), total / (kParallelOps / 2));
  const int64_t grain = std::max<int64_t>(1, (n + chunks - 1) / std::max<int64_t>(chunks, 1));
  pool.ParallelFor(n, grain, fn);
}

void MatMul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
            bool accumulate) {
  if (HasAvx2Fma()) {
    ParallelFor(m, k * n, [&](int64_t begin, int64_t end) {
      GemmAvx2(a + begin * k, k, 1, b, n, c + begin * n, n, end - begin, n, k, accumulate);
    });
    return;
  }
  MapC bm(b, k, n);
  ParallelFor(m, k * n, [&](int64_t begin, int64_t end) {
    MapC am(a + begin * k, end - begin, k);
    Map cm(c + begin * n, end - begin, n);
    if (accumulate) {
      cm.noalias() += am * bm;
    } else {
      cm.noalias() = am * bm;
    }
  });
}

void MatMulTN(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  if (HasAvx2Fma()) {
    // Row i of C is column i of A: A^T(i, p) = a[p * k + i].
    ParallelFor(k, m * n, [&](int64_t begin, int64_t end) {
      GemmAvx2(a + begin, 1, k, b, n, c + begin * n, n, end - begin, n, m, false);
    });
    return;
  }
  MapC am(a, m, k);
  MapC bm(b, m, n);
  ParallelFor(k, m * n, [&](int64_t begin, int64_t end) {
    Map cm(c + begin * n, end - begin, n);
    cm.noalias() = am.middleCols(begin, end - begin).transpose() * bm;
  });
}

void MatMulNT(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k) {
  if (HasAvx2Fma()) {
    // B^T is read column-wise otherwise; one transposed copy (k x n floats, small next to the
    // m x n x k product) makes every load of the kernel contiguous.
    // Tiles of 16 x 16 keep both sides of the transpose in L1 (a plain loop writes with a
    // power-of-two stride that thrashes the cache's associativity).
    std::unique_ptr<float[]> bt(new float[static_cast<size_t>(n * k)]);
    constexpr int64_t kTile = 16;
    for (int64_t r0 = 0; r0 < k; r0 += kTile) {
      for (int64_t j0 = 0; j0 < n; j0 += kTile) {
        for (int64_t r = r0; r < std::min(k, r0 + kTile); ++r) {
          for (int64_t j = j0; j < std::min(n, j0 + kTile); ++j) bt[j * k + r] = b[r * n + j];
        }
      }
    }
    ParallelFor(m, k * n, [&](int64_t begin, int64_t end) {
      GemmAvx2(a + begin * n, n, 1, bt.get(), k, c + begin * k, k, end - begin, k, n, false);
    });
    return;
  }
  MapC bm(b, k, n);
  ParallelFor(m, k * n, [&](int64_t begin, int64_t end) {
    MapC am(a + begin * n, end - begin, n);
    Map cm(c + begin * k, end - begin, k);
    cm.noalias() = am * bm.transpose();
  });
}

}  // namespace mlcore::cpu
