// Copyright actlab authors.

#include "server/session/training_settings.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace actlab {
namespace {

double SquaredSum(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  return sum;
}

}  // namespace

v1::OptimizerSettings DefaultOptimizerSettings(double learning_rate) {
  const OptimizerConfig defaults;
  v1::OptimizerSettings out;
  out.set_kind(v1::OptimizerSettings::ADAM);
  out.set_learning_rate(learning_rate);
  out.set_momentum(defaults.momentum);
  out.set_beta1(defaults.beta1);
  out.set_beta2(defaults.beta2);
  out.set_epsilon(defaults.epsilon);
  out.set_weight_decay(defaults.weight_decay);
  return out;
}

absl::StatusOr<v1::OptimizerSettings> MergeOptimizerSettings(
    const v1::OptimizerSettings& base, const v1::OptimizerSettings& request,
    absl::string_view field) {
  v1::OptimizerSettings out = base;
  if (request.kind() != v1::OptimizerSettings::KIND_UNSPECIFIED) {
    if (!v1::OptimizerSettings::Kind_IsValid(request.kind())) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".kind: ", request.kind(), " is not SGD or ADAM"));
    }
    out.set_kind(request.kind());
  }
  if (request.has_learning_rate()) {
    out.set_learning_rate(request.learning_rate());
  }
  if (request.has_momentum()) out.set_momentum(request.momentum());
  if (request.has_beta1()) out.set_beta1(request.beta1());
  if (request.has_beta2()) out.set_beta2(request.beta2());
  if (request.has_epsilon()) out.set_epsilon(request.epsilon());
  if (request.has_weight_decay()) out.set_weight_decay(request.weight_decay());

  // ValidateOptimizerConfig checks the fields of one kind; asking it as
  // each kind covers them all.
  OptimizerConfig config = ToOptimizerConfig(out);
  for (OptimizerKind kind : {OptimizerKind::kSgd, OptimizerKind::kAdam}) {
    config.kind = kind;
    absl::Status status = ValidateOptimizerConfig(config);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".", status.message()));
    }
  }
  return out;
}

OptimizerConfig ToOptimizerConfig(const v1::OptimizerSettings& settings) {
  OptimizerConfig config;
  config.kind = settings.kind() == v1::OptimizerSettings::SGD
                    ? OptimizerKind::kSgd
                    : OptimizerKind::kAdam;
  config.learning_rate = settings.learning_rate();
  config.momentum = settings.momentum();
  config.beta1 = settings.beta1();
  config.beta2 = settings.beta2();
  config.epsilon = settings.epsilon();
  config.weight_decay = settings.weight_decay();
  return config;
}

v1::TrainableParameters DefaultTrainable() {
  const TrainableGroups defaults;
  v1::TrainableParameters out;
  out.set_values(defaults.values);
  out.set_slopes(defaults.slopes);
  out.set_boundaries(defaults.boundaries);
  return out;
}

v1::TrainableParameters MergeTrainable(const v1::TrainableParameters& base,
                                       const v1::TrainableParameters& request) {
  v1::TrainableParameters out = base;
  if (request.has_values()) out.set_values(request.values());
  if (request.has_slopes()) out.set_slopes(request.slopes());
  if (request.has_boundaries()) out.set_boundaries(request.boundaries());
  return out;
}

TrainableGroups ToTrainableGroups(const v1::TrainableParameters& trainable) {
  return {trainable.values(), trainable.slopes(), trainable.boundaries()};
}

session::TrainingState UnitTraining(const session::UnitRecord& record) {
  if (record.has_training()) return record.training();
  session::TrainingState out;
  *out.mutable_optimizer() =
      DefaultOptimizerSettings(kDefaultTrainLearningRate);
  *out.mutable_trainable() = DefaultTrainable();
  return out;
}

OptimizerState OptimizerStateFromProto(const session::OptimizerState& proto) {
  OptimizerState state;
  state.step = proto.step();
  state.first_moment.assign(proto.first_moment().begin(),
                            proto.first_moment().end());
  state.second_moment.assign(proto.second_moment().begin(),
                             proto.second_moment().end());
  return state;
}

void OptimizerStateToProto(const OptimizerState& state,
                           session::OptimizerState* proto) {
  proto->set_step(state.step);
  proto->mutable_first_moment()->Assign(state.first_moment.begin(),
                                        state.first_moment.end());
  proto->mutable_second_moment()->Assign(state.second_moment.begin(),
                                         state.second_moment.end());
}

v1::GradientNorms ComputeGradientNorms(const PwluParams& grad) {
  const double values = SquaredSum(grad.values);
  const double slopes =
      SquaredSum(grad.left_slope) + SquaredSum(grad.right_slope);
  const double boundaries =
      SquaredSum(grad.left_bound) + SquaredSum(grad.right_bound);
  v1::GradientNorms out;
  out.set_values(std::sqrt(values));
  out.set_slopes(std::sqrt(slopes));
  out.set_boundaries(std::sqrt(boundaries));
  out.set_total(std::sqrt(values + slopes + boundaries));
  return out;
}

void OfferHistoryPoint(int64_t step, double loss, double elapsed_seconds,
                       session::RunRecord* run) {
  const int64_t stride = std::max<int64_t>(run->history_stride(), 1);
  const int64_t offered = run->losses_offered();
  run->set_losses_offered(offered + 1);
  if (offered % stride != 0) return;
  auto* history = run->mutable_run()->mutable_history();
  if (history->size() >= kMaxHistoryPoints) {
    // Point i holds offer i * stride: keeping the even ones leaves offers
    // at multiples of 2 * stride, the new spacing.
    int kept = 0;
    for (int i = 0; i < history->size(); i += 2) {
      history->SwapElements(kept++, i);
    }
    history->DeleteSubrange(kept, history->size() - kept);
    run->set_history_stride(2 * stride);
    if (offered % (2 * stride) != 0) return;
  } else {
    run->set_history_stride(stride);
  }
  v1::Run::Point* point = history->Add();
  point->set_step(step);
  point->set_loss(loss);
  point->set_elapsed_seconds(elapsed_seconds);
}

std::string RunId(int64_t sequence) {
  return absl::StrFormat("run-%06d", sequence);
}

}  // namespace actlab
