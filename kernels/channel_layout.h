// Copyright actlab authors.
//
// ChannelLayout views an n-d row-major tensor as [outer, channels, inner]
// around one channel axis, which is all a per-channel kernel needs to know:
// element (o, c, i) is at offset (o * channels + c) * inner + i.
// NCHW with axis 1 gives [N, C, H*W]; NHWC with axis 3 gives [N*H*W, C, 1].

#ifndef ACTLAB_KERNELS_CHANNEL_LAYOUT_H_
#define ACTLAB_KERNELS_CHANNEL_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace actlab {

struct ChannelLayout {
  int64_t outer = 1;
  int64_t channels = 1;
  int64_t inner = 1;

  int64_t size() const { return outer * channels * inner; }
};

// The whole tensor as one channel: what a layer-wise kernel sees.
inline ChannelLayout FlatLayout(int64_t elements) { return {1, 1, elements}; }

// Resolves `axis` (negative counts from the end) against `shape`.
// Returns InvalidArgument when the axis is out of range for the rank.
// The caller has already checked that the shape's product fits in int64.
absl::StatusOr<ChannelLayout> MakeChannelLayout(absl::Span<const int64_t> shape,
                                                int axis);

// The default channel axis, as PyTorch's PReLU and BatchNorm use it: 1 for
// rank >= 2 (NCHW, NC), 0 for rank 0 and 1.
inline int DefaultChannelAxis(int rank) { return rank >= 2 ? 1 : 0; }

}  // namespace actlab

#endif  // ACTLAB_KERNELS_CHANNEL_LAYOUT_H_
