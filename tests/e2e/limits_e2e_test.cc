// Copyright actlab authors.
//
// Limits of a real actlab-server started with small ones: sessions in the
// store, units per session, calls in flight (health stays SERVING while
// saturated), and the idle-session TTL (reads do not keep a session,
// Observe does). Every refusal names the limit and its value.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/api_server_test.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

constexpr int kMaxSessions = 2;
constexpr int kMaxUnits = 2;
constexpr absl::Duration kTtl = absl::Seconds(2);

class LimitsE2eTest : public ApiServerTest {
 protected:
  static void SetUpTestSuite() {
    StartServer({"--max_message_mb=1",
                 absl::StrCat("--max_sessions=", kMaxSessions),
                 absl::StrCat("--max_units_per_session=", kMaxUnits),
                 "--max_calls_in_flight=1",
                 absl::StrCat("--session_ttl=", absl::FormatDuration(kTtl))});
  }

  static v1::UnitConfig Unit(const std::string& name) {
    v1::UnitConfig unit;
    unit.set_name(name);
    return unit;
  }

  static grpc::Status TryCreate(int units, std::string* id = nullptr) {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    for (int i = 0; i < units; ++i) {
      *request.add_units() = Unit(absl::StrCat("u", i));
    }
    v1::CreateSessionResponse response;
    grpc::Status status = stub_->CreateSession(&context, request, &response);
    if (id != nullptr) *id = response.session().id();
    return status;
  }

  static grpc::Status Delete(const std::string& id) {
    grpc::ClientContext context;
    v1::DeleteSessionRequest request;
    request.set_session_id(id);
    v1::DeleteSessionResponse response;
    return stub_->DeleteSession(&context, request, &response);
  }

  static grpc::Status GetSession(const std::string& id) {
    grpc::ClientContext context;
    v1::GetSessionRequest request;
    request.set_session_id(id);
    v1::GetSessionResponse response;
    return stub_->GetSession(&context, request, &response);
  }

  static grpc::Status Observe(const std::string& id) {
    grpc::ClientContext context;
    v1::ObserveRequest request;
    request.mutable_unit()->set_session_id(id);
    request.mutable_unit()->set_unit("u0");
    v1::Tensor* input = request.mutable_input();
    input->set_dtype(v1::FLOAT32);
    input->add_shape(2);
    const float x[2] = {1.5f, -0.5f};
    input->set_data(reinterpret_cast<const char*>(x), sizeof(x));
    v1::ObserveResponse response;
    return stub_->Observe(&context, request, &response);
  }
};

// With 1 MiB messages: a tensor whose reply could not be sent (output and
// grad_input of 4-byte floats) is refused by the service, a request over
// the message size by gRPC itself; both name the limit's value.
TEST_F(LimitsE2eTest, TensorAndMessageSizeLimits) {
  constexpr int64_t kMaxElements = (1 << 20) / 4 / 2;
  auto evaluate = [](int64_t elements) {
    grpc::ClientContext context;
    v1::EvaluateRequest request;
    request.set_activation("relu");
    request.mutable_input()->set_dtype(v1::FLOAT32);
    request.mutable_input()->add_shape(elements);
    request.mutable_input()->mutable_data()->resize(elements * sizeof(float));
    v1::EvaluateResponse response;
    return stub_->Evaluate(&context, request, &response);
  };
  EXPECT_TRUE(evaluate(kMaxElements).ok());
  const grpc::Status too_many = evaluate(kMaxElements + 1);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_many.error_message(),
              HasSubstr(absl::StrCat("at most ", kMaxElements,
                                     " per tensor, so that its reply fits in "
                                     "--max_message_mb")));
  const grpc::Status too_large = evaluate(1 << 18);
  EXPECT_EQ(too_large.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(too_large.error_message(), HasSubstr(absl::StrCat(1 << 20)));
}

TEST_F(LimitsE2eTest, MaxSessionsIsReachedAndFreedByDeleteSession) {
  std::vector<std::string> ids(kMaxSessions);
  for (std::string& id : ids) ASSERT_TRUE(TryCreate(1, &id).ok());
  grpc::Status refused = TryCreate(0);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(
      refused.error_message(),
      HasSubstr(absl::StrCat("max_sessions (", kMaxSessions, ") reached")));
  ASSERT_TRUE(Delete(ids[0]).ok());
  EXPECT_TRUE(TryCreate(0, &ids[0]).ok());
  for (const std::string& id : ids) EXPECT_TRUE(Delete(id).ok());
}

TEST_F(LimitsE2eTest, UnitsPerSessionOnCreateAndAddUnit) {
  grpc::Status refused = TryCreate(kMaxUnits + 1);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      refused.error_message(),
      absl::StrCat("units: ", kMaxUnits + 1,
                   " units exceed max_units_per_session (", kMaxUnits, ")"));

  std::string id;
  ASSERT_TRUE(TryCreate(kMaxUnits, &id).ok());
  grpc::ClientContext context;
  v1::AddUnitRequest add;
  add.set_session_id(id);
  *add.mutable_unit() = Unit("one_more");
  v1::AddUnitResponse response;
  const grpc::Status full = stub_->AddUnit(&context, add, &response);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(
      full.error_message(),
      HasSubstr(absl::StrCat("max_units_per_session (", kMaxUnits, ")")));
  EXPECT_TRUE(Delete(id).ok());
}

TEST_F(LimitsE2eTest, CallsInFlightAboveTheLimitAreRefused) {
  // An EvaluateStream of two rows with one sent: once its first reply is
  // back, the server is running the call and holds its one slot.
  grpc::ClientContext stream_context;
  auto stream = stub_->EvaluateStream(&stream_context);
  v1::EvaluateStreamRequest message;
  v1::EvaluateRequest* header = message.mutable_header();
  header->set_activation("relu");
  header->mutable_input()->set_dtype(v1::FLOAT32);
  header->mutable_input()->add_shape(2);
  ASSERT_TRUE(stream->Write(message));
  const float x[2] = {-1.0f, 2.0f};
  for (int64_t offset : {0, 1}) {
    message.Clear();
    message.mutable_chunk()->set_offset(offset);
    message.mutable_chunk()->set_input(
        reinterpret_cast<const char*>(&x[offset]), sizeof(float));
    if (offset == 1) {
      // Saturated: another call is refused, health still answers.
      grpc::ClientContext context;
      v1::ListActivationsResponse response;
      const grpc::Status refused = stub_->ListActivations(
          &context, v1::ListActivationsRequest(), &response);
      EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(refused.error_message(),
                  HasSubstr("max_calls_in_flight (1) reached"));
      EXPECT_TRUE(server_->Serving());
      ASSERT_TRUE(
          stream->Write(message, grpc::WriteOptions().set_last_message()));
    } else {
      ASSERT_TRUE(stream->Write(message));
    }
    v1::EvaluateStreamResponse reply;
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(reply.offset(), offset);
  }
  const grpc::Status finished = stream->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();
  // The slot is free again (TearDown's ListActivations checks it too).
  grpc::ClientContext context;
  v1::GetServerStatsResponse stats;
  ASSERT_TRUE(
      stub_->GetServerStats(&context, v1::GetServerStatsRequest(), &stats)
          .ok());
  EXPECT_EQ(stats.calls_in_flight(), 1);
}

// `idle` is only read, `busy` observed: the sweep that deletes `idle` would
// delete `busy` too (created first) had its Observe calls not counted.
TEST_F(LimitsE2eTest, IdleSessionsExpireAndObserveKeepsOneAlive) {
  std::string busy, idle;
  ASSERT_TRUE(TryCreate(1, &busy).ok());
  ASSERT_TRUE(TryCreate(1, &idle).ok());
  // TTL, the store's one-second resolution and a sweep period, with room
  // for a loaded machine.
  const absl::Time give_up = absl::Now() + kTtl + absl::Seconds(15);
  grpc::Status read;
  while ((read = GetSession(idle)).ok() && absl::Now() < give_up) {
    const grpc::Status observed = Observe(busy);
    ASSERT_TRUE(observed.ok()) << observed.error_message();
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(read.error_code(), grpc::StatusCode::NOT_FOUND)
      << "the idle session outlived its TTL by 15 s";
  EXPECT_TRUE(GetSession(busy).ok());
  EXPECT_TRUE(Delete(busy).ok());
  // The sweeper logs once its transaction is done, just after the session
  // stopped being visible.
  const std::string logged = "deleted 1 session idle for over 2s";
  const absl::Time log_deadline = absl::Now() + absl::Seconds(5);
  while (server_->Log().find(logged) == std::string::npos &&
         absl::Now() < log_deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(server_->Log(), HasSubstr(logged));
}

}  // namespace
}  // namespace actlab
