// The CPU matrix products (AVX2 kernel where the CPU has it, Eigen otherwise) against a plain
// triple loop, over sizes that hit every edge of the 6x16 blocking.
#include "core/cpu_math.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace mlcore::cpu {
namespace {

std::vector<float> Random(int64_t n, uint64_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// op(A)[m,k] * op(B)[k,n] by definition, in double.
std::vector<double> Reference(const std::vector<float>& a, const std::vector<float>& b, int64_t m,
                              int64_t n, int64_t k, bool ta, bool tb) {
  std::vector<double> c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p)
        c[i * n + j] +=
            double(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
  return c;
}

void ExpectClose(const std::vector<double>& want, const std::vector<float>& got, int64_t k) {
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * (k + 1)) << i;
}

TEST(CpuMathTest, ProductsMatchTheDefinitionOnEveryEdge) {
  for (auto [m, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 1}, {6, 16, 3}, {7, 17, 5}, {13, 10, 64}, {64, 256, 64}, {5, 33, 300}}) {
    auto a = Random(m * k, 1), b = Random(k * n, 2);
    std::vector<float> c(m * n, 0.5f);
    MatMul(a.data(), b.data(), c.data(), m, k, n);
    ExpectClose(Reference(a, b, m, n, k, false, false), c, k);
    // Accumulating adds to what C held.
    std::vector<float> acc(m * n, 1.0f);
    MatMul(a.data(), b.data(), acc.data(), m, k, n, /*accumulate=*/true);
    auto want = Reference(a, b, m, n, k, false, false);
    for (double& v : want) v += 1.0;
    ExpectClose(want, acc, k);
    // C[k', n] = A[m', k']^T B[m', n] with m' = k rows: reuse a as [k, m].
    std::vector<float> tn(m * n);
    MatMulTN(a.data(), b.data(), tn.data(), k, m, n);  // a viewed as [k, m], b as [k, n]
    ExpectClose(Reference(a, b, m, n, k, true, false), tn, k);
    // C[m, n'] = A[m, k] B[n', k]^T.
    auto bt = Random(n * k, 3);
    std::vector<float> nt(m * n);
    MatMulNT(a.data(), bt.data(), nt.data(), m, k, n);
    ExpectClose(Reference(a, bt, m, n, k, false, true), nt, k);
  }
}

}  // namespace
}  // namespace mlcore::cpu
