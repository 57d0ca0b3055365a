// Copyright actlab authors.
//
// First-order optimizers for PWLU parameters, with PyTorch's update rules so
// results carry over: SGD with momentum (torch.optim.SGD, dampening 0) and
// Adam (torch.optim.Adam, L2 weight decay added to the gradient, not AdamW).
// State is plain data so a caller can persist it between steps.

#ifndef ACTLAB_KERNELS_OPTIMIZER_H_
#define ACTLAB_KERNELS_OPTIMIZER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/pwlu.h"

namespace actlab {

enum class OptimizerKind { kSgd, kAdam };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdam;
  double learning_rate = 1e-3;
  double momentum = 0.0;      // SGD only, [0, 1)
  double beta1 = 0.9;         // Adam only, [0, 1)
  double beta2 = 0.999;       // Adam only, [0, 1)
  double epsilon = 1e-8;      // Adam only, > 0
  double weight_decay = 0.0;  // L2 on the trained parameters, >= 0
};

// Which parameter groups a step updates. Boundaries are off by default: they
// move every breakpoint of the unit at once.
struct TrainableGroups {
  bool values = true;       // Y[0..N]
  bool slopes = true;       // K_L, K_R
  bool boundaries = false;  // B_L, B_R
};

// Per-parameter moments in the flat order of PwluFlatIndex.
struct OptimizerState {
  int64_t step = 0;
  std::vector<double> first_moment;   // SGD momentum buffer / Adam m
  std::vector<double> second_moment;  // Adam v
};

// InvalidArgument naming the field when a setting is out of range.
absl::Status ValidateOptimizerConfig(const OptimizerConfig& config);

// Applies one update of `grad` to `params` and advances `state`. Parameters
// are updated in double and rounded once to float, so plain SGD changes each
// parameter by exactly -learning_rate * grad (up to that rounding).
//
// Afterwards every unit keeps B_R - B_L >= min_width: a step that would
// squeeze (or cross) the boundaries re-centres them on their midpoint at
// min_width apart. A step that would make any parameter non-finite is
// refused with FailedPrecondition and changes nothing.
absl::Status ApplyOptimizerStep(const OptimizerConfig& config,
                                const TrainableGroups& groups, double min_width,
                                const PwluParams& grad, PwluParams* params,
                                OptimizerState* state);

// Number of scalars in `params`, the length of the state vectors.
int64_t PwluParameterCount(const PwluParams& params);

}  // namespace actlab

#endif  // ACTLAB_KERNELS_OPTIMIZER_H_
