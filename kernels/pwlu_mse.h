// Copyright actlab authors.
//
// Mean squared error of a PWLU against target values and its gradient with
// respect to every parameter: the building block of fitting a unit to a
// target shape or to samples.

#ifndef ACTLAB_KERNELS_PWLU_MSE_H_
#define ACTLAB_KERNELS_PWLU_MSE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "kernels/channel_layout.h"
#include "kernels/pwlu.h"

namespace actlab {

struct MseResult {
  double loss = 0;           // mean over elements of (f(x) - target)^2
  double max_abs_error = 0;  // max over elements of |f(x) - target|
};

// Evaluates the loss of `params` on (x, target), laid out as for
// PwluForward. When `grad` is not null it receives dloss/dparams. Scratch
// memory is reused across calls through `scratch`.
absl::StatusOr<MseResult> PwluMse(const PwluParams& params,
                                  const ChannelLayout& layout, const float* x,
                                  const float* target, PwluParams* grad,
                                  std::vector<float>* scratch);

}  // namespace actlab

#endif  // ACTLAB_KERNELS_PWLU_MSE_H_
