// Copyright actlab authors.
//
// Checks the double reference itself: its analytic gradients against central
// finite differences of its forward, for every parameter, at points away
// from kinks.

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/pwlu_reference_double.h"
#include "tests/kernels/pwlu_test_util.h"

namespace actlab {
namespace {

using reference::Unit;
using reference::UnitGrad;

// True when x is at least `margin` intervals away from every breakpoint.
bool AwayFromKinks(const Unit& u, double x, double margin) {
  const double t = (x - u.left) / ((u.right - u.left) / u.n);
  if (t < -margin || t > u.n + margin) return true;
  return std::abs(t - std::round(t)) > margin;
}

// L = sum g_e f(x_e) over the points, in double.
double Loss(const Unit& u, const std::vector<double>& x,
            const std::vector<double>& g) {
  double loss = 0;
  for (size_t e = 0; e < x.size(); ++e)
    loss += g[e] * reference::Forward(u, x[e]);
  return loss;
}

double CentralDifference(const std::function<double(double)>& f, double at) {
  const double h = 1e-6 * std::max(1.0, std::abs(at));
  return (f(at + h) - f(at - h)) / (2 * h);
}

void CheckAgainstFiniteDifferences(int n, uint32_t seed) {
  const PwluParams params = testing::MakeParams(n, 2, seed);
  const Unit unit = reference::UnitOf(params, 1);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> pick(unit.left - 2, unit.right + 2);
  std::uniform_real_distribution<double> weight(-1, 1);
  std::vector<double> x, g;
  while (x.size() < 200) {
    const double v = pick(rng);
    if (!AwayFromKinks(unit, v, 1e-3)) continue;
    x.push_back(v);
    g.push_back(weight(rng));
  }

  UnitGrad grad, mag;
  grad.y.assign(n + 1, 0.0);
  mag.y.assign(n + 1, 0.0);
  for (size_t e = 0; e < x.size(); ++e) {
    const double dx = reference::Backward(unit, x[e], g[e], &grad, &mag);
    const double fd = CentralDifference(
        [&](double v) { return g[e] * reference::Forward(unit, v); }, x[e]);
    EXPECT_NEAR(dx, fd, 1e-6 * (1 + std::abs(fd))) << "dx at " << x[e];
  }

  auto check = [&](const char* name, double analytic,
                   const std::function<void(Unit*, double)>& set, double at) {
    const double fd = CentralDifference(
        [&](double v) {
          Unit perturbed = unit;
          set(&perturbed, v);
          return Loss(perturbed, x, g);
        },
        at);
    EXPECT_NEAR(analytic, fd, 1e-5 * (1 + std::abs(fd))) << name;
  };
  for (int j = 0; j <= n; ++j) {
    check(
        "Y", grad.y[j], [j](Unit* u, double v) { u->y[j] = v; }, unit.y[j]);
  }
  check(
      "K_L", grad.left_slope, [](Unit* u, double v) { u->left_slope = v; },
      unit.left_slope);
  check(
      "K_R", grad.right_slope, [](Unit* u, double v) { u->right_slope = v; },
      unit.right_slope);
  check(
      "B_L", grad.left, [](Unit* u, double v) { u->left = v; }, unit.left);
  check(
      "B_R", grad.right, [](Unit* u, double v) { u->right = v; }, unit.right);
}

TEST(PwluReferenceTest, GradientsMatchFiniteDifferences) {
  for (int n : {1, 2, 16, 31}) {
    SCOPED_TRACE(n);
    CheckAgainstFiniteDifferences(n, 100 + n);
  }
}

TEST(PwluReferenceTest, DefinitionAtBoundaries) {
  Unit u;
  u.n = 4;
  u.left = -2;
  u.right = 2;
  u.left_slope = 0;
  u.right_slope = 1;
  u.y = {0, 1, 3, 2, 5};
  EXPECT_EQ(reference::Forward(u, -2), 0);  // interior, i = 0
  EXPECT_EQ(reference::Forward(u, 2), 5);   // right branch
  EXPECT_EQ(reference::Forward(u, 0.5), 2.5);
  EXPECT_EQ(reference::Forward(u, 3), 6);
  EXPECT_EQ(reference::Forward(u, -INFINITY), 0);  // flat tail, not NaN
  EXPECT_EQ(reference::Forward(u, INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(reference::Forward(u, NAN)));
}

}  // namespace
}  // namespace actlab
