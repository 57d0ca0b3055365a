// Copyright actlab authors.
//
// Bad input over the wire: each case must come back with the right gRPC code
// and a message naming the field and the reason, change no state, and leave
// the server serving. One real server process serves the whole suite.

#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/api_server_test.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/wire_tensor.h"

namespace actlab {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

v1::Tensor Zeros(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return Floats(shape, std::vector<float>(n, 0.5f));
}

// A valid layer-wise PWLU shaped as ReLU on [-2, 2] with N = 4.
v1::PwluParameters ReluPwlu() {
  v1::PwluParameters p;
  p.set_intervals(4);
  p.set_granularity(v1::LAYER);
  p.add_left_bound(-2);
  p.add_right_bound(2);
  for (float y : {0.f, 0.f, 0.f, 1.f, 2.f}) p.add_values(y);
  p.add_left_slope(0);
  p.add_right_slope(1);
  return p;
}

class ApiErrorsTest : public ApiServerTest {
 protected:
  static void SetUpTestSuite() { StartServer(); }

  static grpc::Status Evaluate(const v1::EvaluateRequest& request,
                               v1::EvaluateResponse* response = nullptr) {
    v1::EvaluateResponse ignored;
    grpc::ClientContext context;
    return stub_->Evaluate(&context, request, response ? response : &ignored);
  }

  static void ExpectInvalid(const v1::EvaluateRequest& request,
                            const std::string& field,
                            const std::string& reason) {
    v1::EvaluateResponse response;
    grpc::Status status = Evaluate(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message();
    EXPECT_THAT(status.error_message(),
                AllOf(HasSubstr(field), HasSubstr(reason)));
    EXPECT_FALSE(response.has_output());
  }
};

v1::EvaluateRequest Gelu(v1::Tensor input) {
  v1::EvaluateRequest request;
  request.set_activation("gelu");
  *request.mutable_input() = std::move(input);
  return request;
}

TEST_F(ApiErrorsTest, DataLengthMustMatchTheShape) {
  v1::EvaluateRequest request = Gelu(Zeros({2, 3}));
  request.mutable_input()->mutable_data()->resize(20);
  ExpectInvalid(request, "input.data", "needs 24");
}

TEST_F(ApiErrorsTest, NegativeDimension) {
  v1::EvaluateRequest request = Gelu(Zeros({2, 3}));
  request.mutable_input()->set_shape(1, -3);
  ExpectInvalid(request, "input.shape[1]", ">= 0");
}

TEST_F(ApiErrorsTest, ShapeProductOverflow) {
  v1::EvaluateRequest request = Gelu(Zeros({1}));
  request.mutable_input()->clear_shape();
  for (int i = 0; i < 3; ++i) {
    request.mutable_input()->add_shape(std::numeric_limits<int64_t>::max() / 4);
  }
  ExpectInvalid(request, "input.shape", "overflows");
}

TEST_F(ApiErrorsTest, UnknownActivation) {
  v1::EvaluateRequest request = Gelu(Zeros({4}));
  request.set_activation("relu7");
  ExpectInvalid(request, "relu7", "unknown activation");
}

TEST_F(ApiErrorsTest, UnknownParameter) {
  v1::EvaluateRequest request = Gelu(Zeros({4}));
  request.set_activation("elu");
  (*request.mutable_params())["gamma"] = 1.0;
  ExpectInvalid(request, "gamma", "unknown parameter");
}

TEST_F(ApiErrorsTest, ParameterOutOfRange) {
  v1::EvaluateRequest request = Gelu(Zeros({4}));
  request.set_activation("leaky_relu");
  (*request.mutable_params())["alpha"] = 7.0;
  ExpectInvalid(request, "alpha", "[0, 1]");
}

TEST_F(ApiErrorsTest, ChannelAxisOutOfRange) {
  v1::EvaluateRequest request;
  request.set_activation("prelu");
  *request.mutable_input() = Zeros({2, 3});
  *request.mutable_prelu_slope() = Zeros({3});
  request.set_channel_axis(2);
  ExpectInvalid(request, "channel_axis", "out of range");
}

TEST_F(ApiErrorsTest, PreluSlopeCountMustEqualChannels) {
  v1::EvaluateRequest request;
  request.set_activation("prelu");
  *request.mutable_input() = Zeros({2, 3, 4});
  *request.mutable_prelu_slope() = Zeros({4});
  ExpectInvalid(request, "prelu_slope.shape", "must be [3]");
}

TEST_F(ApiErrorsTest, GradOutputShapeMustEqualInputShape) {
  v1::EvaluateRequest request = Gelu(Zeros({2, 3}));
  *request.mutable_grad_output() = Zeros({3, 2});
  ExpectInvalid(request, "grad_output.shape", "must equal input.shape");
}

TEST_F(ApiErrorsTest, UnsupportedDtype) {
  v1::EvaluateRequest request = Gelu(Zeros({2}));
  request.mutable_input()->set_dtype(v1::FLOAT16);
  ExpectInvalid(request, "input.dtype", "FLOAT16");
}

TEST_F(ApiErrorsTest, PwluWithoutParameters) {
  v1::EvaluateRequest request = Gelu(Zeros({4}));
  request.set_activation("pwlu");
  ExpectInvalid(request, "pwlu", "set pwlu");
}

TEST_F(ApiErrorsTest, PwluBoundariesOutOfOrder) {
  v1::EvaluateRequest request = Gelu(Zeros({4}));
  request.set_activation("pwlu");
  *request.mutable_pwlu() = ReluPwlu();
  request.mutable_pwlu()->set_left_bound(0, 3.0f);
  ExpectInvalid(request, "pwlu", "left_bound");
}

TEST_F(ApiErrorsTest, PwluValuesOfTheWrongLength) {
  v1::EvaluateRequest request = Gelu(Zeros({4}));
  request.set_activation("pwlu");
  *request.mutable_pwlu() = ReluPwlu();
  request.mutable_pwlu()->add_values(3.0f);
  ExpectInvalid(request, "pwlu", "values");
}

TEST_F(ApiErrorsTest, ChannelWisePwluNeedsOneUnitPerChannel) {
  v1::EvaluateRequest request = Gelu(Zeros({2, 3, 4}));
  request.set_activation("pwlu");
  *request.mutable_pwlu() = ReluPwlu();
  request.mutable_pwlu()->set_granularity(v1::CHANNEL);
  ExpectInvalid(request, "3 channels", "1 units");
}

TEST_F(ApiErrorsTest, PwluInlineForwardAndBackwardOverTheWire) {
  v1::EvaluateRequest request = Gelu(Floats({5}, {-3, -1, 0.5, 1.5, 4}));
  request.set_activation("pwlu");
  *request.mutable_pwlu() = ReluPwlu();
  *request.mutable_grad_output() = Floats({5}, {1, 1, 1, 1, 1});
  v1::EvaluateResponse response;
  grpc::Status status = Evaluate(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<float> y(5), dx(5);
  ASSERT_EQ(response.output().data().size(), 20u);
  std::memcpy(y.data(), response.output().data().data(), 20);
  std::memcpy(dx.data(), response.grad_input().data().data(), 20);
  EXPECT_EQ(y, (std::vector<float>{0, 0, 0.5, 1.5, 4}));
  EXPECT_EQ(dx, (std::vector<float>{0, 0, 1, 1, 1}));
  // Breakpoints -2..2 a unit apart. x = -3 is on the left tail (Y[0] and
  // K_L with x - B_L = -1), x = -1 sits on breakpoint 1, x = 0.5 and 1.5
  // split half and half, x = 4 is on the right tail (Y[4], K_R with 2).
  const v1::PwluParameters& grad = response.grad_pwlu();
  EXPECT_EQ(std::vector<float>(grad.values().begin(), grad.values().end()),
            (std::vector<float>{1, 1, 0.5, 1, 1.5}));
  EXPECT_EQ(grad.left_slope(0), -1.0f);
  EXPECT_EQ(grad.right_slope(0), 2.0f);
  EXPECT_GT(response.kernel_ns(), 0);
  EXPECT_GE(response.handling_ns(), response.kernel_ns());
}

TEST_F(ApiErrorsTest, UnknownSessionAndUnitAreNotFound) {
  grpc::ClientContext context;
  v1::GetUnitRequest request;
  request.mutable_unit()->set_session_id("00000000000000000000000000000000");
  request.mutable_unit()->set_unit("act");
  v1::GetUnitResponse response;
  grpc::Status status = stub_->GetUnit(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  v1::UnitConfig unit;
  unit.set_name("act");
  const std::string session = CreateSession({unit});
  v1::EvaluateRequest eval = Gelu(Zeros({4}));
  eval.set_activation("pwlu");
  eval.mutable_unit()->set_session_id(session);
  eval.mutable_unit()->set_unit("missing");
  status = Evaluate(eval);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("missing"));
}

TEST_F(ApiErrorsTest, FitBoundariesBeforeObserveIsFailedPrecondition) {
  v1::UnitConfig unit;
  unit.set_name("act");
  const std::string session = CreateSession({unit});
  const v1::Unit before = GetUnit(session, "act");
  grpc::ClientContext context;
  v1::FitBoundariesRequest request;
  request.set_session_id(session);
  request.set_unit("act");
  v1::FitBoundariesResponse response;
  grpc::Status status = stub_->FitBoundaries(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      before, GetUnit(session, "act")));
}

TEST_F(ApiErrorsTest, ObserveWithTheWrongChannelCountNamesBoth) {
  v1::UnitConfig unit;
  unit.set_name("act");
  unit.set_granularity(v1::CHANNEL);
  unit.set_channels(3);
  const std::string session = CreateSession({unit});
  const v1::Unit before = GetUnit(session, "act");
  grpc::ClientContext context;
  v1::ObserveRequest request;
  request.mutable_unit()->set_session_id(session);
  request.mutable_unit()->set_unit("act");
  *request.mutable_input() = Zeros({2, 5});
  v1::ObserveResponse response;
  grpc::Status status = stub_->Observe(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), AllOf(HasSubstr("5"), HasSubstr("3")));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      before, GetUnit(session, "act")));
}

TEST_F(ApiErrorsTest, ObserveRefusesNonFiniteBatches) {
  v1::UnitConfig unit;
  unit.set_name("act");
  const std::string session = CreateSession({unit});
  grpc::ClientContext context;
  v1::ObserveRequest request;
  request.mutable_unit()->set_session_id(session);
  request.mutable_unit()->set_unit("act");
  *request.mutable_input() =
      Floats({3}, {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f});
  v1::ObserveResponse response;
  grpc::Status status = stub_->Observe(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetUnit(session, "act").stats().batches(), 0);
}

TEST_F(ApiErrorsTest, UnitConfigOutOfRange) {
  v1::UnitConfig unit;
  unit.set_name("act");
  unit.set_momentum(1.5);
  grpc::ClientContext context;
  v1::CreateSessionRequest request;
  *request.add_units() = unit;
  v1::CreateSessionResponse response;
  grpc::Status status = stub_->CreateSession(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("momentum"));
  grpc::ClientContext list_context;
  v1::ListSessionsResponse sessions;
  ASSERT_TRUE(
      stub_->ListSessions(&list_context, v1::ListSessionsRequest(), &sessions)
          .ok());
  for (const v1::Session& s : sessions.sessions()) {
    EXPECT_NE(s.unit_names_size(), 0);
  }
}

}  // namespace
}  // namespace actlab
