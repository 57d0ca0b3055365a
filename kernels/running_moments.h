// Copyright actlab authors.
//
// Per-unit batch moments for PWLU phase I statistics: the mean and the
// population standard deviation (ddof = 0, as the paper folds the batch std
// of the tensor it sees, not an estimate of a larger population) of each
// unit's elements, accumulated in double. Layer-wise: one unit over every
// element; channel-wise: one unit per channel of the layout.

#ifndef ACTLAB_KERNELS_RUNNING_MOMENTS_H_
#define ACTLAB_KERNELS_RUNNING_MOMENTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/channel_layout.h"

namespace actlab {

struct BatchMoments {
  std::vector<double> mean;  // [units]
  std::vector<double> std;   // [units], population std (ddof = 0)
};

// OK when every x[0..n) is finite; otherwise InvalidArgument naming the
// first offending flat index and its value, e.g. "element 12 is nan".
absl::Status CheckFinite(const float* x, int64_t n);

// Moments of the layout.size() elements at x: one unit when !per_channel,
// else layout.channels units. Fails with CheckFinite's error when any
// element is NaN or infinite, and with InvalidArgument when a unit would
// cover no element.
absl::StatusOr<BatchMoments> ComputeBatchMoments(const ChannelLayout& layout,
                                                 bool per_channel,
                                                 const float* x);

// Per-unit count, mean and M2 (sum of squared deviations from the mean) of
// a batch that arrives in parts, in double. Each part gets the two-pass
// moments ComputeBatchMoments uses, and parts merge by Chan et al.'s
// parallel formula, so the result equals the one-piece moments up to
// floating-point summation order. O(units) memory.
class MomentAccumulator {
 public:
  // Adds the layout.size() elements at x, as ComputeBatchMoments takes
  // them. Every part must give each unit the same count (whole rows of a
  // channel-wise layout) and the same number of units. Fails like
  // CheckFinite on a non-finite element, changing nothing.
  absl::Status Add(const ChannelLayout& layout, bool per_channel,
                   const float* x);

  // The moments of everything added; InvalidArgument when that is nothing.
  absl::StatusOr<BatchMoments> Moments() const;

 private:
  int64_t count_ = 0;  // per unit
  std::vector<double> mean_;
  std::vector<double> m2_;
};

}  // namespace actlab

#endif  // ACTLAB_KERNELS_RUNNING_MOMENTS_H_
