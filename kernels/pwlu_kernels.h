// Copyright actlab authors.
//
// The PWLU micro-kernels: one list (PwluKernels()) that drives dispatch, the
// tests and the benchmarks. A kernel evaluates ONE unit over a contiguous run
// of elements; the driver (pwlu.cc) handles layouts, threads and parameter
// gradients. Adding a kernel is one entry in the list plus its file.
//
// Kernels see a unit through precomputed tables with one entry per region
// r in [0, N + 1]: r = 0 for x < B_L, r = N + 1 for x >= B_R, r = i + 1 for
// interval i otherwise. Only the tables of the requested pass are built:
// every call with params that differ from the calling thread's previous
// ones builds them (pwlu.cc keeps the last).
//
// Forward comes in two forms; PwluKernel::forward_tables says which tables a
// kernel reads. The base-point form (register-table kernels) is described
// at PwluUnitTable::base_scale.
//
// Forward (lerp tables, gather kernels): one FMA gives ts = x * t_scale +
// t_offset, which is t + 1 (t as in pwlu.h) times 2^-m, with m chosen so
// t_scale is in [0.5, 1) and ts cannot overflow for finite x. Then
//   r = clamp(floor(ts * t_unscale), 0, N + 1)
//   f = lerp_y[r] + lerp_d[r] * (ts - r * t_rescale)
// in every region, tails included (lerp_y[0] = Y[0] - K_L d). Inside an
// interval this is Y[i] + u (Y[i+1] - Y[i]), which stays accurate near
// y = 0, unlike S * x + O. ts is first clamped to [t_low, t_high], finite
// only for flat tails, so a zero slope times an infinite distance counts as
// 0: a flat tail gives its value at +-inf. NaN stays NaN.
//
// Backward (slope tables; register-table kernels take only k and compute
// v = t - i, see PwluPass::kBackwardSlopes): regions are classified exactly (x
// == B_L is interior, x == B_R the right tail, i = clamp(floor((x - B_L) *
// scale), 0, N - 1); the register-table kernels skip the clamp, so an x just
// below B_R whose t rounds up to N counts as right tail with v = 0), dx =
// k[r] * dy, and v = (x - p[r]) * s[r] + c[r] is u inside an interval (p and
// c compensate the float rounding of the breakpoints) and x - B on the
// tails. Kernels write dx (NaN where x is NaN) and ADD, per
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

// kForward builds the lerp tables, kForwardBase the base-point tables (the
// kernel's PwluKernel::forward_tables says which), kBackward the slope
// tables p, k, s, c, kBackwardSlopes only k (for kernels that derive u from
// t; PwluKernel::backward_tables).
enum class PwluPass { kForward, kForwardBase, kBackward, kBackwardSlopes };

// Tables of one unit: a view of the scalars and tables PwluTables built for
// one pass, read through the accessors of that pass (the others' are
// meaningless). Each table holds N + 2 entries followed by zero padding up to
// stride, so register-table kernels may load whole vectors. The view is
// small and built per kernel call: the struct of named fields it replaced
// was zeroed with a `rep stos` at every call, ~16 ns against ~90 ns of
// forward work for a 1024-element channel.
struct PwluUnitTable {
  int intervals;
  int stride;
  PwluPass pass;
  // Outputs may go out with non-temporal stores: the driver sets this for
  // tensors much larger than the caches, where it saves reading every
  // output line before writing it. Kernels may ignore it.
  bool stream_stores;
  const float* scalars;
  const float* tables;  // [table][stride]

  // Forward (lerp tables, kForward).
  float t_scale() const { return scalars[0]; }
  float t_offset() const { return scalars[1]; }
  float t_unscale() const { return scalars[2]; }  // 2^m
  float t_rescale() const { return scalars[3]; }  // 2^-m
  float t_low() const { return scalars[4]; }
  float t_high() const { return scalars[5]; }
  const float* lerp_y() const { return tables; }
  const float* lerp_d() const { return tables + stride; }  // scaled by 2^m

  // Forward (base-point tables, kForwardBase): with
  //   t = x * base_scale + base_offset  (= (x - B_L) / d + 1),
  //   r = floor(clamp(t, 0, N + 1)),
  //   f = base_y[r] + base_k[r] * (x - base_p[r])
  // base_p is B_L, the float breakpoints, B_R; base_y the exact value at
  // base_p rounded once; base_k the slope (K_L, k_i, K_R). x - base_p is
  // exact near base_p (Sterbenz), so f keeps full relative accuracy near
  // y = 0, and a misclassified element (t rounded across a breakpoint) is
  // off only by the slope difference times its tiny distance. x is first
  // clamped to [x_low, x_high], finite only for flat tails, so a zero slope
  // never multiplies an infinity.
  float base_scale() const { return scalars[0]; }
  float base_offset() const { return scalars[1]; }
  float x_low() const { return scalars[2]; }
  float x_high() const { return scalars[3]; }
  const float* base_p() const { return tables; }
  const float* base_y() const { return tables + stride; }
  const float* base_k() const { return tables + 2 * stride; }

  // Backward (kBackward; kBackwardSlopes has the scalars and k only).
  float left_bound() const { return scalars[0]; }
  float right_bound() const { return scalars[1]; }
  float scale() const { return scalars[2]; }  // N / (B_R - B_L)
  const float* k() const {
    return pass == PwluPass::kBackwardSlopes ? tables : tables + stride;
  }
  const float* p() const { return tables; }
  const float* s() const { return tables + 2 * stride; }
  const float* c() const { return tables + 3 * stride; }
};

// Entries per table: N + 2 rounded up to a multiple of 16, at least 32, and
// 64 when N + 2 is in (31, 64] (four-register tables load 64).
int PwluTableStride(int intervals);

// The tables of one pass for every unit of a validated PwluParams, laid out
// unit by unit (scalars, then the tables), each unit 64-byte aligned. Reset
// sizes them for a params and pass, reusing the storage of earlier calls;
// Build fills a range of units, so workers that own whole channels build
// their own units in parallel, and until a range is built its units'
// entries are undefined.
class PwluTables {
 public:
  PwluTables() = default;
  PwluTables(const PwluTables&) = delete;
  PwluTables& operator=(const PwluTables&) = delete;

  void Reset(const PwluParams& params, PwluPass pass);
  // Units [first, end) of the params given to Reset.
  void Build(const PwluParams& params, int64_t first, int64_t end);
  // Frees the storage; Reset must come before the next Build.
  void Release();
  // Floats of storage held.
  int64_t capacity() const { return static_cast<int64_t>(storage_.capacity()); }

  PwluUnitTable unit(int64_t u) const {
    const float* block = data_ + u * unit_floats_;
    return {intervals_,     stride_, pass_,
            stream_stores_, block,   block + kScalarBlock};
  }
  void set_stream_stores(bool stream) { stream_stores_ = stream; }

 private:
  // Scalars take one 16-float block ahead of a unit's tables, which keeps
  // every unit 64-byte aligned and units of different workers on
  // different cache lines.
  static constexpr int kScalarBlock = 16;
  PwluPass pass_ = PwluPass::kForward;
  bool stream_stores_ = false;
  int intervals_ = 0;
  int stride_ = 0;
  int tables_ = 0;
  int64_t unit_floats_ = 0;
  float* data_ = nullptr;  // storage_ rounded up to 64 bytes
  std::vector<float> storage_;
};

using PwluForwardFn = void (*)(const PwluUnitTable& table, const float* x,
                               float* y, int64_t n);
using PwluBackwardFn = void (*)(const PwluUnitTable& table, const float* x,
                                const float* dy, float* dx, int64_t n,
                                double* sums);

// One unit's run for a two-unit backward: the same as PwluBackwardFn's
// arguments.
struct PwluBackwardRun {
  PwluUnitTable table;
  const float* x;
  const float* dy;
  float* dx;
  double* sums;
};

// Backward of two units (same N) over runs of n elements each, with the
// results of two PwluBackwardFn calls up to the order of the float sums.
using PwluBackwardTwoFn = void (*)(const PwluBackwardRun& a,
                                   const PwluBackwardRun& b, int64_t n);

enum class PwluIsa { kScalar, kAvx2, kAvx512 };

struct PwluKernel {
  const char* name;
  PwluIsa isa;
  int max_intervals;  // small for register-table kernels
  PwluForwardFn forward;
  PwluBackwardFn backward;
  // Which tables `forward` reads: kForward (lerp) or kForwardBase.
  PwluPass forward_tables = PwluPass::kForward;
  // Which tables `backward` reads: kBackward or kBackwardSlopes.
  PwluPass backward_tables = PwluPass::kBackward;
  // Optional (the driver calls backward twice without it): for kernels
  // whose per-run costs (histogram clears and folds) are worth sharing
  // between two channels.
  PwluBackwardTwoFn backward_two = nullptr;
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

// Entries 1..N of the base-point tables (PwluPass::kForwardBase) of one
// unit: the portable builder's formulas in pwlu_kernels.cc, 8 doubles at a
// time (AVX-512; pwlu_avx512.cc).
void PwluBuildBaseTablesAvx512(int intervals, double left, double step,
                               double scale, const float* values, float* bp,
                               float* by, float* bk);

// dst[j * dst_stride + i] = src[i * src_stride + j] for i, j < 16 (AVX-512;
// the driver's NHWC staging).
void PwluTranspose16x16Avx512(const float* src, int64_t src_stride, float* dst,
                              int64_t dst_stride);

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
void PwluBackwardTwoAvx512RegTable(const PwluBackwardRun& a,
                                   const PwluBackwardRun& b, int64_t n);
void PwluForwardAvx512RegTable64(const PwluUnitTable& table, const float* x,
                                 float* y, int64_t n);
void PwluBackwardAvx512RegTable64(const PwluUnitTable& table, const float* x,
                                  const float* dy, float* dx, int64_t n,
                                  double* sums);
void PwluForwardAvx512Gather(const PwluUnitTable& table, const float* x,
                             float* y, int64_t n);
void PwluBackwardAvx512Gather(const PwluUnitTable& table, const float* x,
                              const float* dy, float* dx, int64_t n,
                              double* sums);

}  // namespace actlab

#endif  // ACTLAB_KERNELS_PWLU_KERNELS_H_
