// Copyright actlab authors.

#include "server/session/unit_parameters.h"

#include "absl/strings/str_cat.h"
#include "server/pwlu_codec.h"

namespace actlab {

absl::StatusOr<PwluParams> DecodeUnitParameters(const v1::PwluParameters& proto,
                                                const v1::UnitConfig& config,
                                                absl::string_view field) {
  if (proto.intervals() != config.intervals()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".intervals: ", proto.intervals(),
                     " differs from the config's ", config.intervals()));
  }
  const v1::Granularity granularity =
      proto.granularity() == v1::GRANULARITY_UNSPECIFIED ? v1::LAYER
                                                         : proto.granularity();
  if (granularity != config.granularity()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".granularity: ", v1::Granularity_Name(granularity),
                     " differs from the config's ",
                     v1::Granularity_Name(config.granularity())));
  }
  if (proto.left_bound_size() != config.channels()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".left_bound: ", proto.left_bound_size(),
        " units, but the config has ", config.channels(), " channels"));
  }
  return DecodePwluParams(proto, field);
}

}  // namespace actlab
