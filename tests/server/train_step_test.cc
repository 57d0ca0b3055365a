// Copyright actlab authors.
//
// TrainStep: the update is exactly one optimizer step on the PWLU gradient
// (checked against a double-precision reference written here), settings
// and Adam state persist per unit across restarts, bad calls change
// nothing, and consecutive steps form runs.

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/pwlu.h"
#include "server/session/training_settings.h"
#include "tests/server/train_test_util.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

// dL/dx and dL/dparams of a PWLU in double, straight from the gradient
// table of ../shared/docs/pwlu.md section 3, for a [outer, C, inner] tensor.
struct DoubleGrad {
  std::vector<double> dx, values, left_bound, right_bound, left_slope,
      right_slope;
};

DoubleGrad ReferenceBackward(const PwluParams& p, int64_t outer,
                             int64_t channels, int64_t inner,
                             const std::vector<float>& x,
                             const std::vector<float>& dy) {
  const int n = p.intervals;
  const int64_t units = p.units();
  DoubleGrad g;
  g.dx.resize(x.size());
  g.values.assign(p.values.size(), 0);
  g.left_bound.assign(units, 0);
  g.right_bound.assign(units, 0);
  g.left_slope.assign(units, 0);
  g.right_slope.assign(units, 0);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t u = units == 1 ? 0 : c;
      const double bl = p.left_bound[u], br = p.right_bound[u];
      std::vector<double> y(p.unit_values(u), p.unit_values(u) + n + 1);
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t e = (o * channels + c) * inner + i;
        const double xv = x[e], d = dy[e];
        double* yg = g.values.data() + u * (n + 1);
        if (xv < bl) {
          g.dx[e] = p.left_slope[u] * d;
          yg[0] += d;
          g.left_slope[u] += (xv - bl) * d;
          g.left_bound[u] += -p.left_slope[u] * d;
        } else if (xv >= br) {
          g.dx[e] = p.right_slope[u] * d;
          yg[n] += d;
          g.right_slope[u] += (xv - br) * d;
          g.right_bound[u] += -p.right_slope[u] * d;
        } else {
          const double w = br - bl, t = (xv - bl) / (w / n);
          const int k = std::min(std::max(static_cast<int>(t), 0), n - 1);
          const double frac = t - k, slope = (y[k + 1] - y[k]) / (w / n);
          g.dx[e] = slope * d;
          yg[k] += (1 - frac) * d;
          yg[k + 1] += frac * d;
          g.left_bound[u] += -slope * (br - xv) / w * d;
          g.right_bound[u] += -slope * (xv - bl) / w * d;
        }
      }
    }
  }
  return g;
}

// Inputs spread over both tails and the interior of [-3, 3] that stay
// 1e-3 away from every breakpoint: at a breakpoint the slope jumps, so a
// float kernel and a double reference could disagree on the side.
std::vector<float> Inputs(int count, int intervals, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-4.5, 4.5);
  const double d = 6.0 / intervals;
  std::vector<float> x;
  while (static_cast<int>(x.size()) < count) {
    const double v = dist(rng);
    const double to_break = std::abs(v + 3 - d * std::round((v + 3) / d));
    if (to_break > 1e-3) x.push_back(static_cast<float>(v));
  }
  return x;
}

std::vector<float> Upstream(int count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<float> dy(count);
  for (float& v : dy) v = static_cast<float>(dist(rng));
  return dy;
}

double Norm(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x * x;
  return sum;
}

// torch.testing's float32 tolerances, atol 1e-5 and rtol 1.3e-6: the float
// kernel's terms differ from the reference only by float rounding of the
// interval position and the final rounding to float (relative ~1e-7 each).
// `scale` is the magnitude to be relative to: the value itself for dx, the
// group's largest gradient for sums of ~100 terms of either sign, where the
// error follows the terms rather than a possibly cancelled total.
void ExpectClose(double actual, double expected, double scale,
                 const std::string& what) {
  EXPECT_NEAR(actual, expected, 1e-5 + 1.3e-6 * scale) << what;
}

TEST_F(TrainTest, SgdStepIsMinusLrTimesTheGradientAndGradientsMatchDouble) {
  constexpr int kIntervals = 8, kChannels = 3, kOuter = 4, kInner = 25;
  const std::string session = CreateFixed(kIntervals, kChannels);
  constexpr int kCount = kOuter * kChannels * kInner;
  const std::vector<float> x = Inputs(kCount, kIntervals, 1);
  const std::vector<float> dy = Upstream(kCount, 2);
  const PwluParams before = Params(session);

  // The kernel gradient the manager will apply, and its double reference.
  PwluParams grad;
  std::vector<float> dx(kCount);
  ASSERT_TRUE(PwluBackward(before, {kOuter, kChannels, kInner}, x.data(),
                           dy.data(), dx.data(), &grad)
                  .ok());
  const DoubleGrad ref =
      ReferenceBackward(before, kOuter, kChannels, kInner, x, dy);
  const auto check = [](const std::vector<float>& actual,
                        const std::vector<double>& expected,
                        const std::string& name) {
    ASSERT_EQ(actual.size(), expected.size()) << name;
    double scale = 0;
    for (double e : expected) scale = std::max(scale, std::abs(e));
    for (size_t i = 0; i < actual.size(); ++i) {
      ExpectClose(actual[i], expected[i], scale,
                  absl::StrCat(name, "[", i, "]"));
    }
  };
  check(grad.values, ref.values, "values");
  check(grad.left_slope, ref.left_slope, "left_slope");
  check(grad.right_slope, ref.right_slope, "right_slope");
  check(grad.left_bound, ref.left_bound, "left_bound");
  check(grad.right_bound, ref.right_bound, "right_bound");

  v1::TrainStepRequest request =
      StepRequest(session, {kOuter, kChannels, kInner}, x, dy);
  request.mutable_optimizer()->set_kind(v1::OptimizerSettings::SGD);
  request.mutable_optimizer()->set_learning_rate(0.05);
  request.mutable_trainable()->set_boundaries(true);
  auto response = Step(request);
  ASSERT_TRUE(response.ok()) << response.status();

  const std::vector<float> grad_input = Floats(response->grad_input());
  ASSERT_EQ(grad_input.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    ExpectClose(grad_input[i], ref.dx[i], std::abs(ref.dx[i]),
                absl::StrCat("grad_input[", i, "]"));
  }
  const double values2 = Norm(ref.values);
  const double slopes2 = Norm(ref.left_slope) + Norm(ref.right_slope);
  const double bounds2 = Norm(ref.left_bound) + Norm(ref.right_bound);
  const v1::GradientNorms& norms = response->grad_norms();
  ExpectClose(norms.values(), std::sqrt(values2), std::sqrt(values2), "|v|");
  ExpectClose(norms.slopes(), std::sqrt(slopes2), std::sqrt(slopes2), "|k|");
  ExpectClose(norms.boundaries(), std::sqrt(bounds2), std::sqrt(bounds2),
              "|b|");
  const double total = std::sqrt(values2 + slopes2 + bounds2);
  ExpectClose(norms.total(), total, total, "|total|");
  EXPECT_EQ(response->training_steps(), 1);
  EXPECT_EQ(response->run_id(), "run-000001");

  const PwluParams after = Params(session);
  const auto sgd = [](const std::vector<float>& p, const std::vector<float>& g,
                      const std::vector<float>& actual,
                      const std::string& name) {
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_EQ(actual[i], static_cast<float>(static_cast<double>(p[i]) -
                                              0.05 * static_cast<double>(g[i])))
          << name << "[" << i << "]";
    }
  };
  sgd(before.values, grad.values, after.values, "values");
  sgd(before.left_slope, grad.left_slope, after.left_slope, "left_slope");
  sgd(before.right_slope, grad.right_slope, after.right_slope, "right_slope");
  sgd(before.left_bound, grad.left_bound, after.left_bound, "left_bound");
  sgd(before.right_bound, grad.right_bound, after.right_bound, "right_bound");
  EXPECT_EQ(Get(session).training_steps(), 1);
}

TEST_F(TrainTest, UntrainedGroupsStayAndLayerUnitsSeeTheWholeTensor) {
  const std::string session = CreateFixed(16);
  const std::vector<float> x = Inputs(60, 16, 3), dy = Upstream(60, 4);
  const PwluParams before = Params(session);
  // Defaults: Adam on values and slopes, boundaries fixed.
  auto response = Step(StepRequest(session, {3, 4, 5}, x, dy));
  ASSERT_TRUE(response.ok()) << response.status();
  const PwluParams after = Params(session);
  EXPECT_EQ(after.left_bound, before.left_bound);
  EXPECT_EQ(after.right_bound, before.right_bound);
  EXPECT_NE(after.values, before.values);
  EXPECT_GT(response->grad_norms().boundaries(), 0)
      << "norms cover untrained groups too";
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].optimizer().kind(), v1::OptimizerSettings::ADAM);
  EXPECT_EQ(runs[0].optimizer().learning_rate(), 1e-3);
  EXPECT_EQ(runs[0].optimizer().beta1(), 0.9);
  EXPECT_EQ(runs[0].optimizer().beta2(), 0.999);
  EXPECT_EQ(runs[0].optimizer().epsilon(), 1e-8);
  EXPECT_EQ(runs[0].optimizer().weight_decay(), 0);
  EXPECT_TRUE(runs[0].trainable().values());
  EXPECT_TRUE(runs[0].trainable().slopes());
  EXPECT_FALSE(runs[0].trainable().boundaries());
}

// Minimises the MSE to tanh on [-2.9, 2.9] through TrainStep, the way a
// client would: forward with the unit's parameters, dL/dy = 2 (y - t) / n.
TEST_F(TrainTest, TrainStepsLowerALoss) {
  const std::string session = CreateFixed(8);
  constexpr int kPoints = 200;
  std::vector<float> x(kPoints), target(kPoints), y(kPoints), dy(kPoints);
  for (int i = 0; i < kPoints; ++i) {
    x[i] = -2.9f + 5.8f * i / (kPoints - 1);
    target[i] = std::tanh(x[i]);
  }
  std::vector<double> losses;
  for (int step = 0; step <= 60; ++step) {
    ASSERT_TRUE(
        PwluForward(Params(session), FlatLayout(kPoints), x.data(), y.data())
            .ok());
    double loss = 0;
    for (int i = 0; i < kPoints; ++i) {
      loss += (y[i] - target[i]) * (y[i] - target[i]) / kPoints;
      dy[i] = static_cast<float>(2 * (y[i] - target[i]) / kPoints);
    }
    losses.push_back(loss);
    if (step == 60) break;
    v1::TrainStepRequest request = StepRequest(session, {kPoints}, x, dy);
    request.mutable_optimizer()->set_learning_rate(0.05);
    request.set_loss(loss);
    ASSERT_TRUE(Step(request).ok());
  }
  EXPECT_LT(losses.back(), 0.05 * losses.front())
      << losses.front() << " -> " << losses.back();
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].steps(), 60);
  EXPECT_EQ(runs[0].state(), v1::Run::RUNNING);
  EXPECT_TRUE(runs[0].history().empty()) << "ListRuns omits the history";
  auto run = Run(session, runs[0].id());
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->history_size(), 60);
  EXPECT_EQ(run->history(0).step(), 1);
  EXPECT_EQ(run->history(0).loss(), losses[0]);
  EXPECT_EQ(run->history(59).step(), 60);
}

TEST_F(TrainTest, AdamStateSurvivesReopenBitForBit) {
  const std::string reopened = CreateFixed(16);
  const std::string straight = CreateFixed(16);
  const std::vector<float> x = Inputs(64, 16, 5);
  auto step = [&](const std::string& session, int i) {
    v1::TrainStepRequest request =
        StepRequest(session, {64}, x, Upstream(64, 10 + i));
    request.mutable_optimizer()->set_learning_rate(0.01);
    request.mutable_optimizer()->set_beta1(0.8);
    auto response = Step(request);
    ASSERT_TRUE(response.ok()) << response.status();
  };
  for (int i = 0; i < 3; ++i) {
    step(reopened, i);
    step(straight, i);
  }
  step(straight, 3);
  step(straight, 4);
  Reopen();
  // No settings sent: the unit's Adam (lr 0.01, beta1 0.8) and its moments
  // carry on, and so does the open run.
  for (int i = 3; i < 5; ++i) {
    auto response = Step(StepRequest(reopened, {64}, x, Upstream(64, 10 + i)));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->run_id(), "run-000001");
  }
  const PwluParams a = Params(reopened), b = Params(straight);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.left_slope, b.left_slope);
  EXPECT_EQ(a.right_slope, b.right_slope);
  EXPECT_EQ(Get(reopened).training_steps(), 5);
  const std::vector<v1::Run> runs = Runs(reopened);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].steps(), 5);
  EXPECT_EQ(runs[0].optimizer().beta1(), 0.8);
}

TEST_F(TrainTest, SwitchingKindResetsTheOptimizerState) {
  const std::string session = CreateFixed(16);
  const std::vector<float> x = Inputs(64, 16, 6), dy = Upstream(64, 7);
  v1::TrainStepRequest adam = StepRequest(session, {64}, x, dy);
  adam.mutable_optimizer()->set_learning_rate(0.01);
  ASSERT_TRUE(Step(adam).ok());
  ASSERT_TRUE(Step(adam).ok());

  // SGD with momentum after Adam: its buffer starts at this gradient, so
  // the step is plain -lr * g, not mixed with Adam's moments.
  v1::TrainStepRequest sgd = StepRequest(session, {64}, x, dy);
  sgd.mutable_optimizer()->set_kind(v1::OptimizerSettings::SGD);
  sgd.mutable_optimizer()->set_momentum(0.9);
  const PwluParams before = Params(session);
  PwluParams grad;
  std::vector<float> dx(64);
  ASSERT_TRUE(PwluBackward(before, FlatLayout(64), x.data(), dy.data(),
                           dx.data(), &grad)
                  .ok());
  auto response = Step(sgd);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->run_id(), "run-000002") << "new settings, new run";
  const PwluParams after = Params(session);
  for (size_t i = 0; i < before.values.size(); ++i) {
    // lr 0.01 was kept from the unit's settings.
    EXPECT_EQ(after.values[i],
              static_cast<float>(static_cast<double>(before.values[i]) -
                                 0.01 * static_cast<double>(grad.values[i])));
  }
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].state(), v1::Run::COMPLETED);
  EXPECT_EQ(runs[0].steps(), 2);
  EXPECT_EQ(runs[1].state(), v1::Run::RUNNING);
  EXPECT_EQ(runs[1].optimizer().kind(), v1::OptimizerSettings::SGD);
  EXPECT_EQ(runs[1].optimizer().learning_rate(), 0.01);
  EXPECT_EQ(runs[1].optimizer().momentum(), 0.9);
}

TEST_F(TrainTest, BadCallsChangeNothing) {
  const std::string session = CreateFixed(16, 4);
  v1::CreateSessionRequest phase_one;
  phase_one.add_units()->set_name("act");
  auto statistics = manager_->CreateSession(Principal::Anonymous(), phase_one);
  ASSERT_TRUE(statistics.ok());
  const std::vector<float> x = Inputs(24, 16, 8), dy = Upstream(24, 9);
  ASSERT_TRUE(Step(StepRequest(session, {2, 4, 3}, x, dy)).ok());
  const std::string unit_before = Get(session).SerializeAsString();
  const std::vector<v1::Run> runs_before = Runs(session);

  struct Case {
    v1::TrainStepRequest request;
    absl::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({StepRequest(statistics->id(), {24}, x, dy),
                   absl::StatusCode::kFailedPrecondition,
                   "is in phase STATISTICS; call FitBoundaries first"});
  cases.push_back({StepRequest(session, {2, 4, 3}, x, dy),
                   absl::StatusCode::kNotFound, "unit 'nope' not found"});
  cases.back().request.mutable_unit()->set_unit("nope");
  cases.push_back({StepRequest(session, {2, 3, 4}, x, dy),
                   absl::StatusCode::kInvalidArgument,
                   "has 3 channels along axis 1, but unit 'act'"});
  cases.push_back({StepRequest(session, {2, 4, 3}, x, dy),
                   absl::StatusCode::kInvalidArgument,
                   "grad_output: shape [2, 12] differs from the input's "
                   "[2, 4, 3]"});
  *cases.back().request.mutable_grad_output() = Tensor({2, 12}, dy);
  cases.push_back({StepRequest(session, {2, 4, 3}, x, dy),
                   absl::StatusCode::kInvalidArgument,
                   "optimizer.learning_rate: -1 is outside (0, inf)"});
  cases.back().request.mutable_optimizer()->set_learning_rate(-1);
  cases.push_back({StepRequest(session, {2, 4, 3}, x, dy),
                   absl::StatusCode::kInvalidArgument, "optimizer.beta2"});
  cases.back().request.mutable_optimizer()->set_kind(
      v1::OptimizerSettings::SGD);
  cases.back().request.mutable_optimizer()->set_beta2(1);
  cases.push_back({StepRequest(session, {2, 4, 3}, x, dy),
                   absl::StatusCode::kInvalidArgument, "optimizer.momentum"});
  cases.back().request.mutable_optimizer()->set_momentum(1);
  std::vector<float> bad = dy;
  bad[5] = NAN;
  cases.push_back({StepRequest(session, {2, 4, 3}, x, bad),
                   absl::StatusCode::kInvalidArgument, "grad_output: "});
  cases.push_back({StepRequest(session, {2, 4, 3}, x, dy),
                   absl::StatusCode::kInvalidArgument, "loss: inf"});
  cases.back().request.set_loss(INFINITY);
  cases.push_back({StepRequest(session, {2, 4, 3}, x, dy),
                   absl::StatusCode::kFailedPrecondition, "non-finite"});
  cases.back().request.mutable_optimizer()->set_kind(
      v1::OptimizerSettings::SGD);
  cases.back().request.mutable_optimizer()->set_learning_rate(1e300);
  for (const Case& c : cases) {
    v1::TrainStepResponse response;
    absl::Status status =
        manager_->TrainStep(Principal::Anonymous(), c.request, &response);
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
  }
  EXPECT_EQ(Get(session).SerializeAsString(), unit_before);
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), runs_before.size());
  EXPECT_EQ(runs[0].SerializeAsString(), runs_before[0].SerializeAsString());
  EXPECT_TRUE(Runs(statistics->id()).empty());
  Reopen();
  EXPECT_EQ(Get(session).SerializeAsString(), unit_before);
}

TEST_F(TrainTest, StepsWithoutALossCountButLeaveNoHistory) {
  const std::string session = CreateFixed(16);
  const std::vector<float> x = Inputs(32, 16, 11), dy = Upstream(32, 12);
  v1::TrainStepRequest request = StepRequest(session, {32}, x, dy);
  ASSERT_TRUE(Step(request).ok());
  request.set_loss(0.5);
  ASSERT_TRUE(Step(request).ok());
  request.clear_loss();
  ASSERT_TRUE(Step(request).ok());
  auto run = Run(session, "run-000001");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->steps(), 3);
  ASSERT_EQ(run->history_size(), 1);
  EXPECT_EQ(run->history(0).step(), 2);
  EXPECT_EQ(run->history(0).loss(), 0.5);
}

TEST(TrainHistoryTest, HistoryIsBoundedAndEvenlySpaced) {
  session::RunRecord run;
  constexpr int kOffers = 3 * kMaxHistoryPoints + 5;
  for (int i = 1; i <= kOffers; ++i) {
    OfferHistoryPoint(i, 1.0 / i, 0.01 * i, &run);
    ASSERT_LE(run.run().history_size(), kMaxHistoryPoints);
  }
  // Strides 1, 2, 4: 12293 offers keep offers 0, 4, 8, ... (steps 1, 5, ...).
  EXPECT_EQ(run.history_stride(), 4);
  const auto& history = run.run().history();
  EXPECT_EQ(history.size(), (kOffers + 3) / 4);
  for (int i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].step(), 1 + 4 * i);
    EXPECT_EQ(history[i].loss(), 1.0 / (1 + 4 * i));
  }
}

}  // namespace
}  // namespace actlab
