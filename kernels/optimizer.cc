// Copyright actlab authors.

#include "kernels/optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace actlab {
namespace {

// Visits every parameter with its gradient in one fixed flat order: values,
// left_slope, right_slope, left_bound, right_bound. The order is part of the
// persisted optimizer state.
template <typename Fn>
void ForEachParameter(const TrainableGroups& groups, const PwluParams& grad,
                      PwluParams* params, Fn&& fn) {
  int64_t index = 0;
  auto visit = [&](bool trained, const std::vector<float>& g,
                   std::vector<float>& p) {
    for (size_t i = 0; i < p.size(); ++i, ++index) {
      if (trained) fn(index, g[i], p[i]);
    }
  };
  visit(groups.values, grad.values, params->values);
  visit(groups.slopes, grad.left_slope, params->left_slope);
  visit(groups.slopes, grad.right_slope, params->right_slope);
  visit(groups.boundaries, grad.left_bound, params->left_bound);
  visit(groups.boundaries, grad.right_bound, params->right_bound);
}

absl::Status CheckRange(const char* field, double value, double low,
                        bool low_open, double high, bool high_open) {
  const bool ok = std::isfinite(value) &&
                  (low_open ? value > low : value >= low) &&
                  (high_open ? value < high : value <= high);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", value, " is outside ", low_open ? "(" : "[",
                   low, ", ", high, high_open ? ")" : "]"));
}

}  // namespace

absl::Status ValidateOptimizerConfig(const OptimizerConfig& config) {
  const double inf = INFINITY;
  absl::Status status =
      CheckRange("learning_rate", config.learning_rate, 0, true, inf, true);
  if (status.ok()) {
    status =
        CheckRange("weight_decay", config.weight_decay, 0, false, inf, true);
  }
  if (status.ok() && config.kind == OptimizerKind::kSgd) {
    status = CheckRange("momentum", config.momentum, 0, false, 1, true);
  }
  if (status.ok() && config.kind == OptimizerKind::kAdam) {
    status = CheckRange("beta1", config.beta1, 0, false, 1, true);
    if (status.ok())
      status = CheckRange("beta2", config.beta2, 0, false, 1, true);
    if (status.ok()) {
      status = CheckRange("epsilon", config.epsilon, 0, true, inf, true);
    }
  }
  return status;
}

int64_t PwluParameterCount(const PwluParams& params) {
  return static_cast<int64_t>(params.values.size()) + 4 * params.units();
}

absl::Status ApplyOptimizerStep(const OptimizerConfig& config,
                                const TrainableGroups& groups, double min_width,
                                const PwluParams& grad, PwluParams* params,
                                OptimizerState* state) {
  if (absl::Status status = ValidateOptimizerConfig(config); !status.ok()) {
    return status;
  }
  const int64_t count = PwluParameterCount(*params);
  if (PwluParameterCount(grad) != count ||
      grad.values.size() != params->values.size()) {
    return absl::InvalidArgumentError(
        "gradient and parameters differ in shape");
  }

  // Work on copies so a refused step leaves the caller's state untouched.
  PwluParams next = *params;
  OptimizerState next_state = *state;
  next_state.first_moment.resize(count, 0.0);
  next_state.second_moment.resize(
      config.kind == OptimizerKind::kAdam ? count : 0, 0.0);
  next_state.step += 1;
  const double t = static_cast<double>(next_state.step);
  const double bias1 = 1.0 - std::pow(config.beta1, t);
  const double bias2 = 1.0 - std::pow(config.beta2, t);

  bool finite = true;
  ForEachParameter(groups, grad, &next, [&](int64_t i, float g_in, float& p) {
    double g = static_cast<double>(g_in) +
               config.weight_decay * static_cast<double>(p);
    double update = 0;
    if (config.kind == OptimizerKind::kSgd) {
      double& buffer = next_state.first_moment[i];
      if (config.momentum > 0) {
        // torch.optim.SGD starts the buffer at the first gradient.
        buffer = next_state.step == 1 ? g : config.momentum * buffer + g;
        g = buffer;
      }
      update = config.learning_rate * g;
    } else {
      double& m = next_state.first_moment[i];
      double& v = next_state.second_moment[i];
      m = config.beta1 * m + (1 - config.beta1) * g;
      v = config.beta2 * v + (1 - config.beta2) * g * g;
      update = config.learning_rate * (m / bias1) /
               (std::sqrt(v / bias2) + config.epsilon);
    }
    p = static_cast<float>(static_cast<double>(p) - update);
    finite = finite && std::isfinite(p);
  });
  if (!finite) {
    return absl::FailedPreconditionError(
        "the step would make a parameter non-finite; lower the learning rate");
  }

  for (int64_t u = 0; u < next.units(); ++u) {
    float& left = next.left_bound[u];
    float& right = next.right_bound[u];
    if (static_cast<double>(right) - left < min_width) {
      const double mid = 0.5 * (static_cast<double>(left) + right);
      left = static_cast<float>(mid - 0.5 * min_width);
      right = static_cast<float>(mid + 0.5 * min_width);
    }
  }
  *params = std::move(next);
  *state = std::move(next_state);
  return absl::OkStatus();
}

}  // namespace actlab
