// Copyright actlab authors.
//
// The PWLU micro-kernels: one list (PwluKernels()) that drives dispatch, the
// tests and the benchmarks. A kernel evaluates ONE unit over a contiguous run
// of elements; the driver (pwlu.cc) handles layouts, threads and parameter
// gradients. Adding a kernel is one entry in the list plus its file.
//
// Kernels see a unit through precomputed tables with one entry per region
// r in [0, N + 1]: r = 0 for x < B_L, r = N + 1 for x >= B_R, r = i + 1 for
// interval i otherwise. Only the tables of the requested pass are built,
// because building them is part of every call.
//
// Forward (lerp tables): one FMA gives ts = x * t_scale + t_offset, which is
// t + 1 (t as in pwlu.h) times 2^-m, with m chosen so t_scale is in
// [0.5, 1) and ts cannot overflow for finite x. Then
//   r = clamp(floor(ts * t_unscale), 0, N + 1)
//   f = lerp_y[r] + lerp_d[r] * (ts - r * t_rescale)
// in every region, tails included (lerp_y[0] = Y[0] - K_L d). Inside an
// interval this is Y[i] + u (Y[i+1] - Y[i]), which stays accurate near
// y = 0, unlike S * x + O. ts is first clamped to [t_low, t_high], finite
// only for flat tails, so a zero slope times an infinite distance counts as
// 0: a flat tail gives its value at +-inf. NaN stays NaN.
//
// Backward (slope tables): regions are classified exactly (x == B_L is
// interior, x == B_R the right tail, i = clamp(floor((x - B_L) * scale), 0,
// N - 1)), dx = k[r] * dy, and v = (x - p[r]) * s[r] + c[r] is u inside an
// interval (p and c compensate the float rounding of the breakpoints) and
// x - B on the tails. Kernels write dx (NaN where x is NaN) and ADD, per
// region, sums[2r] += sum(dy) and sums[2r+1] += sum(dy * v) over elements
// whose x is finite (NaN and +-inf contribute no parameter gradient). They
// accumulate in float over bounded chunks folded into double, in a fixed
// order, so results are bit-for-bit reproducible.

#ifndef ACTLAB_KERNELS_PWLU_KERNELS_H_
#define ACTLAB_KERNELS_PWLU_KERNELS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/channel_layout.h"
#include "kernels/pwlu.h"

namespace actlab {

enum class PwluPass { kForward, kBackward };

// Tables of one unit. Each table holds N + 2 entries followed by zero padding
// up to PwluTableStride(N), so register-table kernels may load whole vectors.
struct PwluUnitTable {
  int intervals = 0;
  // Outputs may go out with non-temporal stores: the driver sets this for
  // tensors much larger than the caches, where it saves reading every
  // output line before writing it. Kernels may ignore it.
  bool stream_stores = false;

  // Forward.
  float t_scale = 0;
  float t_offset = 0;
  float t_unscale = 0;  // 2^m
  float t_rescale = 0;  // 2^-m
  float t_low = 0;
  float t_high = 0;
  const float* lerp_y = nullptr;
  const float* lerp_d = nullptr;  // scaled by 2^m

  // Backward.
  float left_bound = 0;
  float right_bound = 0;
  float scale = 0;  // N / (B_R - B_L)
  const float* p = nullptr;
  const float* k = nullptr;
  const float* s = nullptr;
  const float* c = nullptr;
};

// Entries per table: N + 2 rounded up to a multiple of 16, at least 32.
int PwluTableStride(int intervals);

// Owns the tables of one pass for units [first, end) of a validated
// PwluParams; unit(u) takes u in that range.
class PwluTables {
 public:
  PwluTables(const PwluParams& params, PwluPass pass, int64_t first,
             int64_t end);

  PwluUnitTable unit(int64_t u) const;
  void set_stream_stores(bool stream) { stream_stores_ = stream; }

 private:
  static constexpr int kScalars = 6;
  PwluPass pass_;
  bool stream_stores_ = false;
  int intervals_;
  int stride_;
  int tables_;
  int64_t first_;
  std::vector<float> scalars_;  // [unit][kScalars]
  std::vector<float> data_;     // [unit][table][stride]
};

using PwluForwardFn = void (*)(const PwluUnitTable& table, const float* x,
                               float* y, int64_t n);
using PwluBackwardFn = void (*)(const PwluUnitTable& table, const float* x,
                                const float* dy, float* dx, int64_t n,
                                double* sums);

enum class PwluIsa { kScalar, kAvx2, kAvx512 };

struct PwluKernel {
  const char* name;
  PwluIsa isa;
  int max_intervals;  // small for register-table kernels
  PwluForwardFn forward;
  PwluBackwardFn backward;
};

// Every kernel built into the library, fastest first. Dispatch picks the
// first one the CPU supports for the requested N.
const std::vector<PwluKernel>& PwluKernels();

// True when this CPU can run kernels of `isa` (__builtin_cpu_supports).
bool PwluIsaSupported(PwluIsa isa);

// The kernel the entry points of pwlu.h use for `intervals` on this CPU.
const PwluKernel& PwluSelectKernel(int intervals);

// PwluForward / PwluBackward with a given kernel (for tests and benchmarks).
// FailedPrecondition if the CPU cannot run it, InvalidArgument if it does not
// support params.intervals or the request itself is invalid.
absl::Status PwluForwardWithKernel(const PwluKernel& kernel,
                                   const PwluParams& params,
                                   const ChannelLayout& layout, const float* x,
                                   float* y);
absl::Status PwluBackwardWithKernel(const PwluKernel& kernel,
                                    const PwluParams& params,
                                    const ChannelLayout& layout, const float* x,
                                    const float* dy, float* dx,
                                    PwluParams* grad);

// Kernel functions, defined in pwlu_scalar.cc, pwlu_avx2.cc, pwlu_avx512.cc.
void PwluForwardScalar(const PwluUnitTable& table, const float* x, float* y,
                       int64_t n);
void PwluBackwardScalar(const PwluUnitTable& table, const float* x,
                        const float* dy, float* dx, int64_t n, double* sums);
void PwluForwardAvx2Gather(const PwluUnitTable& table, const float* x, float* y,
                           int64_t n);
void PwluBackwardAvx2Gather(const PwluUnitTable& table, const float* x,
                            const float* dy, float* dx, int64_t n,
                            double* sums);
void PwluForwardAvx512RegTable(const PwluUnitTable& table, const float* x,
                               float* y, int64_t n);
void PwluBackwardAvx512RegTable(const PwluUnitTable& table, const float* x,
                                const float* dy, float* dx, int64_t n,
                                double* sums);
void PwluForwardAvx512Gather(const PwluUnitTable& table, const float* x,
                             float* y, int64_t n);
void PwluBackwardAvx512Gather(const PwluUnitTable& table, const float* x,
                              const float* dy, float* dx, int64_t n,
                              double* sums);

}  // namespace actlab

#endif  // ACTLAB_KERNELS_PWLU_KERNELS_H_
