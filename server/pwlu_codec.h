// Copyright actlab authors.
//
// Converts PWLU parameters between the wire form (actlab.v1.PwluParameters)
// and the kernels' PwluParams.

#ifndef ACTLAB_SERVER_PWLU_CODEC_H_
#define ACTLAB_SERVER_PWLU_CODEC_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/pwlu.h"

namespace actlab {

// Decodes and fully validates `proto` (ValidatePwluParams plus the
// granularity rule: LAYER has exactly one unit). Errors are InvalidArgument
// prefixed with `field`, e.g. "pwlu.left_bound: ...".
absl::StatusOr<PwluParams> DecodePwluParams(const v1::PwluParameters& proto,
                                            absl::string_view field);

// Copies without validation: for parameters the server wrote itself.
PwluParams PwluParamsFromProto(const v1::PwluParameters& proto);

// Writes `params` into `proto` with the given granularity.
void EncodePwluParams(const PwluParams& params, v1::Granularity granularity,
                      v1::PwluParameters* proto);

}  // namespace actlab

#endif  // ACTLAB_SERVER_PWLU_CODEC_H_
