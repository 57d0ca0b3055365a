// Copyright actlab authors.
//
// Portable PWLU kernel, written for clarity: the fallback on CPUs without
// AVX2 and the float oracle the SIMD kernels are tested against. It
// accumulates gradient sums directly in double.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/pwlu_kernels.h"

namespace actlab {
namespace {

// The exact classification of the definition (backward tables).
int Region(const PwluUnitTable& t, float x) {
  if (x < t.left_bound()) return 0;
  if (x >= t.right_bound()) return t.intervals + 1;
  if (std::isnan(x)) return 1;  // Any region: the arithmetic keeps NaN.
  const int i = static_cast<int>((x - t.left_bound()) * t.scale());
  return std::clamp(i, 0, t.intervals - 1) + 1;
}

// The lerp form of pwlu_kernels.h (forward tables).
float Evaluate(const PwluUnitTable& t, float x) {
  if (std::isnan(x)) return x;
  // Bounded only for flat tails, where f no longer depends on x.
  const float ts =
      std::clamp(x * t.t_scale() + t.t_offset(), t.t_low(), t.t_high());
  const float index =
      std::clamp(ts * t.t_unscale(), 0.0f, static_cast<float>(t.intervals + 1));
  const int r = static_cast<int>(index);
  const float u = ts - static_cast<float>(r) * t.t_rescale();
  return t.lerp_y()[r] + t.lerp_d()[r] * u;
}

}  // namespace

void PwluForwardScalar(const PwluUnitTable& table, const float* x, float* y,
                       int64_t n) {
  for (int64_t e = 0; e < n; ++e) {
    y[e] = Evaluate(table, x[e]);
  }
}

void PwluBackwardScalar(const PwluUnitTable& table, const float* x,
                        const float* dy, float* dx, int64_t n, double* sums) {
  for (int64_t e = 0; e < n; ++e) {
    const float xe = x[e];
    const float g = dy[e];
    const int r = Region(table, xe);
    if (std::isfinite(xe)) {
      const float v = (xe - table.p()[r]) * table.s()[r] + table.c()[r];
      sums[2 * r] += g;
      sums[2 * r + 1] += static_cast<double>(g) * v;
    }
    dx[e] = std::isnan(xe) ? xe : table.k()[r] * g;
  }
}

}  // namespace actlab
