// Copyright actlab authors.
//
// Converts between the wire Tensor (actlab.v1.Tensor: dtype, shape, raw
// little-endian bytes) and the float views the kernels take, without copying
// the payload on the way in.

#ifndef ACTLAB_SERVER_TENSOR_CODEC_H_
#define ACTLAB_SERVER_TENSOR_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "actlab/v1/actlab.pb.h"

namespace actlab {

// A validated FLOAT32 tensor that borrows the message's bytes: valid only
// while the message it came from is alive and unchanged.
struct TensorView {
  std::vector<int64_t> shape;
  const float* data = nullptr;
  int64_t elements = 0;
};

// Checks dtype (FLOAT32 only), every dimension >= 0, the element count not
// overflowing, at most `max_elements` elements, and data length ==
// elements * 4. Every failure is InvalidArgument naming `field` (e.g.
// "input" or "grad_output") and the reason.
absl::StatusOr<TensorView> DecodeTensor(const v1::Tensor& tensor,
                                        absl::string_view field,
                                        int64_t max_elements = INT64_MAX);

// A tensor of a stream header, which declares what the chunks will carry:
// DecodeTensor's checks of dtype and shape, and data that must be empty
// (InvalidArgument "<field>.data: must be empty ..." otherwise). The view's
// data is null.
absl::StatusOr<TensorView> DecodeHeaderTensor(const v1::Tensor& tensor,
                                              absl::string_view field,
                                              int64_t max_elements = INT64_MAX);

// Shapes `out` as a FLOAT32 tensor of `shape` and returns its float buffer
// (uninitialised), so kernels write straight into the reply.
float* PrepareTensor(absl::Span<const int64_t> shape, v1::Tensor* out);

// "[2, 3, 4]", for messages.
std::string ShapeString(absl::Span<const int64_t> shape);

}  // namespace actlab

#endif  // ACTLAB_SERVER_TENSOR_CODEC_H_
