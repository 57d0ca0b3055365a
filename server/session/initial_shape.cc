// Copyright actlab authors.

#include "server/session/initial_shape.h"

#include <cstdint>
#include <utility>

namespace actlab {

absl::StatusOr<PwluParams> InitialShapeParams(BaselineEngine& engine,
                                              const ResolvedActivation& shape,
                                              int intervals,
                                              std::vector<float> left,
                                              std::vector<float> right) {
  PwluParams p;
  p.intervals = intervals;
  const int64_t units = static_cast<int64_t>(left.size());
  const int64_t per_unit = intervals + 1;
  // Breakpoints in double, rounded once; the ends are exactly B_L and B_R
  // so Y[0] and Y[N] meet the tails where the kernel places them.
  std::vector<float> x(units * per_unit);
  for (int64_t u = 0; u < units; ++u) {
    const double lo = left[u];
    const double width = double{right[u]} - lo;
    float* px = x.data() + u * per_unit;
    for (int j = 0; j < intervals; ++j) {
      px[j] = static_cast<float>(lo + width * j / intervals);
    }
    px[intervals] = right[u];
  }
  p.values.resize(x.size());
  const int64_t n = static_cast<int64_t>(x.size());
  absl::Status s = engine.Forward(shape, {n}, x.data(), p.values.data());
  if (!s.ok()) return s;

  // Slopes at both ends in one backward call: [B_L..., B_R...].
  std::vector<float> ends(left);
  ends.insert(ends.end(), right.begin(), right.end());
  const std::vector<float> ones(ends.size(), 1.0f);
  std::vector<float> slopes(ends.size());
  s = engine.Backward(shape, {static_cast<int64_t>(ends.size())}, ends.data(),
                      ones.data(), slopes.data());
  if (!s.ok()) return s;
  p.left_slope.assign(slopes.begin(), slopes.begin() + units);
  p.right_slope.assign(slopes.begin() + units, slopes.end());
  p.left_bound = std::move(left);
  p.right_bound = std::move(right);
  s = ValidatePwluParams(p);
  if (!s.ok()) return s;
  return p;
}

}  // namespace actlab
