// Copyright actlab authors.
//
// AVX2 + FMA PWLU kernel for any N: table lookups with vgatherdps, backward
// sums through lane-private histograms as in pwlu_avx512.cc. Compiled with
// AVX2 flags (kernels/CMakeLists.txt); only reached after
// PwluIsaSupported(PwluIsa::kAvx2).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/pwlu_kernels.h"

namespace actlab {
namespace {

constexpr int kLanes = 8;
constexpr int kBlock = 256;  // elements staged per backward block
constexpr int64_t kFold = 4096;
constexpr int kMaxRegions = kPwluMaxIntervals + 2;
constexpr int kHistogramFloats = 4 * kMaxRegions * 2;

__m256 Gather(const float* table, __m256i r) {
  return _mm256_i32gather_ps(table, r, 4);
}

__m256i Region(const PwluUnitTable& t, __m256 x) {
  const __m256 left = _mm256_set1_ps(t.left_bound());
  const __m256 t_in =
      _mm256_mul_ps(_mm256_sub_ps(x, left), _mm256_set1_ps(t.scale()));
  // Out-of-range and NaN t convert to INT_MIN; the clamp keeps every index
  // inside the table and the tail compares then override it.
  __m256i i = _mm256_cvttps_epi32(t_in);
  i = _mm256_min_epi32(_mm256_max_epi32(i, _mm256_setzero_si256()),
                       _mm256_set1_epi32(t.intervals - 1));
  __m256i r = _mm256_add_epi32(i, _mm256_set1_epi32(1));
  const __m256i below = _mm256_castps_si256(_mm256_cmp_ps(x, left, _CMP_LT_OQ));
  const __m256i above = _mm256_castps_si256(
      _mm256_cmp_ps(x, _mm256_set1_ps(t.right_bound()), _CMP_GE_OQ));
  r = _mm256_andnot_si256(below, r);
  return _mm256_blendv_epi8(r, _mm256_set1_epi32(t.intervals + 1), above);
}

// The lerp form of pwlu_kernels.h. max / min return their second operand
// for NaN: NaN stays in ts but becomes region 0 in the index.
__m256 Evaluate(const PwluUnitTable& t, __m256 x) {
  __m256 ts = _mm256_fmadd_ps(x, _mm256_set1_ps(t.t_scale()),
                              _mm256_set1_ps(t.t_offset()));
  ts = _mm256_min_ps(_mm256_set1_ps(t.t_high()),
                     _mm256_max_ps(_mm256_set1_ps(t.t_low()), ts));
  __m256 index = _mm256_mul_ps(ts, _mm256_set1_ps(t.t_unscale()));
  index = _mm256_min_ps(_mm256_max_ps(index, _mm256_setzero_ps()),
                        _mm256_set1_ps(static_cast<float>(t.intervals + 1)));
  const __m256 rf = _mm256_floor_ps(index);
  const __m256i r = _mm256_cvttps_epi32(rf);
  const __m256 u = _mm256_fmadd_ps(rf, _mm256_set1_ps(-t.t_rescale()), ts);
  return _mm256_fmadd_ps(Gather(t.lerp_d(), r), u, Gather(t.lerp_y(), r));
}

__m256i TailMask(int64_t left) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Stages r, g, g * v of up to 8 elements and writes their dx.
void StageVector(const PwluUnitTable& t, __m256i m, const float* x,
                 const float* dy, float* dx, int32_t* r_out, float* g_out,
                 float* gv_out) {
  const __m256 xv = _mm256_maskload_ps(x, m);
  const __m256 g = _mm256_maskload_ps(dy, m);
  const __m256i r = Region(t, xv);
  const __m256 d = _mm256_sub_ps(xv, Gather(t.p(), r));
  __m256 dxv = _mm256_mul_ps(Gather(t.k(), r), g);
  dxv = _mm256_blendv_ps(dxv, xv, _mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
  _mm256_maskstore_ps(dx, m, dxv);
  const __m256 abs_x = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), xv);
  const __m256 finite =
      _mm256_cmp_ps(abs_x, _mm256_set1_ps(__builtin_inff()), _CMP_LT_OQ);
  const __m256 v = _mm256_fmadd_ps(d, Gather(t.s(), r), Gather(t.c(), r));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(r_out), r);
  _mm256_storeu_ps(g_out, _mm256_and_ps(finite, g));
  _mm256_storeu_ps(gv_out, _mm256_and_ps(finite, _mm256_mul_ps(g, v)));
}

template <int kCopies>
void AddToHistogram(const int32_t* r, const float* g, const float* gv,
                    int count, int regions, float* histogram) {
  for (int e = 0; e < count; ++e) {
    float* h = histogram + ((e % kCopies) * regions + r[e]) * 2;
    h[0] += g[e];
    h[1] += gv[e];
  }
}

// Adds the copies into sums in copy order (deterministic) and clears them.
void FoldHistogram(int copies, int regions, float* histogram, double* sums) {
  const int width = 2 * regions;
  for (int copy = 0; copy < copies; ++copy) {
    const float* h = histogram + copy * width;
    for (int j = 0; j < width; ++j) sums[j] += h[j];
  }
  std::memset(histogram, 0, sizeof(float) * copies * width);
}

template <int kCopies>
void Backward(const PwluUnitTable& t, const float* x, const float* dy,
              float* dx, int64_t n, double* sums) {
  const int regions = t.intervals + 2;
  alignas(32) float histogram[kHistogramFloats];
  alignas(32) int32_t r[kBlock];
  alignas(32) float g[kBlock];
  alignas(32) float gv[kBlock];
  std::memset(histogram, 0, sizeof(float) * kCopies * regions * 2);
  int64_t since_fold = 0;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int count = static_cast<int>(n - begin < kBlock ? n - begin : kBlock);
    for (int e = 0; e < count; e += kLanes) {
      StageVector(t, TailMask(count - e), x + begin + e, dy + begin + e,
                  dx + begin + e, r + e, g + e, gv + e);
    }
    AddToHistogram<kCopies>(r, g, gv, count, regions, histogram);
    since_fold += count;
    if (since_fold >= kFold) {
      FoldHistogram(kCopies, regions, histogram, sums);
      since_fold = 0;
    }
  }
  if (since_fold > 0) FoldHistogram(kCopies, regions, histogram, sums);
}

}  // namespace

void PwluForwardAvx2Gather(const PwluUnitTable& table, const float* x, float* y,
                           int64_t n) {
  int64_t e = 0;
  for (; e + kLanes <= n; e += kLanes) {
    _mm256_storeu_ps(y + e, Evaluate(table, _mm256_loadu_ps(x + e)));
  }
  if (e < n) {
    const __m256i m = TailMask(n - e);
    _mm256_maskstore_ps(y + e, m,
                        Evaluate(table, _mm256_maskload_ps(x + e, m)));
  }
}

void PwluBackwardAvx2Gather(const PwluUnitTable& table, const float* x,
                            const float* dy, float* dx, int64_t n,
                            double* sums) {
  // Eight copies of a large histogram would not fit in L1.
  if (table.intervals + 2 <= 64) {
    Backward<8>(table, x, dy, dx, n, sums);
  } else {
    Backward<4>(table, x, dy, dx, n, sums);
  }
}

}  // namespace actlab
