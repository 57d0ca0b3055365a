// Copyright actlab authors.
//
// The two-phase statistic-based realignment of the PWLU paper
// (../shared/docs/pwlu.md section 4), on the unit's RunningStats.
//
// Phase I folds each batch's per-unit mean and population std (never the
// variance) into the running values with momentum m:
//   mu = m * mu + (1 - m) * mean,  sigma = m * sigma + (1 - m) * std.
// The first batch sets mu and sigma directly: folding it into zeros would
// bias a short phase I toward zero and shrink the fitted interval.
//
// Phase II sets B_L = mu - k sigma and B_R = mu + k sigma per unit,
// evaluated in double and rounded to float once. When that width is below
// min_width (sigma ~ 0), the interval becomes [mu - min_width / 2,
// mu + min_width / 2] instead; should float rounding still merge the two
// ends (|mu| huge against min_width), B_R is moved up to the next float.

#ifndef ACTLAB_SERVER_SESSION_REALIGNMENT_H_
#define ACTLAB_SERVER_SESSION_REALIGNMENT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/running_moments.h"

namespace actlab {

// Folds one batch into `stats` (whose mean/std are empty before the first
// batch, else sized like the batch) and counts it.
void FoldBatch(const BatchMoments& batch, double momentum,
               v1::RunningStats* stats);

struct FittedBounds {
  std::vector<float> left;
  std::vector<float> right;
};

// The phase II boundaries for `stats` (at least one batch). Fails with
// FailedPrecondition when a bound falls outside the float range.
absl::StatusOr<FittedBounds> FitBounds(const v1::RunningStats& stats,
                                       double sigma_multiplier,
                                       double min_width);

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_REALIGNMENT_H_
