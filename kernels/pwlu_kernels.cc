// Copyright actlab authors.

#include "kernels/pwlu_kernels.h"

#include <cmath>
#include <limits>

namespace actlab {

int PwluTableStride(int intervals) {
  const int regions = intervals + 2;
  const int rounded = (regions + 15) / 16 * 16;
  return rounded < 32 ? 32 : rounded;
}

PwluTables::PwluTables(const PwluParams& params, PwluPass pass, int64_t first,
                       int64_t end)
    : pass_(pass),
      intervals_(params.intervals),
      stride_(PwluTableStride(params.intervals)),
      tables_(pass == PwluPass::kForward ? 2 : 4),
      first_(first),
      scalars_(kScalars * (end - first)),
      data_(static_cast<size_t>(end - first) * tables_ * stride_, 0.0f) {
  const int n = intervals_;
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kMax = std::numeric_limits<float>::max();
  for (int64_t u = first; u < end; ++u) {
    // In double, rounded once, so each entry is the float nearest to its
    // exact value.
    const double left = params.left_bound[u];
    const double right = params.right_bound[u];
    const double left_slope = params.left_slope[u];
    const double right_slope = params.right_slope[u];
    const double step = (right - left) / n;
    const double scale = n / (right - left);
    const float* values = params.unit_values(u);
    float* scalars = scalars_.data() + (u - first) * kScalars;
    float* table = data_.data() + (u - first) * tables_ * stride_;
    if (pass == PwluPass::kForward) {
      // 2^m with scale * 2^-m in [0.5, 1); validation keeps m <= 127.
      // frexp gives scale = f * 2^m with f in [0.5, 1), and scale / f is
      // exactly 2^m.
      int m;
      const double unscale = scale / std::frexp(scale, &m);
      scalars[0] = static_cast<float>(scale / unscale);
      scalars[1] = static_cast<float>((1 - left * scale) / unscale);
      scalars[2] = static_cast<float>(unscale);
      scalars[3] = static_cast<float>(1 / unscale);
      scalars[4] = left_slope == 0 ? -kMax : -kInf;
      scalars[5] = right_slope == 0 ? kMax : kInf;
      float* lerp_y = table;
      float* lerp_d = table + stride_;
      lerp_y[0] = static_cast<float>(values[0] - left_slope * step);
      lerp_d[0] = static_cast<float>(left_slope * step * unscale);
      // Scaling by 2^m is exact, so float arithmetic rounds once, like
      // double would; it vectorizes, and tables are built on every call.
      const float unscale_f = static_cast<float>(unscale);
      for (int i = 0; i < n; ++i) {
        lerp_y[i + 1] = values[i];
        lerp_d[i + 1] = (values[i + 1] - values[i]) * unscale_f;
      }
      lerp_y[n + 1] = values[n];
      lerp_d[n + 1] = static_cast<float>(right_slope * step * unscale);
      continue;
    }
    scalars[0] = params.left_bound[u];
    scalars[1] = params.right_bound[u];
    scalars[2] = static_cast<float>(scale);
    float* p = table;
    float* k = p + stride_;
    float* s = k + stride_;
    float* c = s + stride_;
    p[0] = params.left_bound[u];
    k[0] = params.left_slope[u];
    s[0] = 1.0f;
    for (int i = 0; i < n; ++i) {
      const double anchor = left + i * step;
      const float anchor_f = static_cast<float>(anchor);
      p[i + 1] = anchor_f;
      k[i + 1] = static_cast<float>(
          (static_cast<double>(values[i + 1]) - values[i]) * scale);
      s[i + 1] = static_cast<float>(scale);
      // (x - anchor_f) * s + c is u = (x - p_i) / d exactly in real
      // arithmetic although p_i is rounded to float.
      c[i + 1] = static_cast<float>((anchor_f - anchor) * scale);
    }
    p[n + 1] = params.right_bound[u];
    k[n + 1] = params.right_slope[u];
    s[n + 1] = 1.0f;
  }
}

PwluUnitTable PwluTables::unit(int64_t u) const {
  const float* scalars = scalars_.data() + (u - first_) * kScalars;
  const float* table = data_.data() + (u - first_) * tables_ * stride_;
  PwluUnitTable t;
  t.intervals = intervals_;
  t.stream_stores = stream_stores_;
  if (pass_ == PwluPass::kForward) {
    t.t_scale = scalars[0];
    t.t_offset = scalars[1];
    t.t_unscale = scalars[2];
    t.t_rescale = scalars[3];
    t.t_low = scalars[4];
    t.t_high = scalars[5];
    t.lerp_y = table;
    t.lerp_d = table + stride_;
  } else {
    t.left_bound = scalars[0];
    t.right_bound = scalars[1];
    t.scale = scalars[2];
    t.p = table;
    t.k = t.p + stride_;
    t.s = t.k + stride_;
    t.c = t.s + stride_;
  }
  return t;
}

const std::vector<PwluKernel>& PwluKernels() {
  // Register tables hold N + 2 <= 32 regions in two zmm registers.
  static const std::vector<PwluKernel>* const kernels =
      new std::vector<PwluKernel>{
          {"avx512_regtable", PwluIsa::kAvx512, 30, PwluForwardAvx512RegTable,
           PwluBackwardAvx512RegTable},
          {"avx512_gather", PwluIsa::kAvx512, kPwluMaxIntervals,
           PwluForwardAvx512Gather, PwluBackwardAvx512Gather},
          {"avx2_gather", PwluIsa::kAvx2, kPwluMaxIntervals,
           PwluForwardAvx2Gather, PwluBackwardAvx2Gather},
          {"scalar", PwluIsa::kScalar, kPwluMaxIntervals, PwluForwardScalar,
           PwluBackwardScalar},
      };
  return *kernels;
}

bool PwluIsaSupported(PwluIsa isa) {
  switch (isa) {
    case PwluIsa::kScalar:
      return true;
    case PwluIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case PwluIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("fma");
  }
  return false;
}

const PwluKernel& PwluSelectKernel(int intervals) {
  for (const PwluKernel& kernel : PwluKernels()) {
    if (intervals <= kernel.max_intervals && PwluIsaSupported(kernel.isa)) {
      return kernel;
    }
  }
  // The scalar kernel supports every valid N on every CPU; out-of-range N
  // lands here and is rejected by validation.
  return PwluKernels().back();
}

}  // namespace actlab
