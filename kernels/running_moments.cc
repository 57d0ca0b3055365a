// Copyright actlab authors.

#include "kernels/running_moments.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace actlab {
namespace {

// Sums per unit over [outer, units, inner]; f maps an element to its term.
// NHWC-like layouts (inner == 1) get their own loop so the per-element work
// stays a vectorisable add across channels rather than a 1-trip inner loop.
template <typename F>
void SumPerUnit(const ChannelLayout& l, const float* x, F f, double* acc) {
  if (l.inner == 1) {
    for (int64_t o = 0; o < l.outer; ++o) {
      const float* row = x + o * l.channels;
      for (int64_t c = 0; c < l.channels; ++c) acc[c] += f(row[c], c);
    }
    return;
  }
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t c = 0; c < l.channels; ++c) {
      const float* run = x + (o * l.channels + c) * l.inner;
      double s = 0;
      for (int64_t i = 0; i < l.inner; ++i) s += f(run[i], c);
      acc[c] += s;
    }
  }
}

}  // namespace

absl::Status CheckFinite(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("element ", i, " is ", x[i], "; inputs must be finite"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchMoments> ComputeBatchMoments(const ChannelLayout& layout,
                                                 bool per_channel,
                                                 const float* x) {
  MomentAccumulator accumulator;
  absl::Status status = accumulator.Add(layout, per_channel, x);
  if (!status.ok()) return status;
  return accumulator.Moments();
}

absl::Status MomentAccumulator::Add(const ChannelLayout& layout,
                                    bool per_channel, const float* x) {
  const ChannelLayout l =
      per_channel ? layout : ChannelLayout{1, 1, layout.size()};
  const int64_t count = l.outer * l.inner;
  if (count == 0) return absl::OkStatus();
  // Two passes (mean, then squared deviations) keep the variance accurate
  // where a one-pass sum of squares would cancel. Float values cannot
  // overflow a double sum, so a non-finite sum means a non-finite input and
  // the element-wise check runs only then.
  std::vector<double> mean(l.channels, 0.0);
  SumPerUnit(
      l, x, [](float v, int64_t) { return double{v}; }, mean.data());
  for (int64_t c = 0; c < l.channels; ++c) {
    if (!std::isfinite(mean[c])) return CheckFinite(x, l.size());
    mean[c] /= count;
  }
  std::vector<double> m2(l.channels, 0.0);
  const double* m = mean.data();
  SumPerUnit(
      l, x,
      [m](float v, int64_t c) {
        const double d = v - m[c];
        return d * d;
      },
      m2.data());
  if (count_ == 0) {
    count_ = count;
    mean_ = std::move(mean);
    m2_ = std::move(m2);
    return absl::OkStatus();
  }
  // Chan, Golub and LeVeque: merging (n_a, mean_a, M2_a) with
  // (n_b, mean_b, M2_b) gives mean_a + delta n_b / n and
  // M2_a + M2_b + delta^2 n_a n_b / n, with delta = mean_b - mean_a.
  const double n_a = static_cast<double>(count_);
  const double n_b = static_cast<double>(count);
  const double n = n_a + n_b;
  for (size_t c = 0; c < mean_.size(); ++c) {
    const double delta = mean[c] - mean_[c];
    mean_[c] += delta * (n_b / n);
    m2_[c] += m2[c] + delta * delta * (n_a * n_b / n);
  }
  count_ += count;
  return absl::OkStatus();
}

absl::StatusOr<BatchMoments> MomentAccumulator::Moments() const {
  if (count_ == 0) {
    return absl::InvalidArgumentError(
        "the tensor has no elements to take statistics of");
  }
  BatchMoments m;
  m.mean = mean_;
  m.std.resize(m2_.size());
  for (size_t c = 0; c < m2_.size(); ++c) m.std[c] = std::sqrt(m2_[c] / count_);
  return m;
}

}  // namespace actlab
