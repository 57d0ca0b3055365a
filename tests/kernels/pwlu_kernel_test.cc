// Copyright actlab authors.
//
// Every kernel in PwluKernels() that this CPU can run, forced in turn through
// the full driver (layouts, threading), against the double reference.

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/pwlu.h"
#include "kernels/pwlu_kernels.h"
#include "tests/kernels/pwlu_reference_double.h"
#include "tests/kernels/pwlu_test_util.h"

namespace actlab {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// torch.testing's float32 tolerance: |a - b| <= atol + rtol * |b|.
constexpr double kAtol = 1e-5;
constexpr double kRtol = 1.3e-6;

// Gradient sums: the kernels add each element's float term into a float
// accumulator that receives at most 1024 terms before it is folded into
// double, so the worst-case error is about 1024 * 2^-24 = 6e-5 of the sum of
// the terms' magnitudes (`mag`), plus a few ulps per term. An element within
// rounding of a breakpoint may also land in the neighbouring interval, which
// `mag` covers for B_L / B_R through the neighbouring slopes.
constexpr double kGradRel = 1e-4;
constexpr double kGradAbs = 1e-5;

struct Case {
  std::string name;
  std::vector<int64_t> shape;
  int axis;
  bool channel_wise;
};

ChannelLayout LayoutOf(const Case& c) {
  int64_t size = 1;
  for (int64_t d : c.shape) size *= d;
  if (!c.channel_wise) return FlatLayout(size);
  return MakeChannelLayout(c.shape, c.axis).value();
}

std::vector<Case> SmallCases() {
  return {
      {"layer_1", {1}, 0, false},
      {"layer_15", {15}, 0, false},
      {"layer_17", {17}, 0, false},
      {"layer_33", {33}, 0, false},
      {"layer_nchw_1000", {2, 5, 10, 10}, 1, false},
      {"nchw_staged", {2, 3, 5, 7}, 1, true},
      {"nchw_runs", {2, 4, 9, 11}, 1, true},
      {"nhwc", {2, 5, 7, 3}, -1, true},
      {"nc", {17, 5}, 1, true},
      {"flat_per_element", {33}, 0, true},
      {"channels_first_runs", {3, 70}, 0, true},
  };
}

// At least 64K elements: the OpenMP paths (element and channel partitions,
// runs and staged layouts).
std::vector<Case> LargeCases() {
  return {
      {"layer_1000003", {1000003}, 0, false},
      {"nchw_few_channels", {2, 3, 129, 131}, 1, true},
      {"nchw_many_channels", {1, 16, 67, 67}, 1, true},
      {"nhwc_many_channels", {1, 67, 67, 16}, -1, true},
      {"nhwc_few_channels", {70001, 2}, -1, true},
  };
}

bool Close(double got, double want) {
  if (std::isnan(want)) return std::isnan(got);
  // Beyond the float range the float result is the infinity of that sign.
  if (std::abs(want) > std::numeric_limits<float>::max()) {
    return std::isinf(got) && (got > 0) == (want > 0);
  }
  return std::abs(got - want) <= kAtol + kRtol * std::abs(want);
}

// True when x is within rounding of a breakpoint of its unit, where a float
// kernel may legitimately pick the neighbouring interval's slope for dx.
bool NearKink(const reference::Unit& u, double x) {
  if (!std::isfinite(x)) return false;
  const double t = (x - u.left) / ((u.right - u.left) / u.n);
  return t > -1e-3 && t < u.n + 1e-3 && std::abs(t - std::round(t)) < 1e-3;
}

void CheckForward(const PwluKernel& kernel, const PwluParams& params,
                  const ChannelLayout& layout, const std::vector<float>& x) {
  std::vector<float> y(x.size());
  ASSERT_TRUE(
      PwluForwardWithKernel(kernel, params, layout, x.data(), y.data()).ok());
  const std::vector<double> want = reference::ForwardTensor(params, layout, x);
  int failures = 0;
  for (size_t e = 0; e < x.size() && failures < 5; ++e) {
    if (!Close(y[e], want[e])) {
      ++failures;
      ADD_FAILURE() << "f(" << x[e] << ") = " << y[e] << ", want " << want[e]
                    << " (element " << e << ")";
    }
  }
}

void CheckGrad(const char* name, int64_t unit, double got, double want,
               double mag, double kink = 0) {
  EXPECT_LE(std::abs(got - want), kGradAbs + kGradRel * mag + kink)
      << name << " of unit " << unit << ": got " << got << ", want " << want;
}

void CheckBackward(const PwluKernel& kernel, const PwluParams& params,
                   const ChannelLayout& layout, const std::vector<float>& x,
                   const std::vector<float>& dy) {
  std::vector<float> dx(x.size());
  PwluParams grad;
  ASSERT_TRUE(PwluBackwardWithKernel(kernel, params, layout, x.data(),
                                     dy.data(), dx.data(), &grad)
                  .ok());
  const reference::TensorGrad want =
      reference::BackwardTensor(params, layout, x, dy);
  int failures = 0;
  for (size_t e = 0; e < x.size() && failures < 5; ++e) {
    const reference::Unit u =
        reference::UnitOf(params, reference::UnitIndex(params, layout, e));
    if (NearKink(u, x[e])) continue;
    if (!Close(dx[e], want.dx[e])) {
      ++failures;
      ADD_FAILURE() << "dx(" << x[e] << ") = " << dx[e] << ", want "
                    << want.dx[e] << " (element " << e << ")";
    }
  }
  ASSERT_EQ(grad.units(), params.units());
  ASSERT_EQ(grad.intervals, params.intervals);
  const int n = params.intervals;
  for (int64_t u = 0; u < params.units(); ++u) {
    const reference::UnitGrad& g = want.grad[u];
    const reference::UnitGrad& m = want.mag[u];
    for (int j = 0; j <= n; ++j) {
      CheckGrad("dY", u, grad.values[u * (n + 1) + j], g.y[j], m.y[j]);
    }
    CheckGrad("dK_L", u, grad.left_slope[u], g.left_slope, m.left_slope);
    CheckGrad("dK_R", u, grad.right_slope[u], g.right_slope, m.right_slope);
    CheckGrad("dB_L", u, grad.left_bound[u], g.left, m.left, m.kink);
    CheckGrad("dB_R", u, grad.right_bound[u], g.right, m.right, m.kink);
  }
}

class PwluKernelTest : public ::testing::TestWithParam<const PwluKernel*> {
 protected:
  const PwluKernel& kernel() const { return *GetParam(); }
  bool Supports(int n) const { return n <= kernel().max_intervals; }

  void RunCase(const Case& c, int n, uint32_t seed) {
    if (!Supports(n)) return;
    SCOPED_TRACE(c.name + " N=" + std::to_string(n));
    const ChannelLayout layout = LayoutOf(c);
    const PwluParams params =
        testing::MakeParams(n, c.channel_wise ? layout.channels : 1, seed);
    const std::vector<float> x = testing::RandomInputs(layout.size(), seed);
    const std::vector<float> dy =
        testing::RandomGradients(layout.size(), seed + 1);
    CheckForward(kernel(), params, layout, x);
    CheckBackward(kernel(), params, layout, x, dy);
  }
};

// N covers each register-table and histogram size at both of its ends
// (pwlu_avx512.cc: one- and two-register tables, pair histograms of 2, 5
// and 8 vectors a row, the lane histogram beyond 29) and the gather
// kernels' range.
TEST_P(PwluKernelTest, SmallTensorsMatchReference) {
  for (const Case& c : SmallCases()) {
    for (int n : {1, 2, 5, 6, 14, 16, 17, 18, 29, 30, 31, 47, 62, 63, 64, 1024})
      RunCase(c, n, 7 * n + 1);
  }
}

TEST_P(PwluKernelTest, LargeTensorsMatchReference) {
  for (const Case& c : LargeCases()) {
    for (int n : {1, 16, 29, 30, 31, 64, 1024}) RunCase(c, n, 11 * n + 3);
  }
}

// Dyadic parameters: breakpoints, B_L and B_R are exact in float, so the
// kernels classify them exactly like the reference (their float neighbours
// may round onto the breakpoint, which the reference's kink allowance and
// NearKink cover).
PwluParams DyadicParams(float left_slope, float right_slope) {
  PwluParams p = PwluParams::Zeros(16, 1);
  p.left_bound[0] = -2;
  p.right_bound[0] = 2;
  p.left_slope[0] = left_slope;
  p.right_slope[0] = right_slope;
  for (int j = 0; j <= 16; ++j) {
    const float b = -2 + 0.25f * j;
    p.values[j] = (b > 0 ? b : 0.0625f * b) + ((j % 3) - 1) * 0.0078125f;
  }
  return p;
}

std::vector<float> SpecialInputs() {
  std::vector<float> x = {-kInf,
                          kInf,
                          kNaN,
                          -kNaN,
                          1e30f,
                          -1e30f,
                          std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(),
                          0.0f,
                          -0.0f,
                          1e-7f,
                          -1e-7f,
                          2.0f,
                          -2.0f};
  for (int j = 0; j <= 16; ++j) {
    const float b = -2 + 0.25f * j;
    x.push_back(b);
    x.push_back(std::nextafter(b, -kInf));
    x.push_back(std::nextafter(b, kInf));
  }
  // Near the zero crossing of the interval [-0.25, 0] where Y ~ 0.
  for (int j = -8; j <= 8; ++j) x.push_back(-0.125f + j * 1e-6f);
  return x;
}

TEST_P(PwluKernelTest, SpecialValues) {
  for (float left_slope : {0.0f, -0.5f}) {
    for (float right_slope : {0.0f, 1.5f}) {
      SCOPED_TRACE(std::to_string(left_slope) + " " +
                   std::to_string(right_slope));
      const PwluParams params = DyadicParams(left_slope, right_slope);
      std::vector<float> x = SpecialInputs();
      const ChannelLayout layout = FlatLayout(x.size());
      CheckForward(kernel(), params, layout, x);
      std::vector<float> y(x.size());
      ASSERT_TRUE(
          PwluForwardWithKernel(kernel(), params, layout, x.data(), y.data())
              .ok());
      // Decided semantics: a flat tail stays flat at +-inf.
      EXPECT_EQ(y[0], left_slope == 0 ? params.values[0] : kInf);
      EXPECT_EQ(y[1], right_slope == 0 ? params.values[16] : kInf);
      EXPECT_TRUE(std::isnan(y[2]));
      EXPECT_TRUE(std::isnan(y[3]));
      EXPECT_EQ(y[13], params.values[16]);  // x = B_R: right branch
      EXPECT_EQ(y[14], params.values[0]);   // x = B_L: interior, i = 0

      std::vector<float> dy = testing::RandomGradients(x.size(), 5);
      CheckBackward(kernel(), params, layout, x, dy);
      std::vector<float> dx(x.size());
      PwluParams grad;
      ASSERT_TRUE(PwluBackwardWithKernel(kernel(), params, layout, x.data(),
                                         dy.data(), dx.data(), &grad)
                      .ok());
      EXPECT_TRUE(std::isnan(dx[2]));
      EXPECT_EQ(dx[0], left_slope * dy[0]);
      EXPECT_EQ(dx[1], right_slope * dy[1]);
      EXPECT_EQ(dx[13], right_slope * dy[13]);  // x = B_R: right slope
    }
  }
}

// Flat tails stay flat at +-inf even when an interval is far wider than the
// bounds are large (d = 2.5e8 with B_L = 0, steep first interval): +-inf
// must not land in the neighbouring interval.
TEST_P(PwluKernelTest, FlatTailsOfVeryWideUnits) {
  constexpr int n = 4;
  PwluParams params = PwluParams::Zeros(n, 1);
  params.left_bound[0] = 0.0f;
  params.right_bound[0] = 1e9f;
  params.values = {1.0f, 1e9f, 2.0f, 5.0f, 4.0f};  // k_0 = 4
  const std::vector<float> x = {-kInf, kInf, -3e9f, 3e9f, 5e8f};
  std::vector<float> y(x.size());
  ASSERT_TRUE(PwluForwardWithKernel(kernel(), params, FlatLayout(x.size()),
                                    x.data(), y.data())
                  .ok());
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 4.0f);
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[3], 4.0f);
  EXPECT_NEAR(y[4], 2.0f, 1e-5);
}

// Elements whose x is NaN or +-inf add exactly nothing to the parameter
// gradients, and NaN stays in its own element.
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Results of one forward and backward call, for comparing calls bitwise.
struct Outputs {
  absl::Status forward, backward;
  std::vector<float> y, dx;
  PwluParams grad;
};

Outputs RunBoth(const PwluKernel& kernel, const PwluParams& params,
                const ChannelLayout& layout, const std::vector<float>& x,
                const std::vector<float>& dy) {
  Outputs o;
  o.y.resize(x.size());
  o.dx.resize(x.size());
  o.forward =
      PwluForwardWithKernel(kernel, params, layout, x.data(), o.y.data());
  o.backward = PwluBackwardWithKernel(kernel, params, layout, x.data(),
                                      dy.data(), o.dx.data(), &o.grad);
  return o;
}

bool SameOutputs(const Outputs& a, const Outputs& b) {
  return a.forward.ok() && b.forward.ok() && a.backward.ok() &&
         b.backward.ok() && SameBits(a.y, b.y) && SameBits(a.dx, b.dx) &&
         SameBits(a.grad.values, b.grad.values) &&
         SameBits(a.grad.left_bound, b.grad.left_bound) &&
         SameBits(a.grad.right_bound, b.grad.right_bound) &&
         SameBits(a.grad.left_slope, b.grad.left_slope) &&
         SameBits(a.grad.right_slope, b.grad.right_slope);
}

// Layer-wise, and channel-wise in runs and staged (channels two at a time
// where the kernel pairs them, so a NaN of one channel meets the other's
// elements in the pair histogram).
TEST_P(PwluKernelTest, NonFiniteInputsDoNotPoisonOthers) {
  const std::pair<ChannelLayout, int64_t> layouts[] = {
      {FlatLayout(1000), 1}, {{2, 4, 125}, 4}, {{250, 4, 1}, 4}};
  for (int n : {4, 16, 31, 62, 64}) {
    if (!Supports(n)) continue;
    for (const auto& [layout, units] : layouts) {
      SCOPED_TRACE(::testing::Message() << "N=" << n << " units=" << units
                                        << " inner=" << layout.inner);
      const PwluParams params = testing::MakeParams(n, units, 3);
      std::vector<float> x = testing::RandomInputs(1000, 4);
      std::vector<float> dy = testing::RandomGradients(1000, 5);
      for (size_t e = 0; e < x.size(); e += 37) {
        x[e] = e % 3 == 0 ? kNaN : (e % 3 == 1 ? kInf : -kInf);
      }
      const Outputs bad = RunBoth(kernel(), params, layout, x, dy);
      ASSERT_TRUE(bad.forward.ok());
      ASSERT_TRUE(bad.backward.ok());
      for (size_t e = 0; e < x.size(); ++e) {
        EXPECT_EQ(std::isnan(bad.y[e]), std::isnan(x[e])) << e;
        EXPECT_EQ(std::isnan(bad.dx[e]), std::isnan(x[e])) << e;
      }
      // The same gradients as with those elements' dy zeroed.
      std::vector<float> masked_dy = dy;
      for (size_t e = 0; e < x.size(); e += 37) masked_dy[e] = 0;
      const Outputs masked = RunBoth(kernel(), params, layout, x, masked_dy);
      ASSERT_TRUE(masked.backward.ok());
      EXPECT_EQ(bad.grad.values, masked.grad.values);
      EXPECT_EQ(bad.grad.left_bound, masked.grad.left_bound);
      EXPECT_EQ(bad.grad.right_bound, masked.grad.right_bound);
      EXPECT_EQ(bad.grad.left_slope, masked.grad.left_slope);
      EXPECT_EQ(bad.grad.right_slope, masked.grad.right_slope);
      for (float v : bad.grad.values) EXPECT_TRUE(std::isfinite(v));
    }
  }
}

TEST_P(PwluKernelTest, RepeatedRunsAreBitIdentical) {
  omp_set_num_threads(2);
  for (const Case& c : LargeCases()) {
    if (!Supports(16)) continue;
    SCOPED_TRACE(c.name);
    const ChannelLayout layout = LayoutOf(c);
    const PwluParams params =
        testing::MakeParams(16, c.channel_wise ? layout.channels : 1, 9);
    const std::vector<float> x = testing::RandomInputs(layout.size(), 10);
    const std::vector<float> dy = testing::RandomGradients(layout.size(), 11);
    // The second run reuses the tables the first one kept.
    const Outputs first = RunBoth(kernel(), params, layout, x, dy);
    ASSERT_TRUE(first.forward.ok());
    ASSERT_TRUE(first.backward.ok());
    EXPECT_TRUE(SameOutputs(RunBoth(kernel(), params, layout, x, dy), first));
  }
}

// The entry points keep the tables of the last params a thread ran and
// reuse them for bit-identical params. Calls alternating between params
// that differ in one bit must each match the same call on a fresh thread,
// which has nothing kept; invalid params that follow valid ones must still
// be rejected. Y[2] = +-0 changes only the sign of f(0) (and == cannot tell
// the two apart); the other variant moves one value by one ulp.
TEST_P(PwluKernelTest, KeptTablesFollowEveryBitOfTheParams) {
  PwluParams plus = PwluParams::Zeros(4, 1);
  plus.left_bound = {-2};
  plus.right_bound = {2};
  plus.values = {1, 0.5f, 0.0f, -0.5f, -1};
  plus.left_slope = {-0.5f};
  plus.right_slope = {-0.5f};
  PwluParams minus = plus;
  minus.values[2] = -0.0f;
  PwluParams ulp = plus;
  ulp.values[1] = std::nextafter(0.5f, 1.0f);
  PwluParams invalid = plus;
  invalid.left_bound = {3};
  const ChannelLayout layout = FlatLayout(1000);
  std::vector<float> x = testing::RandomInputs(layout.size(), 21);
  x[0] = 0;
  const std::vector<float> dy = testing::RandomGradients(layout.size(), 22);

  const PwluParams* variants[] = {&plus, &minus, &ulp};
  Outputs fresh[3];
  for (int v = 0; v < 3; ++v) {
    std::thread([&] {
      fresh[v] = RunBoth(kernel(), *variants[v], layout, x, dy);
    }).join();
  }
  ASSERT_FALSE(std::signbit(fresh[0].y[0]));
  ASSERT_TRUE(std::signbit(fresh[1].y[0]));
  ASSERT_FALSE(SameBits(fresh[0].dx, fresh[2].dx));
  for (int v : {0, 0, 1, 1, 0, 2, 2, 0}) {
    SCOPED_TRACE(v);
    EXPECT_TRUE(
        SameOutputs(RunBoth(kernel(), *variants[v], layout, x, dy), fresh[v]));
    const Outputs rejected = RunBoth(kernel(), invalid, layout, x, dy);
    EXPECT_EQ(rejected.forward.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(rejected.backward.code(), absl::StatusCode::kInvalidArgument);
  }
}

// Tables too large to keep (1024 intervals, 300 units) are rebuilt on
// every call, with the same results.
TEST_P(PwluKernelTest, TablesTooLargeToKeepAreRebuilt) {
  if (!Supports(1024)) return;
  const ChannelLayout layout = {2, 300, 3};
  const PwluParams params = testing::MakeParams(1024, layout.channels, 23);
  const std::vector<float> x = testing::RandomInputs(layout.size(), 24);
  const std::vector<float> dy = testing::RandomGradients(layout.size(), 25);
  Outputs fresh;
  std::thread([&] { fresh = RunBoth(kernel(), params, layout, x, dy); }).join();
  ASSERT_TRUE(fresh.forward.ok());
  for (int run = 0; run < 3; ++run) {
    EXPECT_TRUE(SameOutputs(RunBoth(kernel(), params, layout, x, dy), fresh));
  }
}

// y may alias x and dx may alias dy.
TEST_P(PwluKernelTest, InPlace) {
  const Case cases[] = {{"layer", {1000}, 0, false},
                        {"nhwc", {10, 10, 3}, -1, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const ChannelLayout layout = LayoutOf(c);
    const PwluParams params =
        testing::MakeParams(16, c.channel_wise ? layout.channels : 1, 2);
    if (!Supports(16)) continue;
    const std::vector<float> x = testing::RandomInputs(layout.size(), 3);
    const std::vector<float> dy = testing::RandomGradients(layout.size(), 4);
    std::vector<float> y(x.size()), dx(x.size());
    PwluParams grad, grad_in_place;
    ASSERT_TRUE(
        PwluForwardWithKernel(kernel(), params, layout, x.data(), y.data())
            .ok());
    ASSERT_TRUE(PwluBackwardWithKernel(kernel(), params, layout, x.data(),
                                       dy.data(), dx.data(), &grad)
                    .ok());
    std::vector<float> buffer = x;
    ASSERT_TRUE(PwluForwardWithKernel(kernel(), params, layout, buffer.data(),
                                      buffer.data())
                    .ok());
    EXPECT_TRUE(SameBits(buffer, y));
    buffer = dy;
    ASSERT_TRUE(PwluBackwardWithKernel(kernel(), params, layout, x.data(),
                                       buffer.data(), buffer.data(),
                                       &grad_in_place)
                    .ok());
    EXPECT_TRUE(SameBits(buffer, dx));
    EXPECT_TRUE(SameBits(grad.values, grad_in_place.values));
  }
}

// Tensors of 16M+ elements are written with non-temporal stores after a
// masked head that aligns the output; results must not change: compare with
// the same tensor processed in small (cached-store) pieces.
TEST_P(PwluKernelTest, HugeTensorsMatchPiecewiseRuns) {
  if (!Supports(16)) return;
  const int64_t n = (int64_t{16} << 20) + 37;
  const PwluParams params = testing::MakeParams(16, 1, 31);
  // One extra float in front misaligns every pointer by 4 bytes.
  std::vector<float> x = testing::RandomInputs(n + 1, 32);
  std::vector<float> dy = testing::RandomGradients(n + 1, 33);
  std::vector<float> y(n + 1), y_pieces(n + 1), dx(n + 1), dx_pieces(n + 1);
  PwluParams grad, piece_grad;
  ASSERT_TRUE(PwluForwardWithKernel(kernel(), params, FlatLayout(n),
                                    x.data() + 1, y.data() + 1)
                  .ok());
  ASSERT_TRUE(PwluBackwardWithKernel(kernel(), params, FlatLayout(n),
                                     x.data() + 1, dy.data() + 1, dx.data() + 1,
                                     &grad)
                  .ok());
  std::vector<double> dvalues(17, 0.0);
  constexpr int64_t kPiece = int64_t{1} << 20;
  for (int64_t begin = 1; begin <= n; begin += kPiece) {
    const int64_t len = std::min(kPiece, n + 1 - begin);
    ASSERT_TRUE(PwluForwardWithKernel(kernel(), params, FlatLayout(len),
                                      x.data() + begin, y_pieces.data() + begin)
                    .ok());
    ASSERT_TRUE(PwluBackwardWithKernel(kernel(), params, FlatLayout(len),
                                       x.data() + begin, dy.data() + begin,
                                       dx_pieces.data() + begin, &piece_grad)
                    .ok());
    for (int j = 0; j <= 16; ++j) dvalues[j] += piece_grad.values[j];
  }
  EXPECT_TRUE(SameBits(y, y_pieces));
  EXPECT_TRUE(SameBits(dx, dx_pieces));
  // Different summation order: equal to float rounding of the sums.
  for (int j = 0; j <= 16; ++j) {
    EXPECT_NEAR(grad.values[j], dvalues[j], 1e-4 * (1 + std::abs(dvalues[j])));
  }
}

// The SIMD kernels agree with the scalar float oracle to a few ulps.
TEST_P(PwluKernelTest, AgreesWithScalarOracle) {
  const PwluKernel& scalar = PwluKernels().back();
  for (int n : {4, 16, 64}) {
    if (!Supports(n)) continue;
    const PwluParams params = testing::MakeParams(n, 1, 21);
    const std::vector<float> x = testing::RandomInputs(4099, 22);
    std::vector<float> y(x.size()), y_scalar(x.size());
    ASSERT_TRUE(PwluForwardWithKernel(kernel(), params, FlatLayout(x.size()),
                                      x.data(), y.data())
                    .ok());
    ASSERT_TRUE(PwluForwardWithKernel(scalar, params, FlatLayout(x.size()),
                                      x.data(), y_scalar.data())
                    .ok());
    for (size_t e = 0; e < x.size(); ++e) {
      EXPECT_NEAR(y[e], y_scalar[e], 1e-6 + 5e-7 * std::abs(y_scalar[e]))
          << x[e];
    }
  }
}

std::string KernelName(const ::testing::TestParamInfo<const PwluKernel*>& i) {
  return i.param->name;
}

INSTANTIATE_TEST_SUITE_P(Runnable, PwluKernelTest,
                         ::testing::ValuesIn(testing::RunnableKernels()),
                         KernelName);

// The entry points use the dispatched kernel.
TEST(PwluEntryPointTest, ForwardAndBackwardMatchReference) {
  const Case c = {"nchw", {2, 8, 33, 35}, 1, true};
  const ChannelLayout layout = LayoutOf(c);
  const PwluParams params = testing::MakeParams(16, layout.channels, 1);
  const std::vector<float> x = testing::RandomInputs(layout.size(), 2);
  const std::vector<float> dy = testing::RandomGradients(layout.size(), 3);
  std::vector<float> y(x.size()), y_forced(x.size());
  ASSERT_TRUE(PwluForward(params, layout, x.data(), y.data()).ok());
  ASSERT_TRUE(PwluForwardWithKernel(PwluSelectKernel(16), params, layout,
                                    x.data(), y_forced.data())
                  .ok());
  EXPECT_TRUE(SameBits(y, y_forced));
  CheckBackward(PwluSelectKernel(16), params, layout, x, dy);
  std::vector<float> dx(x.size());
  PwluParams grad;
  ASSERT_TRUE(
      PwluBackward(params, layout, x.data(), dy.data(), dx.data(), &grad).ok());
  const reference::TensorGrad want =
      reference::BackwardTensor(params, layout, x, dy);
  EXPECT_NEAR(grad.left_bound[3], want.grad[3].left,
              kGradAbs + kGradRel * want.mag[3].left);
}

}  // namespace
}  // namespace actlab
