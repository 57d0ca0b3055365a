// Copyright actlab authors.
//
// Plain double-precision PWLU straight from the definition
// (../shared/docs/pwlu.md) and its analytic gradients: the reference the
// float kernels are tested against. Conventions shared with the library:
// NaN x gives NaN f and NaN dx; a zero tail slope at an infinite x gives the
// tail value (0 * inf counts as 0); elements whose x is NaN or +-inf add
// nothing to the parameter gradients.

#ifndef ACTLAB_TESTS_KERNELS_PWLU_REFERENCE_DOUBLE_H_
#define ACTLAB_TESTS_KERNELS_PWLU_REFERENCE_DOUBLE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/channel_layout.h"
#include "kernels/pwlu.h"

namespace actlab {
namespace reference {

struct Unit {
  int n = 0;
  double left = 0, right = 0, left_slope = 0, right_slope = 0;
  std::vector<double> y;  // Y[0..N]
};

inline Unit UnitOf(const PwluParams& p, int64_t u) {
  Unit unit;
  unit.n = p.intervals;
  unit.left = p.left_bound[u];
  unit.right = p.right_bound[u];
  unit.left_slope = p.left_slope[u];
  unit.right_slope = p.right_slope[u];
  unit.y.assign(p.unit_values(u), p.unit_values(u) + p.intervals + 1);
  return unit;
}

// Parameter gradients of one unit, in double.
struct UnitGrad {
  std::vector<double> y;
  double left = 0, right = 0, left_slope = 0, right_slope = 0;
  // Only in magnitudes: what elements within float rounding of an interior
  // breakpoint may change dB_L / dB_R by when a float kernel assigns them to
  // the neighbouring interval (the slope, and so these derivatives, jump).
  double kink = 0;
};

inline double Tail(double value, double slope, double distance) {
  return slope == 0 ? value : value + slope * distance;
}

inline double Forward(const Unit& u, double x) {
  if (std::isnan(x)) return x;
  if (x < u.left) return Tail(u.y[0], u.left_slope, x - u.left);
  if (x >= u.right) return Tail(u.y[u.n], u.right_slope, x - u.right);
  const double d = (u.right - u.left) / u.n;
  const double t = (x - u.left) / d;
  const int i = std::clamp(static_cast<int>(std::floor(t)), 0, u.n - 1);
  const double w = t - i;
  return (1 - w) * u.y[i] + w * u.y[i + 1];
}

// Adds g * df/dparam of element x into *grad (into *mag the absolute
// values, for tolerances) and returns g * df/dx.
inline double Backward(const Unit& u, double x, double g, UnitGrad* grad,
                       UnitGrad* mag) {
  if (std::isnan(x)) return x;
  const bool finite = std::isfinite(x);
  const double width = u.right - u.left;
  if (x < u.left) {
    if (finite) {
      grad->y[0] += g;
      grad->left_slope += g * (x - u.left);
      grad->left += -u.left_slope * g;
      mag->y[0] += std::abs(g);
      mag->left_slope += std::abs(g * (x - u.left));
      mag->left += std::abs(u.left_slope * g);
    }
    return u.left_slope * g;
  }
  if (x >= u.right) {
    if (finite) {
      grad->y[u.n] += g;
      grad->right_slope += g * (x - u.right);
      grad->right += -u.right_slope * g;
      mag->y[u.n] += std::abs(g);
      mag->right_slope += std::abs(g * (x - u.right));
      mag->right += std::abs(u.right_slope * g);
    }
    return u.right_slope * g;
  }
  const double d = width / u.n;
  const double t = (x - u.left) / d;
  const int i = std::clamp(static_cast<int>(std::floor(t)), 0, u.n - 1);
  const double w = t - i;
  const double k = (u.y[i + 1] - u.y[i]) / d;
  grad->y[i] += g * (1 - w);
  grad->y[i + 1] += g * w;
  grad->left += -k * (u.right - x) / width * g;
  grad->right += -k * (x - u.left) / width * g;
  // Magnitudes also cover the neighbouring interval's slope, which a float
  // kernel may pick for x within rounding of a breakpoint.
  const double k_near =
      std::max({std::abs(k), i > 0 ? std::abs(u.y[i] - u.y[i - 1]) / d : 0.0,
                i + 2 <= u.n ? std::abs(u.y[i + 2] - u.y[i + 1]) / d : 0.0});
  mag->y[i] += std::abs(g);
  mag->y[i + 1] += std::abs(g);
  mag->left += k_near * std::abs(g);
  mag->right += k_near * std::abs(g);
  // Float t = (x - B_L) * scale carries a few ulps of t <= N + 1.
  const double window = 16 * 0x1p-24 * (u.n + 2);
  if (std::abs(t - std::round(t)) < window)
    mag->kink += 2 * k_near * std::abs(g);
  return k * g;
}

inline int64_t UnitIndex(const PwluParams& p, const ChannelLayout& layout,
                         int64_t e) {
  return p.units() == 1 ? 0 : (e / layout.inner) % layout.channels;
}

inline std::vector<double> ForwardTensor(const PwluParams& p,
                                         const ChannelLayout& layout,
                                         const std::vector<float>& x) {
  std::vector<Unit> units;
  for (int64_t u = 0; u < p.units(); ++u) units.push_back(UnitOf(p, u));
  std::vector<double> y(x.size());
  for (size_t e = 0; e < x.size(); ++e) {
    y[e] = Forward(units[UnitIndex(p, layout, e)], x[e]);
  }
  return y;
}

struct TensorGrad {
  std::vector<double> dx;
  std::vector<UnitGrad> grad, mag;
};

inline TensorGrad BackwardTensor(const PwluParams& p,
                                 const ChannelLayout& layout,
                                 const std::vector<float>& x,
                                 const std::vector<float>& dy) {
  std::vector<Unit> units;
  TensorGrad out;
  for (int64_t u = 0; u < p.units(); ++u) {
    units.push_back(UnitOf(p, u));
    UnitGrad zero;
    zero.y.assign(p.intervals + 1, 0.0);
    out.grad.push_back(zero);
    out.mag.push_back(zero);
  }
  out.dx.resize(x.size());
  for (size_t e = 0; e < x.size(); ++e) {
    const int64_t u = UnitIndex(p, layout, e);
    out.dx[e] = Backward(units[u], x[e], dy[e], &out.grad[u], &out.mag[u]);
  }
  return out;
}

}  // namespace reference
}  // namespace actlab

#endif  // ACTLAB_TESTS_KERNELS_PWLU_REFERENCE_DOUBLE_H_
