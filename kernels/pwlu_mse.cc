// Copyright actlab authors.

#include "kernels/pwlu_mse.h"

#include <algorithm>
#include <cmath>

namespace actlab {

absl::StatusOr<MseResult> PwluMse(const PwluParams& params,
                                  const ChannelLayout& layout, const float* x,
                                  const float* target, PwluParams* grad,
                                  std::vector<float>* scratch) {
  const int64_t n = layout.size();
  if (n == 0) return absl::InvalidArgumentError("no samples to fit");
  scratch->resize(2 * n);
  float* y = scratch->data();
  float* dy = y + n;
  if (absl::Status status = PwluForward(params, layout, x, y); !status.ok()) {
    return status;
  }
  MseResult result;
  double sum = 0;
  const double scale = 2.0 / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    const double error = static_cast<double>(y[i]) - target[i];
    sum += error * error;
    result.max_abs_error = std::max(result.max_abs_error, std::abs(error));
    dy[i] = static_cast<float>(scale * error);
  }
  result.loss = sum / static_cast<double>(n);
  if (grad != nullptr) {
    // dx is not needed; the forward output buffer is free to receive it.
    absl::Status status = PwluBackward(params, layout, x, dy, y, grad);
    if (!status.ok()) return status;
  }
  return result;
}

}  // namespace actlab
