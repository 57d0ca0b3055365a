// Copyright actlab authors.

#include "kernels/optimizer.h"

#include <cmath>

#include "gtest/gtest.h"

namespace actlab {
namespace {

// One unit, N = 2: Y has 3 entries; 7 scalars in all.
PwluParams OneUnit() {
  PwluParams p;
  p.intervals = 2;
  p.left_bound = {-1.0f};
  p.right_bound = {1.0f};
  p.values = {0.5f, 0.0f, 1.0f};
  p.left_slope = {0.0f};
  p.right_slope = {1.0f};
  return p;
}

PwluParams OneUnitGrad() {
  PwluParams g;
  g.intervals = 2;
  g.left_bound = {0.25f};
  g.right_bound = {-0.5f};
  g.values = {1.0f, -2.0f, 0.125f};
  g.left_slope = {3.0f};
  g.right_slope = {-1.0f};
  return g;
}

TEST(OptimizerTest, PlainSgdMovesEachTrainedParameterByMinusLrTimesGrad) {
  OptimizerConfig config;
  config.kind = OptimizerKind::kSgd;
  config.learning_rate = 0.1;
  TrainableGroups groups{true, true, true};
  PwluParams p = OneUnit();
  const PwluParams before = p;
  const PwluParams g = OneUnitGrad();
  OptimizerState state;
  ASSERT_TRUE(ApplyOptimizerStep(config, groups, 1e-3, g, &p, &state).ok());
  auto expect = [](float before, float grad) {
    return static_cast<float>(static_cast<double>(before) - 0.1 * grad);
  };
  for (int j = 0; j < 3; ++j) {
    EXPECT_EQ(p.values[j], expect(before.values[j], g.values[j]));
  }
  EXPECT_EQ(p.left_slope[0], expect(before.left_slope[0], g.left_slope[0]));
  EXPECT_EQ(p.right_slope[0], expect(before.right_slope[0], g.right_slope[0]));
  EXPECT_EQ(p.left_bound[0], expect(before.left_bound[0], g.left_bound[0]));
  EXPECT_EQ(p.right_bound[0], expect(before.right_bound[0], g.right_bound[0]));
  EXPECT_EQ(state.step, 1);
}

TEST(OptimizerTest, UntrainedGroupsStayPut) {
  OptimizerConfig config;
  config.kind = OptimizerKind::kSgd;
  config.learning_rate = 0.1;
  TrainableGroups groups;  // boundaries off by default
  PwluParams p = OneUnit();
  OptimizerState state;
  ASSERT_TRUE(
      ApplyOptimizerStep(config, groups, 1e-3, OneUnitGrad(), &p, &state).ok());
  EXPECT_EQ(p.left_bound[0], -1.0f);
  EXPECT_EQ(p.right_bound[0], 1.0f);
  EXPECT_NE(p.values[0], 0.5f);
}

TEST(OptimizerTest, SgdMomentumMatchesHandComputation) {
  OptimizerConfig config;
  config.kind = OptimizerKind::kSgd;
  config.learning_rate = 0.5;
  config.momentum = 0.9;
  TrainableGroups groups{true, false, false};
  PwluParams p = OneUnit();
  PwluParams g = OneUnitGrad();
  OptimizerState state;
  // Y[0] = 0.5, grad 1 twice: buffer 1 then 0.9 + 1 = 1.9.
  ASSERT_TRUE(ApplyOptimizerStep(config, groups, 1e-3, g, &p, &state).ok());
  EXPECT_FLOAT_EQ(p.values[0], 0.5f - 0.5f * 1.0f);
  ASSERT_TRUE(ApplyOptimizerStep(config, groups, 1e-3, g, &p, &state).ok());
  EXPECT_FLOAT_EQ(p.values[0], 0.0f - 0.5f * 1.9f);
  EXPECT_DOUBLE_EQ(state.first_moment[0], 1.9);
}

TEST(OptimizerTest, AdamMatchesHandComputation) {
  OptimizerConfig config;
  config.kind = OptimizerKind::kAdam;
  config.learning_rate = 0.01;
  TrainableGroups groups{true, false, false};
  PwluParams p = OneUnit();
  PwluParams g = OneUnitGrad();
  OptimizerState state;
  double m = 0, v = 0, y = 0.5;
  for (int t = 1; t <= 3; ++t) {
    ASSERT_TRUE(ApplyOptimizerStep(config, groups, 1e-3, g, &p, &state).ok());
    const double grad = 1.0;
    m = 0.9 * m + 0.1 * grad;
    v = 0.999 * v + 0.001 * grad * grad;
    const double mhat = m / (1 - std::pow(0.9, t));
    const double vhat = v / (1 - std::pow(0.999, t));
    y = static_cast<float>(y - 0.01 * mhat / (std::sqrt(vhat) + 1e-8));
    EXPECT_FLOAT_EQ(p.values[0], static_cast<float>(y)) << "step " << t;
  }
}

TEST(OptimizerTest, WeightDecayAddsL2Gradient) {
  OptimizerConfig config;
  config.kind = OptimizerKind::kSgd;
  config.learning_rate = 0.1;
  config.weight_decay = 0.5;
  TrainableGroups groups{true, false, false};
  PwluParams p = OneUnit();
  PwluParams g = PwluParams::Zeros(2, 1);
  OptimizerState state;
  ASSERT_TRUE(ApplyOptimizerStep(config, groups, 1e-3, g, &p, &state).ok());
  EXPECT_FLOAT_EQ(p.values[0], 0.5f - 0.1f * 0.25f);
}

TEST(OptimizerTest, BoundariesNeverCross) {
  OptimizerConfig config;
  config.kind = OptimizerKind::kSgd;
  config.learning_rate = 10.0;
  TrainableGroups groups{false, false, true};
  PwluParams p = OneUnit();
  PwluParams g = PwluParams::Zeros(2, 1);
  g.left_bound = {-1.0f};  // pushes B_L to +9
  g.right_bound = {1.0f};  // pushes B_R to -9
  OptimizerState state;
  ASSERT_TRUE(ApplyOptimizerStep(config, groups, 0.25, g, &p, &state).ok());
  EXPECT_FLOAT_EQ(p.right_bound[0] - p.left_bound[0], 0.25f);
  EXPECT_FLOAT_EQ(p.left_bound[0] + p.right_bound[0], 0.0f);
}

TEST(OptimizerTest, NonFiniteStepIsRefusedAndChangesNothing) {
  OptimizerConfig config;
  config.kind = OptimizerKind::kSgd;
  config.learning_rate = 1e38;
  TrainableGroups groups;
  PwluParams p = OneUnit();
  PwluParams g = OneUnitGrad();
  g.values = {1e10f, 0, 0};
  OptimizerState state;
  absl::Status status = ApplyOptimizerStep(config, groups, 1e-3, g, &p, &state);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.values, OneUnit().values);
  EXPECT_EQ(state.step, 0);
}

TEST(OptimizerTest, ConfigOutOfRangeNamesTheField) {
  OptimizerConfig config;
  config.learning_rate = -1;
  EXPECT_NE(ValidateOptimizerConfig(config).message().find("learning_rate"),
            absl::string_view::npos);
  config = OptimizerConfig();
  config.beta2 = 1.0;
  EXPECT_NE(ValidateOptimizerConfig(config).message().find("beta2"),
            absl::string_view::npos);
  config = OptimizerConfig();
  config.kind = OptimizerKind::kSgd;
  config.momentum = NAN;
  EXPECT_NE(ValidateOptimizerConfig(config).message().find("momentum"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace actlab
