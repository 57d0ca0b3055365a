// Copyright actlab authors.
//
// Phase II settings and records shared by TrainStep and Fit: optimizer
// settings (defaults, merging, validation), trainable groups, the persisted
// optimizer state, gradient norms and the bounded loss history of a run.
//
// Settings travel as actlab.v1 messages with every field set once merged,
// so what a unit stores and what a run records is explicit, not "default".

#ifndef ACTLAB_SERVER_SESSION_TRAINING_SETTINGS_H_
#define ACTLAB_SERVER_SESSION_TRAINING_SETTINGS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/optimizer.h"
#include "kernels/pwlu.h"
#include "server/session/unit_record.pb.h"

namespace actlab {

// A unit's optimizer before its first TrainStep changes it.
inline constexpr double kDefaultTrainLearningRate = 1e-3;
// A Fit's optimizer: Adam at this rate unless the request says otherwise.
inline constexpr double kDefaultFitLearningRate = 1e-2;

// Longest loss history a run keeps. When full, every other point is dropped
// and from then on only every second offered loss is kept (the stride
// doubles), so the history always spans the whole run at an even spacing.
// A TrainStep rewrites its run's row, so this also bounds that write
// (~100 KB).
inline constexpr int kMaxHistoryPoints = 4096;

// Adam with PyTorch's defaults at `learning_rate`, every field set.
v1::OptimizerSettings DefaultOptimizerSettings(double learning_rate);

// `base` (every field set) with the fields `request` sets; KIND_UNSPECIFIED
// keeps base's kind. Every field is range-checked whatever the kind, so a bad
// value cannot lie dormant until a later switch of kind. InvalidArgument
// prefixed with `field`, e.g. "optimizer.learning_rate: -1 is outside
// (0, inf)".
absl::StatusOr<v1::OptimizerSettings> MergeOptimizerSettings(
    const v1::OptimizerSettings& base, const v1::OptimizerSettings& request,
    absl::string_view field);

OptimizerConfig ToOptimizerConfig(const v1::OptimizerSettings& settings);

// Values and slopes trained, boundaries not; every field set.
v1::TrainableParameters DefaultTrainable();

// `base` (every field set) with the fields `request` sets.
v1::TrainableParameters MergeTrainable(const v1::TrainableParameters& base,
                                       const v1::TrainableParameters& request);

TrainableGroups ToTrainableGroups(const v1::TrainableParameters& trainable);

// The unit's stored training state, or the defaults when it has none.
session::TrainingState UnitTraining(const session::UnitRecord& record);

OptimizerState OptimizerStateFromProto(const session::OptimizerState& proto);
void OptimizerStateToProto(const OptimizerState& state,
                           session::OptimizerState* proto);

// L2 norms of the gradient by group, and over every parameter.
v1::GradientNorms ComputeGradientNorms(const PwluParams& grad);

// Offers one loss to the run's history, which keeps it when the stride says
// so (see kMaxHistoryPoints). `step` counts steps within the run.
void OfferHistoryPoint(int64_t step, double loss, double elapsed_seconds,
                       session::RunRecord* run);

// "run-000001": sequence numbers are per session and increase by one, so
// ids read in order; past 999999 they simply grow longer.
std::string RunId(int64_t sequence);

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_TRAINING_SETTINGS_H_
