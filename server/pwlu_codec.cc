// Copyright actlab authors.

#include "server/pwlu_codec.h"

#include "absl/strings/str_cat.h"

namespace actlab {

PwluParams PwluParamsFromProto(const v1::PwluParameters& proto) {
  PwluParams params;
  params.intervals = proto.intervals();
  params.left_bound.assign(proto.left_bound().begin(),
                           proto.left_bound().end());
  params.right_bound.assign(proto.right_bound().begin(),
                            proto.right_bound().end());
  params.values.assign(proto.values().begin(), proto.values().end());
  params.left_slope.assign(proto.left_slope().begin(),
                           proto.left_slope().end());
  params.right_slope.assign(proto.right_slope().begin(),
                            proto.right_slope().end());
  return params;
}

absl::StatusOr<PwluParams> DecodePwluParams(const v1::PwluParameters& proto,
                                            absl::string_view field) {
  PwluParams params = PwluParamsFromProto(proto);
  if (absl::Status status = ValidatePwluParams(params); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", status.message()));
  }
  if (proto.granularity() != v1::CHANNEL && params.units() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".granularity: a layer-wise PWLU has exactly one unit, got ",
        params.units(), "; set granularity CHANNEL for one unit per channel"));
  }
  return params;
}

void EncodePwluParams(const PwluParams& params, v1::Granularity granularity,
                      v1::PwluParameters* proto) {
  proto->set_intervals(params.intervals);
  proto->set_granularity(granularity);
  proto->mutable_left_bound()->Assign(params.left_bound.begin(),
                                      params.left_bound.end());
  proto->mutable_right_bound()->Assign(params.right_bound.begin(),
                                       params.right_bound.end());
  proto->mutable_values()->Assign(params.values.begin(), params.values.end());
  proto->mutable_left_slope()->Assign(params.left_slope.begin(),
                                      params.left_slope.end());
  proto->mutable_right_slope()->Assign(params.right_slope.begin(),
                                       params.right_slope.end());
}

}  // namespace actlab
