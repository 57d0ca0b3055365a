// Copyright actlab authors.

#include "kernels/running_moments.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

std::vector<float> RandomTensor(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.5f, 2.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// Direct reference: gathers each channel's elements by index, then mean and
// population std in double.
void Reference(const std::vector<float>& x, const ChannelLayout& l,
               bool per_channel, std::vector<double>* mean,
               std::vector<double>* std) {
  const int64_t units = per_channel ? l.channels : 1;
  std::vector<std::vector<double>> members(units);
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t c = 0; c < l.channels; ++c) {
      for (int64_t i = 0; i < l.inner; ++i) {
        members[per_channel ? c : 0].push_back(
            x[(o * l.channels + c) * l.inner + i]);
      }
    }
  }
  mean->clear();
  std->clear();
  for (const auto& m : members) {
    double s = 0;
    for (double v : m) s += v;
    const double mu = s / m.size();
    double ss = 0;
    for (double v : m) ss += (v - mu) * (v - mu);
    mean->push_back(mu);
    std->push_back(std::sqrt(ss / m.size()));
  }
}

void ExpectMatchesReference(const std::vector<int64_t>& shape, int axis,
                            bool per_channel) {
  const ChannelLayout layout = *MakeChannelLayout(shape, axis);
  const std::vector<float> x = RandomTensor(layout.size(), 7);
  auto m = ComputeBatchMoments(layout, per_channel, x.data());
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<double> mean, std;
  Reference(x, layout, per_channel, &mean, &std);
  ASSERT_EQ(m->mean.size(), mean.size());
  ASSERT_EQ(m->std.size(), std.size());
  for (size_t u = 0; u < mean.size(); ++u) {
    EXPECT_NEAR(m->mean[u], mean[u], 1e-12 * (1 + std::fabs(mean[u])));
    EXPECT_NEAR(m->std[u], std[u], 1e-12 * (1 + std[u]));
  }
}

TEST(RunningMomentsTest, LayerWiseMatchesDirectComputation) {
  ExpectMatchesReference({4, 3, 5, 6}, 1, false);
}

TEST(RunningMomentsTest, ChannelWiseNchwMatchesDirectComputation) {
  ExpectMatchesReference({4, 3, 5, 6}, 1, true);
}

TEST(RunningMomentsTest, ChannelWiseNhwcMatchesDirectComputation) {
  ExpectMatchesReference({4, 5, 6, 3}, -1, true);
}

TEST(RunningMomentsTest, ChannelWiseNcMatchesDirectComputation) {
  ExpectMatchesReference({17, 9}, 1, true);
}

TEST(RunningMomentsTest, PopulationStdOfKnownValues) {
  // Channel 0: {1, 3} -> mean 2, std 1 (ddof = 0). Channel 1: {5, 5} -> 0.
  const std::vector<float> x = {1, 5, 3, 5};  // NC with N = 2, C = 2
  auto m = ComputeBatchMoments({2, 2, 1}, true, x.data());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->mean, (std::vector<double>{2, 5}));
  EXPECT_EQ(m->std, (std::vector<double>{1, 0}));
}

TEST(RunningMomentsTest, LargeOffsetDoesNotCancel) {
  // A one-pass sum of squares loses everything here; two passes do not.
  const std::vector<float> x = {1e6f + 1, 1e6f - 1, 1e6f + 1, 1e6f - 1};
  auto m = ComputeBatchMoments(FlatLayout(4), false, x.data());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_DOUBLE_EQ(m->mean[0], 1e6);
  EXPECT_DOUBLE_EQ(m->std[0], 1.0);
}

TEST(RunningMomentsTest, RejectsNonFiniteNamingFirstIndex) {
  std::vector<float> x(12, 1.0f);
  x[7] = std::numeric_limits<float>::quiet_NaN();
  x[9] = std::numeric_limits<float>::infinity();
  auto m = ComputeBatchMoments({1, 3, 4}, true, x.data());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("element 7 is nan"));

  x[7] = 1.0f;
  m = ComputeBatchMoments({1, 3, 4}, false, x.data());
  EXPECT_THAT(m.status().message(), HasSubstr("element 9 is inf"));

  // +inf and -inf in one unit sum to NaN; still caught.
  x[9] = 1.0f;
  x[2] = std::numeric_limits<float>::infinity();
  x[3] = -std::numeric_limits<float>::infinity();
  m = ComputeBatchMoments({1, 3, 4}, true, x.data());
  EXPECT_THAT(m.status().message(), HasSubstr("element 2 is inf"));
}

TEST(RunningMomentsTest, CheckFinite) {
  std::vector<float> x = {0, 1, -2};
  EXPECT_TRUE(CheckFinite(x.data(), 3).ok());
  x[2] = -std::numeric_limits<float>::infinity();
  const absl::Status s = CheckFinite(x.data(), 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("element 2 is -inf"));
}

TEST(RunningMomentsTest, RejectsEmptyUnits) {
  auto m = ComputeBatchMoments({0, 3, 4}, true, nullptr);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  m = ComputeBatchMoments(FlatLayout(0), false, nullptr);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace actlab
