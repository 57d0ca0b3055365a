// Copyright actlab authors.
//
// Defaults and validation of a unit's configuration (actlab.v1.UnitConfig).
// The filled-in config is what a unit stores and what GetUnit returns:
//   intervals 16 in [1, 1024]; granularity LAYER (UNSPECIFIED means LAYER);
//   channels: required in [1, kMaxChannels] for CHANNEL, stored as 1 for
//   LAYER; channel_axis: kept as given and left unset by default, meaning
//   DefaultChannelAxis(rank) of each tensor at use time (one unit may see NC
//   and NCHW tensors), cleared for LAYER where it has no meaning;
//   momentum 0.9 in (0, 1); sigma_multiplier 3, > 0; init_activation "relu",
//   stored under its canonical name with every parameter filled in (an alias
//   such as "silu" becomes "swish" with beta = 1); init_bound 3, > 0;
//   fixed_bounds false; min_width 1e-3, > 0. Every real is also finite.

#ifndef ACTLAB_SERVER_SESSION_UNIT_CONFIG_H_
#define ACTLAB_SERVER_SESSION_UNIT_CONFIG_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/baseline.h"

namespace actlab {

inline constexpr int kMaxUnitNameLength = 128;
inline constexpr int kMaxChannels = 65536;
// Bound on (intervals + 1) * channels, so one unit's state stays a few MB.
inline constexpr int64_t kMaxUnitValues = int64_t{1} << 22;

struct ValidatedUnitConfig {
  v1::UnitConfig config;     // every default filled in
  ResolvedActivation shape;  // the resolved init_activation
};

// OK for 1 to kMaxUnitNameLength printable ASCII characters; otherwise
// InvalidArgument prefixed with `field`.
absl::Status ValidateUnitName(absl::string_view name, absl::string_view field);

// Fills defaults into `config` and validates it. Failures are
// InvalidArgument naming the member under `field`, e.g.
// "units[2].momentum: 1.5 is outside (0, 1)". prelu is refused as an initial
// shape (it needs per-channel slopes), as is any activation without a
// backward pass (the tail slopes come from it).
absl::StatusOr<ValidatedUnitConfig> ValidateUnitConfig(
    const v1::UnitConfig& config, absl::string_view field,
    const BaselineEngine& engine);

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_UNIT_CONFIG_H_
