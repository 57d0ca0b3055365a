// Copyright actlab authors.
//
// PWLU parameters that start a unit as a baseline activation ("the initial
// shape") on given boundaries: Y[j] = act(p_j) at the breakpoints
// p_j = B_L + j (B_R - B_L) / N, and K_L, K_R = act'(B_L), act'(B_R), all
// computed by the exact baseline kernels (BaselineEngine, dy = 1 for the
// slopes). Used at creation on [-init_bound, init_bound] and again when
// phase II realigns the boundaries.

#ifndef ACTLAB_SERVER_SESSION_INITIAL_SHAPE_H_
#define ACTLAB_SERVER_SESSION_INITIAL_SHAPE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "kernels/baseline.h"
#include "kernels/pwlu.h"

namespace actlab {

// One unit per entry of `left`/`right` (same length, left[u] < right[u]).
// The result is checked with ValidatePwluParams: a shape that overflows at
// the boundaries (exp at 1e30, say) is InvalidArgument.
absl::StatusOr<PwluParams> InitialShapeParams(BaselineEngine& engine,
                                              const ResolvedActivation& shape,
                                              int intervals,
                                              std::vector<float> left,
                                              std::vector<float> right);

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_INITIAL_SHAPE_H_
