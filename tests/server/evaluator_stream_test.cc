// Copyright actlab authors.
//
// The evaluator's one plan path: a request run in chunks of whole rows
// gives the one-piece Evaluate's outputs bit for bit and its parameter
// gradients up to summation order; stream headers are validated like
// requests; and batch moments gathered in parts equal the one-piece ones.

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/baseline.h"
#include "kernels/running_moments.h"
#include "server/evaluator.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

v1::Tensor Tensor(const std::vector<int64_t>& shape, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 2.f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  v1::Tensor t;
  t.set_dtype(v1::FLOAT32);
  for (int64_t d : shape) t.add_shape(d);
  t.set_data(reinterpret_cast<const char*>(v.data()), n * sizeof(float));
  return t;
}

v1::EvaluateRequest ChannelPwlu() {
  v1::EvaluateRequest request;
  request.set_activation("pwlu");
  *request.mutable_input() = Tensor({3, 4, 10}, 120, 1);
  *request.mutable_grad_output() = Tensor({3, 4, 10}, 120, 2);
  v1::PwluParameters& p = *request.mutable_pwlu();
  p.set_intervals(3);
  p.set_granularity(v1::CHANNEL);
  for (int u = 0; u < 4; ++u) {
    p.add_left_bound(-1.f - u);
    p.add_right_bound(1.f + u);
    for (int j = 0; j <= 3; ++j) p.add_values(0.5f * j - 0.2f * u);
    p.add_left_slope(0.1f);
    p.add_right_slope(0.9f);
  }
  return request;
}

class EvaluatorStreamTest : public ::testing::Test {
 protected:
  BaselineEngine baselines_;
  // No session units here, so no SessionManager.
  Evaluator evaluator_{&baselines_, nullptr, 1 << 20};
};

TEST_F(EvaluatorStreamTest, ChunksOfWholeRowsMatchOneEvaluate) {
  v1::EvaluateRequest request = ChannelPwlu();
  v1::EvaluateRequest header = request;
  header.mutable_input()->clear_data();
  header.mutable_grad_output()->clear_data();
  absl::StatusOr<EvaluatePlan> plan =
      evaluator_.PlanStream(Principal::Anonymous(), header);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->row_elements(), 40);
  EXPECT_EQ(plan->elements(), 120);
  EXPECT_TRUE(plan->backward());

  std::string x = request.input().data();
  std::string dy = request.grad_output().data();
  for (int64_t offset : {0, 40}) {
    const int64_t n = offset == 0 ? 40 : 80;
    ASSERT_TRUE(plan->Run(reinterpret_cast<float*>(x.data()) + offset,
                          reinterpret_cast<float*>(dy.data()) + offset, n)
                    .ok());
  }
  v1::EvaluateStreamResponse streamed;
  plan->TakeResults(&streamed);

  v1::EvaluateResponse whole;
  ASSERT_TRUE(
      evaluator_.Evaluate(Principal::Anonymous(), &request, &whole).ok());
  EXPECT_TRUE(x == whole.output().data());
  EXPECT_TRUE(dy == whole.grad_input().data());
  ASSERT_EQ(streamed.grad_pwlu().values_size(),
            whole.grad_pwlu().values_size());
  for (int i = 0; i < whole.grad_pwlu().values_size(); ++i) {
    EXPECT_NEAR(streamed.grad_pwlu().values(i), whole.grad_pwlu().values(i),
                1e-5);
  }
  EXPECT_EQ(streamed.grad_pwlu().granularity(), v1::CHANNEL);
  EXPECT_FALSE(streamed.has_grad_prelu_slope());
}

TEST_F(EvaluatorStreamTest, PartialRowsAreRefused) {
  v1::EvaluateRequest header = ChannelPwlu();
  header.mutable_input()->clear_data();
  header.mutable_grad_output()->clear_data();
  absl::StatusOr<EvaluatePlan> plan =
      evaluator_.PlanStream(Principal::Anonymous(), header);
  ASSERT_TRUE(plan.ok());
  std::vector<float> x(30), dy(30);
  EXPECT_EQ(plan->Run(x.data(), dy.data(), 30).code(),
            absl::StatusCode::kInternal);
}

TEST_F(EvaluatorStreamTest, HeaderIsValidatedLikeARequest) {
  v1::EvaluateRequest header = ChannelPwlu();
  header.mutable_grad_output()->clear_data();
  absl::StatusOr<EvaluatePlan> plan =
      evaluator_.PlanStream(Principal::Anonymous(), header);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("input.data: must be empty"));

  header.mutable_input()->clear_data();
  header.mutable_pwlu()->set_intervals(0);
  plan = evaluator_.PlanStream(Principal::Anonymous(), header);
  EXPECT_THAT(plan.status().message(), HasSubstr("pwlu"));

  // The element cap is the caller's: a header may declare more than one
  // message could carry.
  v1::EvaluateRequest big;
  big.set_activation("relu");
  big.mutable_input()->set_dtype(v1::FLOAT32);
  big.mutable_input()->add_shape(int64_t{1} << 30);
  plan = evaluator_.PlanStream(Principal::Anonymous(), big);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->row_elements(), 1);
}

TEST(MomentAccumulatorTest, PartsMergeToTheOnePieceMoments) {
  const ChannelLayout whole{12, 3, 7};
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(5.f, 3.f);
  std::vector<float> x(whole.size());
  for (float& v : x) v = normal(rng);
  for (bool per_channel : {false, true}) {
    absl::StatusOr<BatchMoments> want =
        ComputeBatchMoments(whole, per_channel, x.data());
    ASSERT_TRUE(want.ok());
    MomentAccumulator parts;
    int64_t row = 0;
    for (int64_t rows : {1, 5, 2, 4}) {
      ASSERT_TRUE(parts
                      .Add({rows, 3, 7}, per_channel,
                           x.data() + row * whole.channels * whole.inner)
                      .ok());
      row += rows;
    }
    absl::StatusOr<BatchMoments> got = parts.Moments();
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->mean.size(), want->mean.size());
    for (size_t u = 0; u < want->mean.size(); ++u) {
      EXPECT_NEAR(got->mean[u], want->mean[u], 1e-12 * std::abs(want->mean[u]));
      EXPECT_NEAR(got->std[u], want->std[u], 1e-12 * want->std[u]);
    }
  }
  MomentAccumulator empty;
  EXPECT_EQ(empty.Moments().status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> bad = {1.f, std::nanf(""), 2.f};
  EXPECT_THAT(empty.Add({1, 1, 3}, false, bad.data()).message(),
              HasSubstr("element 1 is nan"));
}

}  // namespace
}  // namespace actlab
