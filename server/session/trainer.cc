// Copyright actlab authors.

#include "server/session/trainer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/pwlu_mse.h"
#include "kernels/running_moments.h"
#include "server/pwlu_codec.h"
#include "server/session/training_settings.h"
#include "server/tensor_codec.h"

namespace actlab {
namespace {

// Channels evaluated at once on the grid: bounds the evaluation buffers to
// kMaxFitElements whatever the unit's channel count.
constexpr int64_t kGridChannelsAtOnce = kMaxFitElements / kFitGridPoints;

absl::Status OutsideRange(absl::string_view field, int64_t value, int64_t low,
                          int64_t high) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", value, " is outside [", low, ", ", high, "]"));
}

// Units [begin, end) of `all`.
PwluParams SliceUnits(const PwluParams& all, int64_t begin, int64_t end) {
  PwluParams out;
  out.intervals = all.intervals;
  out.left_bound.assign(all.left_bound.begin() + begin,
                        all.left_bound.begin() + end);
  out.right_bound.assign(all.right_bound.begin() + begin,
                         all.right_bound.begin() + end);
  out.left_slope.assign(all.left_slope.begin() + begin,
                        all.left_slope.begin() + end);
  out.right_slope.assign(all.right_slope.begin() + begin,
                         all.right_slope.begin() + end);
  out.values.assign(all.unit_values(begin), all.unit_values(end));
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FitTrainer>> FitTrainer::Create(
    const v1::FitRequest& request, const v1::Unit& unit,
    const v1::TrainableParameters& unit_trainable, BaselineEngine* engine) {
  std::unique_ptr<FitTrainer> t(new FitTrainer(engine));
  v1::FitRequest& s = t->settings_;
  s = request;
  const int64_t steps = s.steps() == 0 ? kDefaultFitSteps : s.steps();
  if (steps < 1 || steps > kMaxFitSteps) {
    return OutsideRange("steps", steps, 1, kMaxFitSteps);
  }
  s.set_steps(steps);
  const int batch = s.batch_size() == 0 ? kDefaultFitBatchSize : s.batch_size();
  if (batch < 1 || batch > kMaxFitBatchSize) {
    return OutsideRange("batch_size", batch, 1, kMaxFitBatchSize);
  }
  s.set_batch_size(batch);
  const int interval = s.progress_interval_ms() == 0
                           ? kDefaultProgressIntervalMs
                           : s.progress_interval_ms();
  if (interval < kMinProgressIntervalMs) {
    return OutsideRange("progress_interval_ms", interval,
                        kMinProgressIntervalMs, INT32_MAX);
  }
  s.set_progress_interval_ms(interval);
  absl::StatusOr<v1::OptimizerSettings> optimizer =
      MergeOptimizerSettings(DefaultOptimizerSettings(kDefaultFitLearningRate),
                             s.optimizer(), "optimizer");
  if (!optimizer.ok()) return optimizer.status();
  *s.mutable_optimizer() = *std::move(optimizer);
  *s.mutable_trainable() = MergeTrainable(unit_trainable, s.trainable());

  t->optimizer_ = ToOptimizerConfig(s.optimizer());
  t->groups_ = ToTrainableGroups(s.trainable());
  t->min_width_ = unit.config().min_width();
  t->channels_ = unit.parameters().left_bound_size();
  t->params_ = PwluParamsFromProto(unit.parameters());
  t->rng_.seed(s.seed());
  if (absl::Status status = t->SetTarget(request, unit); !status.ok()) {
    return status;
  }
  if (s.has_samples()) s.mutable_samples()->Clear();
  return t;
}

absl::Status FitTrainer::SetTarget(const v1::FitRequest& request,
                                   const v1::Unit& unit) {
  const int64_t batch = settings_.batch_size();
  if (request.has_samples()) {
    if (request.domain_case() != v1::FitRequest::DOMAIN_NOT_SET) {
      return absl::InvalidArgumentError(
          "range/observed_distribution: a domain applies to activation "
          "targets; samples are fitted where they lie");
    }
    return SetSamples(request.samples());
  }
  if (!request.has_activation()) {
    return absl::InvalidArgumentError(
        "target: set an activation or samples to fit");
  }
  const v1::ActivationTarget& target = request.activation();
  const std::map<std::string, double> params(target.params().begin(),
                                             target.params().end());
  absl::StatusOr<ResolvedActivation> resolved =
      engine_->Resolve(target.name(), params);
  if (!resolved.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("activation: ", resolved.status().message()));
  }
  if (resolved->info->per_channel) {
    return absl::InvalidArgumentError(absl::StrCat(
        "activation.name: ", resolved->info->name,
        " takes per-channel parameters and cannot be a Fit target"));
  }
  if (batch * channels_ > kMaxFitElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch_size: ", batch, " points for each of ", channels_,
        " channels exceed the limit of ", kMaxFitElements, " per batch"));
  }
  has_activation_ = true;
  activation_ = *std::move(resolved);

  if (request.has_range()) {
    const v1::Range& range = request.range();
    if (!std::isfinite(range.min()) || !std::isfinite(range.max()) ||
        !(range.min() < range.max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("range: [", range.min(), ", ", range.max(),
                       "] is not a finite range with min < max"));
    }
    low_.assign(channels_, range.min());
    high_.assign(channels_, range.max());
  } else if (request.observed_distribution()) {
    const v1::RunningStats& stats = unit.stats();
    if (stats.batches() == 0) {
      return absl::FailedPreconditionError(
          "observed_distribution: the unit has no observed batches; fit "
          "over a range instead");
    }
    normal_ = true;
    mean_.assign(stats.mean().begin(), stats.mean().end());
    stddev_.assign(stats.std().begin(), stats.std().end());
    for (int64_t c = 0; c < channels_; ++c) {
      low_.push_back(mean_[c] - 3 * stddev_[c]);
      high_.push_back(mean_[c] + 3 * stddev_[c]);
    }
  } else {
    low_.assign(params_.left_bound.begin(), params_.left_bound.end());
    high_.assign(params_.right_bound.begin(), params_.right_bound.end());
  }
  layout_ = {batch, channels_, 1};
  x_.resize(layout_.size());
  target_.resize(layout_.size());
  return absl::OkStatus();
}

absl::Status FitTrainer::SetSamples(const v1::SampleTarget& samples) {
  absl::StatusOr<TensorView> x =
      DecodeTensor(samples.x(), "samples.x", kMaxFitElements);
  if (!x.ok()) return x.status();
  absl::StatusOr<TensorView> y =
      DecodeTensor(samples.y(), "samples.y", kMaxFitElements);
  if (!y.ok()) return y.status();
  if (x->shape != y->shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("samples.y: shape ", ShapeString(y->shape),
                     " differs from samples.x's ", ShapeString(x->shape)));
  }
  const bool shared = x->shape.size() == 1;
  if (!(shared || (x->shape.size() == 2 && x->shape[1] == channels_)) ||
      x->elements == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("samples.x: shape ", ShapeString(x->shape),
                     " is not [S] or [S, ", channels_, "] with S >= 1"));
  }
  for (const auto& [view, field] :
       {std::pair{&*x, "samples.x"}, std::pair{&*y, "samples.y"}}) {
    absl::Status status = CheckFinite(view->data, view->elements);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", status.message()));
    }
  }
  sample_rows_ = x->shape[0];
  if (sample_rows_ * channels_ > kMaxFitElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "samples.x: ", sample_rows_, " samples for each of ", channels_,
        " channels exceed the limit of ", kMaxFitElements));
  }
  sample_x_.resize(sample_rows_ * channels_);
  sample_y_.resize(sample_rows_ * channels_);
  for (int64_t i = 0; i < sample_rows_ * channels_; ++i) {
    const int64_t from = shared ? i / channels_ : i;
    sample_x_[i] = x->data[from];
    sample_y_[i] = y->data[from];
  }
  const auto [lo, hi] = std::minmax_element(sample_x_.begin(), sample_x_.end());
  sample_range_.set_min(*lo);
  sample_range_.set_max(*hi);

  const int64_t rows = std::min<int64_t>(sample_rows_, settings_.batch_size());
  layout_ = {rows, channels_, 1};
  if (rows == sample_rows_) {
    // Every sample, every step: the batch never changes.
    x_ = sample_x_;
    target_ = sample_y_;
  } else {
    x_.resize(layout_.size());
    target_.resize(layout_.size());
  }
  return absl::OkStatus();
}

double FitTrainer::Uniform() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // [0, 1)
}

double FitTrainer::Normal() {
  // Box-Muller; 1 - Uniform() is in (0, 1], so the log is finite.
  const double radius = std::sqrt(-2 * std::log(1 - Uniform()));
  return radius * std::cos(2 * M_PI * Uniform());
}

absl::Status FitTrainer::FillBatch() {
  const int64_t rows = layout_.outer;
  if (!has_activation_) {
    if (rows == sample_rows_) return absl::OkStatus();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t from =
          static_cast<int64_t>(rng_() % static_cast<uint64_t>(sample_rows_));
      std::copy_n(sample_x_.begin() + from * channels_, channels_,
                  x_.begin() + r * channels_);
      std::copy_n(sample_y_.begin() + from * channels_, channels_,
                  target_.begin() + r * channels_);
    }
    return absl::OkStatus();
  }
  float* x = x_.data();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels_; ++c) {
      *x++ = static_cast<float>(normal_ ? mean_[c] + stddev_[c] * Normal()
                                        : low_[c] +
                                              (high_[c] - low_[c]) * Uniform());
    }
  }
  return engine_->Forward(activation_, {layout_.size()}, x_.data(),
                          target_.data());
}

absl::StatusOr<double> FitTrainer::Step() {
  if (absl::Status status = FillBatch(); !status.ok()) return status;
  absl::StatusOr<MseResult> mse =
      PwluMse(params_, layout_, x_.data(), target_.data(), &grad_, &scratch_);
  if (!mse.ok()) return mse.status();
  absl::Status status = ApplyOptimizerStep(optimizer_, groups_, min_width_,
                                           grad_, &params_, &state_);
  if (!status.ok()) return status;
  ++steps_done_;
  return mse->loss;
}

absl::StatusOr<FitErrors> FitTrainer::Evaluate() {
  FitErrors out;
  if (!has_activation_) {
    absl::StatusOr<MseResult> mse =
        PwluMse(params_, {sample_rows_, channels_, 1}, sample_x_.data(),
                sample_y_.data(), nullptr, &scratch_);
    if (!mse.ok()) return mse.status();
    out.mse = mse->loss;
    out.max_abs = mse->max_abs_error;
    out.rms = std::sqrt(out.mse);
    out.range = sample_range_;
    return out;
  }
  // Channel-major [channels, points] chunks: unit c sees its own grid.
  std::vector<float> x, y;
  double sum = 0;
  for (int64_t begin = 0; begin < channels_; begin += kGridChannelsAtOnce) {
    const int64_t end = std::min(channels_, begin + kGridChannelsAtOnce);
    x.resize((end - begin) * kFitGridPoints);
    y.resize(x.size());
    for (int64_t c = begin; c < end; ++c) {
      float* grid = x.data() + (c - begin) * kFitGridPoints;
      for (int i = 0; i < kFitGridPoints; ++i) {
        grid[i] = static_cast<float>(low_[c] + (high_[c] - low_[c]) * i /
                                                   (kFitGridPoints - 1));
      }
      grid[kFitGridPoints - 1] = static_cast<float>(high_[c]);
    }
    absl::Status status = engine_->Forward(
        activation_, {static_cast<int64_t>(x.size())}, x.data(), y.data());
    if (!status.ok()) return status;
    absl::StatusOr<MseResult> mse = PwluMse(
        SliceUnits(params_, begin, end), {1, end - begin, kFitGridPoints},
        x.data(), y.data(), nullptr, &scratch_);
    if (!mse.ok()) return mse.status();
    sum += mse->loss * static_cast<double>(x.size());
    out.max_abs = std::max(out.max_abs, mse->max_abs_error);
  }
  out.mse = sum / static_cast<double>(channels_ * kFitGridPoints);
  out.rms = std::sqrt(out.mse);
  out.range.set_min(*std::min_element(low_.begin(), low_.end()));
  out.range.set_max(*std::max_element(high_.begin(), high_.end()));
  return out;
}

}  // namespace actlab
