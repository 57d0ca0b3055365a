// Copyright actlab authors.

#include "server/session/unit_config.h"

#include <cmath>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/pwlu.h"

namespace actlab {
namespace {

constexpr int kDefaultIntervals = 16;
constexpr double kDefaultMomentum = 0.9;
constexpr double kDefaultSigmaMultiplier = 3.0;
constexpr char kDefaultInitActivation[] = "relu";
constexpr double kDefaultInitBound = 3.0;
constexpr double kDefaultMinWidth = 1e-3;

absl::Status Invalid(absl::string_view field, absl::string_view member,
                     absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ".", member, ": ", reason));
}

absl::Status CheckPositive(absl::string_view field, absl::string_view member,
                           double value) {
  if (std::isfinite(value) && value > 0) return absl::OkStatus();
  return Invalid(field, member, absl::StrCat(value, " must be finite and > 0"));
}

}  // namespace

absl::Status ValidateUnitName(absl::string_view name, absl::string_view field) {
  bool printable = !name.empty() && name.size() <= kMaxUnitNameLength;
  for (char c : name) printable = printable && c >= 0x20 && c <= 0x7e;
  if (printable) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": a unit name is 1 to ", kMaxUnitNameLength,
                   " printable ASCII characters"));
}

absl::StatusOr<ValidatedUnitConfig> ValidateUnitConfig(
    const v1::UnitConfig& in, absl::string_view field,
    const BaselineEngine& engine) {
  ValidatedUnitConfig out;
  v1::UnitConfig& c = out.config;
  c = in;
  absl::Status s = ValidateUnitName(c.name(), absl::StrCat(field, ".name"));
  if (!s.ok()) return s;

  if (!c.has_intervals()) c.set_intervals(kDefaultIntervals);
  if (c.intervals() < kPwluMinIntervals || c.intervals() > kPwluMaxIntervals) {
    return Invalid(
        field, "intervals",
        absl::StrCat(c.intervals(), " is outside [", kPwluMinIntervals, ", ",
                     kPwluMaxIntervals, "]"));
  }

  switch (c.granularity()) {
    case v1::GRANULARITY_UNSPECIFIED:
    case v1::LAYER:
      c.set_granularity(v1::LAYER);
      c.set_channels(1);
      c.clear_channel_axis();
      break;
    case v1::CHANNEL:
      if (c.channels() < 1 || c.channels() > kMaxChannels) {
        return Invalid(
            field, "channels",
            absl::StrCat(c.channels(), " is outside [1, ", kMaxChannels,
                         "]; CHANNEL granularity needs the "
                         "channel count"));
      }
      break;
    default:
      return Invalid(field, "granularity",
                     absl::StrCat(c.granularity(), " is not a granularity"));
  }
  const int64_t values = int64_t{c.intervals() + 1} * c.channels();
  if (values > kMaxUnitValues) {
    return Invalid(field, "channels",
                   absl::StrCat(c.channels(), " channels of ", c.intervals(),
                                " intervals need ", values,
                                " values; the limit is ", kMaxUnitValues));
  }

  if (!c.has_momentum()) c.set_momentum(kDefaultMomentum);
  if (!(c.momentum() > 0 && c.momentum() < 1)) {
    return Invalid(field, "momentum",
                   absl::StrCat(c.momentum(), " is outside (0, 1)"));
  }
  if (!c.has_sigma_multiplier()) {
    c.set_sigma_multiplier(kDefaultSigmaMultiplier);
  }
  s = CheckPositive(field, "sigma_multiplier", c.sigma_multiplier());
  if (!s.ok()) return s;
  if (!c.has_init_bound()) c.set_init_bound(kDefaultInitBound);
  s = CheckPositive(field, "init_bound", c.init_bound());
  if (!s.ok()) return s;
  if (!c.has_min_width()) c.set_min_width(kDefaultMinWidth);
  s = CheckPositive(field, "min_width", c.min_width());
  if (!s.ok()) return s;

  if (c.init_activation().empty()) {
    c.set_init_activation(kDefaultInitActivation);
  }
  const std::map<std::string, double> params(c.init_params().begin(),
                                             c.init_params().end());
  absl::StatusOr<ResolvedActivation> shape =
      engine.Resolve(c.init_activation(), params);
  if (!shape.ok()) {
    return Invalid(field, "init_activation", shape.status().message());
  }
  if (shape->info->per_channel) {
    return Invalid(field, "init_activation",
                   absl::StrCat(shape->info->name,
                                " takes per-channel slopes and cannot be an "
                                "initial shape"));
  }
  if (!shape->info->has_backward) {
    return Invalid(field, "init_activation",
                   absl::StrCat(shape->info->name,
                                " has no backward pass, which the tail "
                                "slopes need"));
  }
  c.set_init_activation(shape->info->name);
  c.mutable_init_params()->clear();
  for (const auto& [name, value] : shape->params) {
    (*c.mutable_init_params())[name] = value;
  }
  out.shape = *std::move(shape);
  return out;
}

}  // namespace actlab
