// Copyright actlab authors.

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/pwlu.h"
#include "kernels/pwlu_kernels.h"
#include "tests/kernels/pwlu_test_util.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

void ExpectInvalid(const absl::Status& s, const std::string& field) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(field));
}

TEST(PwluValidationTest, AcceptsWellFormedParams) {
  EXPECT_TRUE(ValidatePwluParams(testing::MakeParams(16, 3, 1)).ok());
  EXPECT_TRUE(ValidatePwluParams(testing::MakeParams(1, 1, 1)).ok());
  EXPECT_TRUE(ValidatePwluParams(testing::MakeParams(1024, 1, 1)).ok());
}

TEST(PwluValidationTest, IntervalsOutOfRange) {
  for (int n : {0, -1, 1025}) {
    PwluParams p = testing::MakeParams(4, 1, 1);
    p.intervals = n;
    ExpectInvalid(ValidatePwluParams(p), "intervals");
  }
}

TEST(PwluValidationTest, NoUnits) {
  ExpectInvalid(ValidatePwluParams(PwluParams::Zeros(4, 0)), "left_bound");
}

TEST(PwluValidationTest, WrongLengths) {
  PwluParams p = testing::MakeParams(4, 2, 1);
  p.right_bound.pop_back();
  ExpectInvalid(ValidatePwluParams(p), "right_bound");
  p = testing::MakeParams(4, 2, 1);
  p.values.push_back(0);
  ExpectInvalid(ValidatePwluParams(p), "values");
  p = testing::MakeParams(4, 2, 1);
  p.left_slope.clear();
  ExpectInvalid(ValidatePwluParams(p), "left_slope");
  p = testing::MakeParams(4, 2, 1);
  p.right_slope.push_back(1);
  ExpectInvalid(ValidatePwluParams(p), "right_slope");
}

TEST(PwluValidationTest, BoundsOutOfOrder) {
  PwluParams p = testing::MakeParams(4, 2, 1);
  p.left_bound[1] = p.right_bound[1];
  ExpectInvalid(ValidatePwluParams(p), "left_bound[1]");
  p.left_bound[1] = p.right_bound[1] + 1;
  ExpectInvalid(ValidatePwluParams(p), "left_bound[1]");
}

TEST(PwluValidationTest, NonFiniteParameters) {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (float v : bad) {
    PwluParams p = testing::MakeParams(4, 2, 1);
    p.left_bound[0] = v;
    ExpectInvalid(ValidatePwluParams(p), "left_bound[0]");
    p = testing::MakeParams(4, 2, 1);
    p.right_bound[1] = v;
    ExpectInvalid(ValidatePwluParams(p), "right_bound[1]");
    p = testing::MakeParams(4, 2, 1);
    p.values[7] = v;
    ExpectInvalid(ValidatePwluParams(p), "values[7]");
    p = testing::MakeParams(4, 2, 1);
    p.left_slope[1] = v;
    ExpectInvalid(ValidatePwluParams(p), "left_slope[1]");
    p = testing::MakeParams(4, 2, 1);
    p.right_slope[0] = v;
    ExpectInvalid(ValidatePwluParams(p), "right_slope[0]");
  }
}

TEST(PwluValidationTest, DerivedValuesMustFitFloat) {
  PwluParams p = testing::MakeParams(4, 1, 1);
  p.left_bound[0] = 0;
  p.right_bound[0] = 1e-44f;
  ExpectInvalid(ValidatePwluParams(p), "right_bound[0]");
  p = testing::MakeParams(4, 1, 1);
  p.values[2] = 1e38f;
  p.values[3] = -1e38f;
  ExpectInvalid(ValidatePwluParams(p), "values[3]");
  p = testing::MakeParams(4, 2, 1);
  p.left_slope[1] = 2e38f;
  ExpectInvalid(ValidatePwluParams(p), "left_slope[1]");
  p = testing::MakeParams(4, 2, 1);
  p.right_slope[0] = -2e38f;
  ExpectInvalid(ValidatePwluParams(p), "right_slope[0]");
}

TEST(PwluValidationTest, EntryPointsValidate) {
  PwluParams p = testing::MakeParams(4, 3, 1);
  std::vector<float> x(12, 0.5f), y(12), dx(12);
  PwluParams grad;
  // Channel-wise: units must match the channel count.
  ExpectInvalid(PwluForward(p, ChannelLayout{2, 2, 3}, x.data(), y.data()),
                "layout.channels");
  ExpectInvalid(PwluBackward(p, ChannelLayout{2, 2, 3}, x.data(), x.data(),
                             dx.data(), &grad),
                "layout.channels");
  EXPECT_TRUE(PwluForward(p, ChannelLayout{2, 3, 2}, x.data(), y.data()).ok());
  // Layer-wise: one unit fits any layout.
  PwluParams one = testing::MakeParams(4, 1, 1);
  EXPECT_TRUE(
      PwluForward(one, ChannelLayout{2, 2, 3}, x.data(), y.data()).ok());
  p.right_bound[2] = p.left_bound[2];
  ExpectInvalid(PwluForward(p, ChannelLayout{2, 3, 2}, x.data(), y.data()),
                "left_bound[2]");
  ExpectInvalid(
      PwluBackward(one, FlatLayout(12), x.data(), x.data(), dx.data(), nullptr),
      "grad");
  ExpectInvalid(PwluForward(one, ChannelLayout{-1, 1, 1}, x.data(), y.data()),
                "layout");
}

TEST(PwluValidationTest, EmptyTensorIsFine) {
  PwluParams p = testing::MakeParams(4, 2, 1);
  PwluParams grad;
  EXPECT_TRUE(PwluForward(p, ChannelLayout{0, 2, 5}, nullptr, nullptr).ok());
  ASSERT_TRUE(
      PwluBackward(p, ChannelLayout{0, 2, 5}, nullptr, nullptr, nullptr, &grad)
          .ok());
  EXPECT_EQ(grad.units(), 2);
  EXPECT_EQ(grad.values, std::vector<float>(10, 0.0f));
}

TEST(PwluValidationTest, ForcedKernelMustSupportN) {
  const PwluKernel* small = nullptr;
  for (const PwluKernel& k : PwluKernels()) {
    if (k.max_intervals < kPwluMaxIntervals) small = &k;
  }
  ASSERT_NE(small, nullptr);
  PwluParams p = testing::MakeParams(small->max_intervals + 1, 1, 1);
  std::vector<float> x(4, 0.5f), y(4);
  const absl::Status s =
      PwluForwardWithKernel(*small, p, FlatLayout(4), x.data(), y.data());
  if (PwluIsaSupported(small->isa)) {
    ExpectInvalid(s, "intervals");
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(PwluDispatchTest, NeverScalarOnSimdMachines) {
  for (int n : {1, 4, 16, 30, 31, 64, 1024}) {
    const PwluKernel& k = PwluSelectKernel(n);
    EXPECT_LE(n, k.max_intervals);
    EXPECT_TRUE(PwluIsaSupported(k.isa));
    EXPECT_EQ(std::string(PwluKernelName(n)), k.name);
    if (PwluIsaSupported(PwluIsa::kAvx2)) {
      EXPECT_NE(k.isa, PwluIsa::kScalar);
    }
    if (PwluIsaSupported(PwluIsa::kAvx512)) {
      EXPECT_EQ(k.isa, PwluIsa::kAvx512);
    }
  }
  if (PwluIsaSupported(PwluIsa::kAvx512)) {
    EXPECT_STREQ(PwluKernelName(16), "avx512_regtable");
    EXPECT_STREQ(PwluKernelName(30), "avx512_regtable");
    EXPECT_STREQ(PwluKernelName(31), "avx512_regtable64");
    EXPECT_STREQ(PwluKernelName(64), "avx512_regtable64");
    EXPECT_STREQ(PwluKernelName(65), "avx512_gather");
  }
}

}  // namespace
}  // namespace actlab
