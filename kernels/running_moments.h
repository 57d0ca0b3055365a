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

}  // namespace actlab

#endif  // ACTLAB_KERNELS_RUNNING_MOMENTS_H_
