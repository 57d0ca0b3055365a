// Copyright actlab authors.
//
// Checks PWLU parameters from outside against a unit's configuration;
// server/pwlu_codec.h does the plain conversions.

#ifndef ACTLAB_SERVER_SESSION_UNIT_PARAMETERS_H_
#define ACTLAB_SERVER_SESSION_UNIT_PARAMETERS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/pwlu.h"

namespace actlab {

// Decodes parameters from outside (an import) and checks them against the
// unit's filled-in `config`: same intervals and granularity, one unit per
// channel, and ValidatePwluParams. Failures are InvalidArgument prefixed
// with `field`.
absl::StatusOr<PwluParams> DecodeUnitParameters(const v1::PwluParameters& proto,
                                                const v1::UnitConfig& config,
                                                absl::string_view field);

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_UNIT_PARAMETERS_H_
