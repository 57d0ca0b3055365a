// Copyright actlab authors.
//
// Phase I statistics and phase II realignment through the SessionManager:
// folding against a direct computation, fitted boundaries against the
// formula on the stored statistics and against the true distribution,
// the min-width floor, fix-init-X, a non-ReLU initial shape, and the
// FitBoundaries errors (each leaving state unchanged).

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/session_manager.h"
#include "server/session/sqlite_store.h"
#include "tests/server/session_test_util.h"

namespace actlab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class RealignmentTest : public SessionTest {
 protected:
  absl::StatusOr<v1::FitBoundariesResponse> Fit(
      const std::string& session, const std::string& unit,
      std::optional<double> k = std::nullopt) {
    v1::FitBoundariesRequest request;
    request.set_session_id(session);
    request.set_unit(unit);
    if (k.has_value()) request.set_sigma_multiplier(*k);
    return manager_->FitBoundaries(Principal::Anonymous(), request);
  }

  // What the initial shape gives through the baseline kernels.
  float Act(const std::string& name, float x) {
    auto act = engine_.Resolve(name, {});
    float y = NAN;
    EXPECT_TRUE(act.ok() && engine_.Forward(*act, {1}, &x, &y).ok());
    return y;
  }
  float Slope(const std::string& name, float x) {
    auto act = engine_.Resolve(name, {});
    float one = 1, dx = NAN;
    EXPECT_TRUE(act.ok() && engine_.Backward(*act, {1}, &x, &one, &dx).ok());
    return dx;
  }

  // Y equals the shape at each breakpoint, K_L/K_R its slopes at the ends.
  void ExpectShapeParameters(const v1::PwluParameters& p,
                             const std::string& shape) {
    const int n = p.intervals();
    for (int u = 0; u < p.left_bound_size(); ++u) {
      const double lo = p.left_bound(u), hi = p.right_bound(u);
      for (int j = 0; j <= n; ++j) {
        const float x = j == n ? p.right_bound(u)
                               : static_cast<float>(lo + (hi - lo) * j / n);
        EXPECT_EQ(p.values(u * (n + 1) + j), Act(shape, x))
            << "unit " << u << " j " << j;
      }
      EXPECT_EQ(p.left_slope(u), Slope(shape, p.left_bound(u)));
      EXPECT_EQ(p.right_slope(u), Slope(shape, p.right_bound(u)));
    }
  }
};

v1::UnitConfig ChannelUnit(const std::string& name, int channels, int axis) {
  v1::UnitConfig c;
  c.set_name(name);
  c.set_granularity(v1::CHANNEL);
  c.set_channels(channels);
  c.set_channel_axis(axis);
  return c;
}

// Per-channel normal samples in NCHW (axis 1) or NHWC (axis 3) layout.
std::vector<float> NormalBatch(const std::vector<double>& mu,
                               const std::vector<double>& sigma, int n, int hw,
                               bool nhwc, std::mt19937* rng) {
  const int c_count = static_cast<int>(mu.size());
  std::vector<float> x(static_cast<size_t>(n) * c_count * hw);
  std::normal_distribution<double> unit(0, 1);
  for (int b = 0; b < n; ++b) {
    for (int c = 0; c < c_count; ++c) {
      for (int i = 0; i < hw; ++i) {
        const size_t at = nhwc
                              ? (static_cast<size_t>(b) * hw + i) * c_count + c
                              : (static_cast<size_t>(b) * c_count + c) * hw + i;
        x[at] = static_cast<float>(mu[c] + sigma[c] * unit(*rng));
      }
    }
  }
  return x;
}

// Direct per-channel mean and population std of a batch.
void DirectMoments(const std::vector<float>& x, int channels, int n, int hw,
                   bool nhwc, std::vector<double>* mean,
                   std::vector<double>* std) {
  mean->assign(channels, 0);
  std->assign(channels, 0);
  for (int c = 0; c < channels; ++c) {
    std::vector<double> v;
    for (int b = 0; b < n; ++b) {
      for (int i = 0; i < hw; ++i) {
        v.push_back(x[nhwc ? (static_cast<size_t>(b) * hw + i) * channels + c
                           : (static_cast<size_t>(b) * channels + c) * hw + i]);
      }
    }
    double s = 0;
    for (double e : v) s += e;
    const double m = s / v.size();
    double ss = 0;
    for (double e : v) ss += (e - m) * (e - m);
    (*mean)[c] = m;
    (*std)[c] = std::sqrt(ss / v.size());
  }
}

TEST_F(RealignmentTest, FoldsStatisticsLikeADirectComputation) {
  for (bool nhwc : {false, true}) {
    SCOPED_TRACE(nhwc ? "NHWC" : "NCHW");
    v1::UnitConfig c = ChannelUnit("c", 3, nhwc ? -1 : 1);
    c.set_momentum(0.8);
    v1::UnitConfig l;
    l.set_name("l");
    l.set_momentum(0.7);
    const std::string id = Create({c, l});
    std::mt19937 rng(42);
    std::vector<double> mu_c, sigma_c, mu_l, sigma_l;
    const int n = 4, hw = 10;
    const std::vector<int64_t> shape = nhwc ? std::vector<int64_t>{n, 2, 5, 3}
                                            : std::vector<int64_t>{n, 3, 2, 5};
    for (int batch = 0; batch < 5; ++batch) {
      const std::vector<float> x =
          NormalBatch({-1, 0.5, 3}, {0.5, 1, 2.0 + batch}, n, hw, nhwc, &rng);
      std::vector<double> mean, std;
      DirectMoments(x, 3, n, hw, nhwc, &mean, &std);
      std::vector<double> lmean, lstd;
      DirectMoments(x, 1, 1, static_cast<int>(x.size()), false, &lmean, &lstd);
      if (batch == 0) {
        mu_c = mean, sigma_c = std, mu_l = lmean, sigma_l = lstd;
      } else {
        for (int k = 0; k < 3; ++k) {
          mu_c[k] = 0.8 * mu_c[k] + 0.2 * mean[k];
          sigma_c[k] = 0.8 * sigma_c[k] + 0.2 * std[k];
        }
        mu_l[0] = 0.7 * mu_l[0] + 0.3 * lmean[0];
        sigma_l[0] = 0.7 * sigma_l[0] + 0.3 * lstd[0];
      }
      auto stats = Observe(id, "c", shape, x);
      ASSERT_TRUE(stats.ok()) << stats.status();
      ASSERT_TRUE(Observe(id, "l", shape, x).ok());
      EXPECT_EQ(stats->batches(), batch + 1);
      for (int k = 0; k < 3; ++k) {
        EXPECT_NEAR(stats->mean(k), mu_c[k], 1e-12);
        EXPECT_NEAR(stats->std(k), sigma_c[k], 1e-12);
      }
    }
    const v1::Unit layer = Get(id, "l");
    EXPECT_NEAR(layer.stats().mean(0), mu_l[0], 1e-12);
    EXPECT_NEAR(layer.stats().std(0), sigma_l[0], 1e-12);
    const v1::Unit unit = Get(id, "c");
    EXPECT_EQ(unit.batches_observed(), 5);
    EXPECT_EQ(unit.version(), 6);
    EXPECT_EQ(unit.phase(), v1::STATISTICS);
  }
}

TEST_F(RealignmentTest, RealignsEachChannelToMuPlusMinusKSigma) {
  const std::vector<double> mu = {-1, 0, 2, 5};
  const std::vector<double> sigma = {0.5, 1, 2, 0.25};
  for (bool nhwc : {false, true}) {
    SCOPED_TRACE(nhwc ? "NHWC" : "NCHW");
    const std::string id = Create({ChannelUnit("c", 4, nhwc ? 3 : 1)});
    const v1::PwluParameters initial = Get(id, "c").parameters();
    std::mt19937 rng(7);
    const std::vector<int64_t> shape = nhwc
                                           ? std::vector<int64_t>{8, 16, 16, 4}
                                           : std::vector<int64_t>{8, 4, 16, 16};
    for (int batch = 0; batch < 10; ++batch) {
      ASSERT_TRUE(
          Observe(id, "c", shape, NormalBatch(mu, sigma, 8, 256, nhwc, &rng))
              .ok());
    }
    // Evaluate during phase I runs the initial parameters.
    auto during =
        manager_->GetUnitParameters(Principal::Anonymous(), Ref(id, "c"));
    ASSERT_TRUE(during.ok());
    EXPECT_EQ(during->params.left_bound,
              std::vector<float>(initial.left_bound().begin(),
                                 initial.left_bound().end()));

    const v1::Unit before = Get(id, "c");
    auto fit = Fit(id, "c");
    ASSERT_TRUE(fit.ok()) << fit.status();
    ASSERT_EQ(fit->units_size(), 1);
    const v1::FittedBoundaries& b = fit->units(0);
    EXPECT_EQ(b.unit(), "c");
    for (int c = 0; c < 4; ++c) {
      const double m = before.stats().mean(c), s = before.stats().std(c);
      EXPECT_EQ(b.left_bound(c), static_cast<float>(m - 3 * s));
      EXPECT_EQ(b.right_bound(c), static_cast<float>(m + 3 * s));
      EXPECT_NEAR(b.left_bound(c), mu[c] - 3 * sigma[c], 0.1 * sigma[c]);
      EXPECT_NEAR(b.right_bound(c), mu[c] + 3 * sigma[c], 0.1 * sigma[c]);
    }
    const v1::Unit after = Get(id, "c");
    EXPECT_EQ(after.phase(), v1::TRAINING);
    EXPECT_EQ(after.version(), before.version() + 1);
    EXPECT_THAT(after.parameters().left_bound(),
                ::testing::ElementsAreArray(b.left_bound()));
    EXPECT_THAT(after.parameters().right_bound(),
                ::testing::ElementsAreArray(b.right_bound()));
    ExpectShapeParameters(after.parameters(), "relu");
    // Channel 3 lies entirely above 0, so relu's slope is 1 on both ends.
    EXPECT_EQ(after.parameters().left_slope(3), 1.0f);
    EXPECT_EQ(after.parameters().left_slope(0), 0.0f);
    auto fitted =
        manager_->GetUnitParameters(Principal::Anonymous(), Ref(id, "c"));
    ASSERT_TRUE(fitted.ok());
    EXPECT_EQ(fitted->params.left_bound[2], b.left_bound(2));
  }
}

TEST_F(RealignmentTest, SigmaMultiplierOverride) {
  const std::string id = Create({ChannelUnit("c", 2, 1)});
  ASSERT_TRUE(Observe(id, "c", {3, 2}, {0, 10, 1, 12, 2, 14}).ok());
  const v1::RunningStats stats = Get(id, "c").stats();
  auto fit = Fit(id, "c", 1.5);
  ASSERT_TRUE(fit.ok()) << fit.status();
  for (int c = 0; c < 2; ++c) {
    EXPECT_EQ(fit->units(0).left_bound(c),
              static_cast<float>(stats.mean(c) - 1.5 * stats.std(c)));
    EXPECT_EQ(fit->units(0).right_bound(c),
              static_cast<float>(stats.mean(c) + 1.5 * stats.std(c)));
  }
}

TEST_F(RealignmentTest, MinWidthFloorCentresOnMu) {
  v1::UnitConfig c;
  c.set_name("flat");
  c.set_min_width(0.01);
  v1::UnitConfig narrow = c;
  narrow.set_name("narrow");
  const std::string id = Create({c, narrow});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Observe(id, "flat", {4}, {1.5f, 1.5f, 1.5f, 1.5f}).ok());
  }
  // std 0.001 -> width 0.006 < 0.01.
  ASSERT_TRUE(Observe(id, "narrow", {2}, {1.999f, 2.001f}).ok());
  const v1::RunningStats narrow_stats = Get(id, "narrow").stats();
  v1::FitBoundariesRequest all;
  all.set_session_id(id);
  auto fit = manager_->FitBoundaries(Principal::Anonymous(), all);
  ASSERT_TRUE(fit.ok()) << fit.status();
  ASSERT_EQ(fit->units_size(), 2);
  EXPECT_EQ(fit->units(0).left_bound(0), static_cast<float>(1.5 - 0.005));
  EXPECT_EQ(fit->units(0).right_bound(0), static_cast<float>(1.5 + 0.005));
  const double m = narrow_stats.mean(0);
  EXPECT_EQ(fit->units(1).left_bound(0), static_cast<float>(m - 0.005));
  EXPECT_EQ(fit->units(1).right_bound(0), static_cast<float>(m + 0.005));
  ExpectShapeParameters(Get(id, "flat").parameters(), "relu");
}

TEST_F(RealignmentTest, FixedBoundsSkipPhaseOne) {
  v1::UnitConfig c;
  c.set_name("fixed");
  c.set_fixed_bounds(true);
  c.set_init_bound(2);
  const std::string id = Create({c});
  const v1::Unit unit = Get(id, "fixed");
  EXPECT_EQ(unit.phase(), v1::TRAINING);
  EXPECT_EQ(unit.parameters().left_bound(0), -2.0f);
  EXPECT_EQ(unit.parameters().right_bound(0), 2.0f);
  const std::string before = Snapshot(id);
  EXPECT_EQ(Observe(id, "fixed", {1}, {1}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto named = Fit(id, "fixed");
  EXPECT_EQ(named.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(named.status().message(), HasSubstr("already in phase TRAINING"));
  auto all = Fit(id, "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->units_size(), 0);
  EXPECT_EQ(Snapshot(id), before);
}

TEST_F(RealignmentTest, GeluInitialShape) {
  v1::UnitConfig c;
  c.set_name("g");
  c.set_init_activation("gelu");
  c.set_init_bound(4);
  c.set_intervals(8);
  const std::string id = Create({c});
  const v1::PwluParameters p = Get(id, "g").parameters();
  ExpectShapeParameters(p, "gelu");
  // And against the closed form x * Phi(x), slope Phi(x) + x * phi(x).
  auto gelu = [](double x) { return 0.5 * x * (1 + std::erf(x / M_SQRT2)); };
  auto dgelu = [](double x) {
    return 0.5 * (1 + std::erf(x / M_SQRT2)) +
           x * std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
  };
  for (int j = 0; j <= 8; ++j) {
    EXPECT_NEAR(p.values(j), gelu(-4 + j), 1e-5) << j;
  }
  EXPECT_NEAR(p.left_slope(0), dgelu(-4), 1e-5);
  EXPECT_NEAR(p.right_slope(0), dgelu(4), 1e-5);

  ASSERT_TRUE(Observe(id, "g", {4}, {-1, 0, 1, 2}).ok());
  ASSERT_TRUE(Fit(id, "g").ok());
  ExpectShapeParameters(Get(id, "g").parameters(), "gelu");
}

TEST_F(RealignmentTest, FitErrorsChangeNothing) {
  v1::UnitConfig a, b;
  a.set_name("a");
  b.set_name("b");
  const std::string id = Create({a, b});
  ASSERT_TRUE(Observe(id, "a", {3}, {1, 2, 3}).ok());
  const std::string before = Snapshot(id);

  auto s = Fit(id, "b").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("no batches observed"));
  // All units: b has no batches, so a is not fitted either.
  s = Fit(id, "").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("unit 'b'"));
  for (double k : {0.0, -1.0, double{NAN}, double{INFINITY}}) {
    s = Fit(id, "a", k).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("sigma_multiplier"));
  }
  EXPECT_EQ(Snapshot(id), before);

  ASSERT_TRUE(Fit(id, "a").ok());
  const std::string fitted = Snapshot(id);
  s = Fit(id, "a").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("already in phase TRAINING"));
  EXPECT_EQ(Snapshot(id), fitted);
}

TEST_F(RealignmentTest, FitAllFitsUnitsInStatisticsOnly) {
  v1::UnitConfig a, b, c;
  a.set_name("a");
  b.set_name("b");
  b.set_fixed_bounds(true);
  c.set_name("c");
  const std::string id = Create({a, b, c});
  ASSERT_TRUE(Observe(id, "a", {2}, {1, 2}).ok());
  ASSERT_TRUE(Observe(id, "c", {2}, {3, 5}).ok());
  ASSERT_TRUE(Fit(id, "c").ok());
  const int64_t b_version = Get(id, "b").version();
  const int64_t c_version = Get(id, "c").version();
  auto fit = Fit(id, "");
  ASSERT_TRUE(fit.ok()) << fit.status();
  ASSERT_EQ(fit->units_size(), 1);
  EXPECT_EQ(fit->units(0).unit(), "a");
  EXPECT_EQ(fit->units(0).left_bound(0), 1.5f - 3 * 0.5f);
  EXPECT_EQ(Get(id, "a").phase(), v1::TRAINING);
  EXPECT_EQ(Get(id, "b").version(), b_version);
  EXPECT_EQ(Get(id, "c").version(), c_version);
}

}  // namespace
}  // namespace actlab
