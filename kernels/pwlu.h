// Copyright actlab authors.
//
// The Piecewise Linear Unit (PWLU), forward and backward, for one or many
// units (layer-wise: one unit for the tensor; channel-wise: one per channel).
// Definition (../shared/docs/pwlu.md): with d = (B_R - B_L) / N,
//   x <  B_L : f = Y[0] + K_L (x - B_L)
//   x >= B_R : f = Y[N] + K_R (x - B_R)
//   else     : t = (x - B_L) / d, i = clamp(floor(t), 0, N-1), u = t - i,
//              f = (1 - u) Y[i] + u Y[i+1]
// NaN in gives NaN out (for that element only); +-inf follow the tail lines.
//
// Entry points pick the fastest kernel the CPU supports (pwlu_kernels.h) and
// split large tensors over OpenMP threads. Results are bit-for-bit
// reproducible from run to run at a given thread count.
//
// Each calling thread keeps the tables it built for its last params, one
// set per direction and at most ~1 MiB each: calls repeating those params
// bit for bit skip validating them and building the tables, as oneDNN
// reuses a primitive it has created. The entry points are safe to call from
// many threads at once.

#ifndef ACTLAB_KERNELS_PWLU_H_
#define ACTLAB_KERNELS_PWLU_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/channel_layout.h"

namespace actlab {

inline constexpr int kPwluMinIntervals = 1;
inline constexpr int kPwluMaxIntervals = 1024;

// Parameters of units() PWLU units sharing one interval count N. Per-unit
// arrays are indexed by unit; values is unit-major with N + 1 entries a unit.
// The same struct carries gradients (dL/dB_L in left_bound, and so on).
struct PwluParams {
  int intervals = 16;
  std::vector<float> left_bound;   // B_L, [units]
  std::vector<float> right_bound;  // B_R, [units]
  std::vector<float> values;       // Y, [units * (intervals + 1)]
  std::vector<float> left_slope;   // K_L, [units]
  std::vector<float> right_slope;  // K_R, [units]

  int64_t units() const { return static_cast<int64_t>(left_bound.size()); }
  const float* unit_values(int64_t u) const {
    return values.data() + u * (intervals + 1);
  }

  // Zero-filled parameters of the same shape (e.g. for gradients).
  static PwluParams Zeros(int intervals, int64_t units);
};

// OK, or InvalidArgument naming the offending field: N outside
// [kPwluMinIntervals, kPwluMaxIntervals], no units, array lengths that
// disagree, B_L >= B_R, any non-finite value, or values the float kernels
// cannot represent: a slope (K_L, K_R or an interval's) beyond 1e38 in
// magnitude, or N / (B_R - B_L) beyond 2^126.
absl::Status ValidatePwluParams(const PwluParams& params);

// y = f(x) over a tensor laid out as `layout`. With params.units() == 1 every
// element uses unit 0 (layer-wise); otherwise params.units() must equal
// layout.channels and element (o, c, i) uses unit c. x and y may alias.
// Returns InvalidArgument for bad params or a unit/channel mismatch.
absl::Status PwluForward(const PwluParams& params, const ChannelLayout& layout,
                         const float* x, float* y);

// Backward pass: dx = dL/dx and *grad = dL/dparams, each parameter gradient
// summed over every element its unit covers (accumulated in double, then
// rounded to float). *grad is resized to match params. dx may alias dy.
absl::Status PwluBackward(const PwluParams& params, const ChannelLayout& layout,
                          const float* x, const float* dy, float* dx,
                          PwluParams* grad);

// Name of the kernel the entry points dispatch to for `intervals` on this
// CPU, e.g. "avx512_regtable"; for logs and ListActivations.
const char* PwluKernelName(int intervals);

}  // namespace actlab

#endif  // ACTLAB_KERNELS_PWLU_H_
