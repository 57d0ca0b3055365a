// Copyright actlab authors.
//
// The computation of a server-side Fit (actlab.v1.FitRequest): validates the
// request against a unit, draws batches, and runs PwluMse plus one optimizer
// step per step on a private copy of the unit's parameters. No locks and no
// store: SessionManager decides when results are committed.
//
// Batches: each step draws batch_size points per channel, a [batch, C]
// tensor (C = 1 for a layer-wise unit) whose channel c comes from c's
// domain:
//   range: uniform on [min, max] for every channel;
//   observed_distribution: normal N(mu_c, sigma_c) of the unit's statistics;
//   default: uniform on channel c's [B_L, B_R] when the Fit starts (kept for
//     the whole Fit, also when the boundaries are trained).
// Sample targets use the samples: all of them every step when there are at
// most batch_size rows, else batch_size rows drawn uniformly with
// replacement; [S] samples are shared by every channel.
//
// Reproducibility: std::mt19937_64 seeded with the request's seed, turned
// into uniforms and normals by fixed formulas rather than
// std::*_distribution (whose algorithms differ between standard
// libraries). The same seed, settings and starting parameters give a
// bit-identical Fit on one build and thread count.
//
// Evaluation: activation targets on kFitGridPoints points per channel over
// its domain (mu +- 3 sigma for the observed distribution), sample targets
// over every sample.

#ifndef ACTLAB_SERVER_SESSION_TRAINER_H_
#define ACTLAB_SERVER_SESSION_TRAINER_H_

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/baseline.h"
#include "kernels/channel_layout.h"
#include "kernels/optimizer.h"
#include "kernels/pwlu.h"

namespace actlab {

inline constexpr int64_t kDefaultFitSteps = 1000;
inline constexpr int64_t kMaxFitSteps = 1000000;
inline constexpr int kDefaultFitBatchSize = 256;
inline constexpr int kMaxFitBatchSize = 65536;
inline constexpr int kDefaultProgressIntervalMs = 200;
inline constexpr int kMinProgressIntervalMs = 20;
// Bounds batch_size * channels, and the samples of a SampleTarget after
// sharing [S] samples out to every channel: 16 MB of floats each.
inline constexpr int64_t kMaxFitElements = int64_t{1} << 22;
inline constexpr int kFitGridPoints = 4096;

struct FitErrors {
  double mse = 0;  // mean squared error over the evaluation points
  double max_abs = 0;
  double rms = 0;
  v1::Range range;  // spans every channel's evaluation range
};

class FitTrainer {
 public:
  // Validates `request` for `unit` (its phase is the caller's business):
  // InvalidArgument naming the field, FailedPrecondition for an observed
  // distribution of a unit without batches. Trainable groups the request
  // leaves unset are taken from `unit_trainable` (every field set).
  // `engine` must outlive the trainer.
  static absl::StatusOr<std::unique_ptr<FitTrainer>> Create(
      const v1::FitRequest& request, const v1::Unit& unit,
      const v1::TrainableParameters& unit_trainable, BaselineEngine* engine);

  // The request with every default filled in and sample tensors dropped:
  // what Run.fit records.
  const v1::FitRequest& settings() const { return settings_; }
  int64_t steps_done() const { return steps_done_; }
  const PwluParams& params() const { return params_; }

  // One step on a fresh batch; returns the batch's loss before the update.
  // Fails (changing nothing) when the update would be non-finite.
  absl::StatusOr<double> Step();

  // Errors of the current parameters against the target.
  absl::StatusOr<FitErrors> Evaluate();

 private:
  explicit FitTrainer(BaselineEngine* engine) : engine_(engine) {}

  absl::Status SetTarget(const v1::FitRequest& request, const v1::Unit& unit);
  absl::Status SetSamples(const v1::SampleTarget& samples);
  absl::Status FillBatch();
  double Uniform();
  double Normal();

  BaselineEngine* const engine_;
  v1::FitRequest settings_;
  OptimizerConfig optimizer_;
  TrainableGroups groups_;
  double min_width_ = 0;
  int64_t channels_ = 1;
  PwluParams params_;
  OptimizerState state_;
  int64_t steps_done_ = 0;
  std::mt19937_64 rng_;

  // Activation targets: the activation and per-channel domains.
  bool has_activation_ = false;
  ResolvedActivation activation_;
  bool normal_ = false;                // else uniform on [low_, high_)
  std::vector<double> low_, high_;     // uniform bounds, or the grid's
  std::vector<double> mean_, stddev_;  // normal

  // Sample targets, [rows, channels].
  int64_t sample_rows_ = 0;
  std::vector<float> sample_x_, sample_y_;
  v1::Range sample_range_;

  // The current batch, [rows, channels].
  ChannelLayout layout_;
  std::vector<float> x_, target_;
  PwluParams grad_;
  std::vector<float> scratch_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_TRAINER_H_
