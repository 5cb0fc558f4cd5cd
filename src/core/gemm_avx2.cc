// Register-blocked 6x16 micro-kernel: 12 accumulators of 8 floats, one broadcast of A and two
// loads of B per step of k. Column strips of 16 are the outer loop so that a strip of B (k cache
// lines) stays in L1 while every block of 6 rows of A streams past it. Edges use masked loads
// and stores, so any m, n, k works without padding copies.
#include "core/gemm_avx2.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mlcore::cpu {

#if defined(__x86_64__)

bool HasAvx2Fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;

template <int MR, bool kFull>
__attribute__((target("avx2,fma"))) void Micro(const float* a, int64_t ars, int64_t acs,
                                               const float* b, int64_t ldb, float* c, int64_t ldc,
                                               int64_t k, int nr, bool accumulate) {
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
  __m256i m0 = _mm256_set1_epi32(-1), m1 = m0;
  if (!kFull) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
    m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
  }
  for (int64_t p = 0; p < k; ++p) {
    const float* bp = b + p * ldb;
    const __m256 b0 = kFull ? _mm256_loadu_ps(bp) : _mm256_maskload_ps(bp, m0);
    const __m256 b1 = kFull ? _mm256_loadu_ps(bp + 8) : _mm256_maskload_ps(bp + 8, m1);
    const float* ap = a + p * acs;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(ap + r * ars);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    if (kFull) {
      if (accumulate) {
        c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(cr));
        c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(cr + 8));
      }
      _mm256_storeu_ps(cr, c0[r]);
      _mm256_storeu_ps(cr + 8, c1[r]);
    } else {
      if (accumulate) {
        c0[r] = _mm256_add_ps(c0[r], _mm256_maskload_ps(cr, m0));
        c1[r] = _mm256_add_ps(c1[r], _mm256_maskload_ps(cr + 8, m1));
      }
      _mm256_maskstore_ps(cr, m0, c0[r]);
      _mm256_maskstore_ps(cr + 8, m1, c1[r]);
    }
  }
}

template <bool kFull>
void MicroAnyRows(int mr, const float* a, int64_t ars, int64_t acs, const float* b, int64_t ldb,
                  float* c, int64_t ldc, int64_t k, int nr, bool accumulate) {
  switch (mr) {
    case 6:
      return Micro<6, kFull>(a, ars, acs, b, ldb, c, ldc, k, nr, accumulate);
    case 5:
      return Micro<5, kFull>(a, ars, acs, b, ldb, c, ldc, k, nr, accumulate);
    case 4:
      return Micro<4, kFull>(a, ars, acs, b, ldb, c, ldc, k, nr, accumulate);
    case 3:
      return Micro<3, kFull>(a, ars, acs, b, ldb, c, ldc, k, nr, accumulate);
    case 2:
      return Micro<2, kFull>(a, ars, acs, b, ldb, c, ldc, k, nr, accumulate);
    default:
      return Micro<1, kFull>(a, ars, acs, b, ldb, c, ldc, k, nr, accumulate);
  }
}

}  // namespace

void GemmAvx2(const float* a, int64_t ars, int64_t acs, const float* b, int64_t ldb, float* c,
              int64_t ldc, int64_t m, int64_t n, int64_t k, bool accumulate) {
  for (int64_t j = 0; j < n; j += kNr) {
    const int nr = static_cast<int>(n - j < kNr ? n - j : kNr);
    for (int64_t i = 0; i < m; i += kMr) {
      const int mr = static_cast<int>(m - i < kMr ? m - i : kMr);
      if (nr == kNr) {
        MicroAnyRows<true>(mr, a + i * ars, ars, acs, b + j, ldb, c + i * ldc + j, ldc, k, nr,
                           accumulate);
      } else {
        MicroAnyRows<false>(mr, a + i * ars, ars, acs, b + j, ldb, c + i * ldc + j, ldc, k, nr,
                            accumulate);
      }
    }
  }
}

#else

bool HasAvx2Fma() { return false; }
void GemmAvx2(const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, int64_t,
              int64_t, int64_t, bool) {}

#endif

}  // namespace mlcore::cpu
