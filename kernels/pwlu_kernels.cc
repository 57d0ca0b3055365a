// Copyright actlab authors.

#include "kernels/pwlu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace actlab {

int PwluTableStride(int intervals) {
  // Forward kernels read four registers from N = 30 (pwlu_avx512.cc).
  const int regions = intervals + 2;
  if (regions <= 31) return 32;
  if (regions <= 64) return 64;
  return (regions + 15) / 16 * 16;
}

void PwluTables::Reset(const PwluParams& params, PwluPass pass) {
  pass_ = pass;
  intervals_ = params.intervals;
  stride_ = PwluTableStride(params.intervals);
  tables_ = pass == PwluPass::kForward          ? 2
            : pass == PwluPass::kForwardBase    ? 3
            : pass == PwluPass::kBackwardSlopes ? 1
                                                : 4;
  unit_floats_ = kScalarBlock + int64_t{tables_} * stride_;
  // resize keeps the capacity of earlier calls; 16 floats of slack leave
  // room to align the start to 64 bytes.
  storage_.resize(params.units() * unit_floats_ + 16);
  data_ = reinterpret_cast<float*>(
      (reinterpret_cast<uintptr_t>(storage_.data()) + 63) / 64 * 64);
}

void PwluTables::Release() {
  std::vector<float>().swap(storage_);
  data_ = nullptr;
  unit_floats_ = 0;
}

void PwluTables::Build(const PwluParams& params, int64_t first, int64_t end) {
  const PwluPass pass = pass_;
  const int n = intervals_;
  // Only the padding needs zeros; the entries are all written below. Whole
  // 16-float blocks from the one holding entry N + 2 are cleared first
  // (fixed-size copies the compiler inlines; a memset call per table cost
  // as much as the tables).
  static constexpr float kZeros[16] = {};
  const int pad_begin = (n + 2) / 16 * 16;
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
    float* scalars = data_ + u * unit_floats_;
    float* table = scalars + kScalarBlock;
    for (int t = 0; t < tables_; ++t) {
      for (int j = pad_begin; j < stride_; j += 16) {
        std::memcpy(table + t * stride_ + j, kZeros, sizeof(kZeros));
      }
    }
    if (pass == PwluPass::kForwardBase) {
      scalars[0] = static_cast<float>(scale);
      scalars[1] = static_cast<float>(1 - left * scale);
      // Flat tails: any finite x beyond the bound gives the same value. At
      // least two widths out (so t lands clearly in the tail even when d
      // dwarfs |B|) and at most 2^127 (so x - B stays finite).
      const double reach = std::min(
          std::max({std::abs(left), std::abs(right), 1.0, 2 * (right - left)}),
          0x1p127);
      scalars[2] =
          left_slope == 0
              ? static_cast<float>(std::max<double>(left - reach, -kMax))
              : -kInf;
      scalars[3] =
          right_slope == 0
              ? static_cast<float>(std::min<double>(right + reach, kMax))
              : kInf;
      float* bp = table;
      float* by = table + stride_;
      float* bk = table + 2 * stride_;
      bp[0] = params.left_bound[u];
      by[0] = values[0];
      bk[0] = params.left_slope[u];
      if (PwluIsaSupported(PwluIsa::kAvx512)) {
        PwluBuildBaseTablesAvx512(n, left, step, scale, values, bp, by, bk);
      } else {
        for (int i = 0; i < n; ++i) {
          const double anchor = left + i * step;
          const float anchor_f = static_cast<float>(anchor);
          const double slope =
              (static_cast<double>(values[i + 1]) - values[i]) * scale;
          bp[i + 1] = anchor_f;
          by[i + 1] =
              static_cast<float>(values[i] + slope * (anchor_f - anchor));
          bk[i + 1] = static_cast<float>(slope);
        }
      }
      bp[n + 1] = params.right_bound[u];
      by[n + 1] = values[n];
      bk[n + 1] = params.right_slope[u];
      continue;
    }
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
      // double would; and it vectorizes.
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
    if (pass == PwluPass::kBackwardSlopes) {
      float* k = table;
      k[0] = params.left_slope[u];
      for (int i = 0; i < n; ++i) {
        k[i + 1] = static_cast<float>(
            (static_cast<double>(values[i + 1]) - values[i]) * scale);
      }
      k[n + 1] = params.right_slope[u];
      continue;
    }
    float* p = table;
    float* k = p + stride_;
    float* s = k + stride_;
    float* c = s + stride_;
    p[0] = params.left_bound[u];
    k[0] = params.left_slope[u];
    s[0] = 1.0f;
    c[0] = 0.0f;
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
    c[n + 1] = 0.0f;
  }
}

const std::vector<PwluKernel>& PwluKernels() {
  // Register tables hold N + 2 <= 32 regions in two zmm registers, or
  // N + 2 <= 64 in four.
  static const std::vector<PwluKernel>* const kernels =
      new std::vector<PwluKernel>{
          {"avx512_regtable", PwluIsa::kAvx512, 30, PwluForwardAvx512RegTable,
           PwluBackwardAvx512RegTable, PwluPass::kForwardBase,
           PwluPass::kBackwardSlopes, PwluBackwardTwoAvx512RegTable},
          {"avx512_regtable64", PwluIsa::kAvx512, 64,
           PwluForwardAvx512RegTable64, PwluBackwardAvx512RegTable64,
           PwluPass::kForwardBase, PwluPass::kBackwardSlopes},
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
