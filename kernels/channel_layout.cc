// Copyright actlab authors.

#include "kernels/channel_layout.h"

#include "absl/strings/str_cat.h"

namespace actlab {

absl::StatusOr<ChannelLayout> MakeChannelLayout(absl::Span<const int64_t> shape,
                                                int axis) {
  const int rank = static_cast<int>(shape.size());
  if (rank == 0) {
    if (axis == 0 || axis == -1) return ChannelLayout{1, 1, 1};
    return absl::InvalidArgumentError(
        absl::StrCat("channel_axis ", axis, " is out of range for a scalar"));
  }
  const int resolved = axis < 0 ? axis + rank : axis;
  if (resolved < 0 || resolved >= rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "channel_axis ", axis, " is out of range for a tensor of rank ", rank,
        " (valid: ", -rank, " to ", rank - 1, ")"));
  }
  ChannelLayout layout;
  for (int d = 0; d < resolved; ++d) layout.outer *= shape[d];
  layout.channels = shape[resolved];
  for (int d = resolved + 1; d < rank; ++d) layout.inner *= shape[d];
  return layout;
}

}  // namespace actlab
