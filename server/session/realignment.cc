// Copyright actlab authors.

#include "server/session/realignment.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace actlab {

void FoldBatch(const BatchMoments& batch, double momentum,
               v1::RunningStats* stats) {
  const int units = static_cast<int>(batch.mean.size());
  if (stats->batches() == 0) {
    stats->mutable_mean()->Assign(batch.mean.begin(), batch.mean.end());
    stats->mutable_std()->Assign(batch.std.begin(), batch.std.end());
  } else {
    for (int u = 0; u < units; ++u) {
      stats->set_mean(
          u, momentum * stats->mean(u) + (1 - momentum) * batch.mean[u]);
      stats->set_std(u,
                     momentum * stats->std(u) + (1 - momentum) * batch.std[u]);
    }
  }
  stats->set_batches(stats->batches() + 1);
}

absl::StatusOr<FittedBounds> FitBounds(const v1::RunningStats& stats,
                                       double sigma_multiplier,
                                       double min_width) {
  FittedBounds out;
  for (int u = 0; u < stats.mean_size(); ++u) {
    const double mu = stats.mean(u);
    double lo = mu - sigma_multiplier * stats.std(u);
    double hi = mu + sigma_multiplier * stats.std(u);
    if (hi - lo < min_width) {
      lo = mu - min_width / 2;
      hi = mu + min_width / 2;
    }
    const float left = static_cast<float>(lo);
    float right = static_cast<float>(hi);
    if (!std::isfinite(left) || !std::isfinite(right) ||
        !std::isfinite(right - left)) {
      return absl::FailedPreconditionError(
          absl::StrCat("unit ", u, ": boundaries [", lo, ", ", hi,
                       "] are outside the float range"));
    }
    if (right <= left) {
      right = std::nextafter(left, std::numeric_limits<float>::infinity());
    }
    out.left.push_back(left);
    out.right.push_back(right);
  }
  return out;
}

}  // namespace actlab
