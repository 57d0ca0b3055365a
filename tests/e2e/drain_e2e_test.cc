// Copyright actlab authors.
//
// Graceful drain of a real actlab-server: on SIGTERM health stops reporting
// SERVING at once, new calls are refused, a call in flight finishes within
// --grace_seconds (or, past it, a Fit is cancelled and ends cleanly), and
// the process exits 0.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

using Clock = std::chrono::steady_clock;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

constexpr int kDrainDelaySeconds = 1;

class DrainTest : public ::testing::Test {
 protected:
  void StartServer(int grace_seconds) {
    server_ = std::make_unique<ServerProcess>(
        ACTLAB_SERVER_BINARY, dir_.path(),
        std::vector<std::string>{
            absl::StrCat("--grace_seconds=", grace_seconds),
            absl::StrCat("--drain_delay_seconds=", kDrainDelaySeconds)});
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Actlab::NewStub(channel_);
  }

  // SERVING, NOT_SERVING, or the error of a refused health call; each probe
  // on a fresh channel, as a kubelet's would be.
  std::string Health() {
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(500));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("actlab.v1.Actlab");
    HealthResponse response;
    const grpc::Status s = stub->Check(&context, request, &response);
    if (!s.ok()) return absl::StrCat("refused: ", s.error_message());
    return HealthResponse::ServingStatus_Name(response.status());
  }

  std::string CreateFixedSession() {
    v1::CreateSessionRequest request;
    v1::UnitConfig* unit = request.add_units();
    unit->set_name("act");
    unit->set_fixed_bounds(true);
    v1::CreateSessionResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub_->CreateSession(&context, request, &response).ok());
    return response.session().id();
  }

  static v1::FitRequest GeluFit(const std::string& session, int64_t steps) {
    v1::FitRequest request;
    request.mutable_unit()->set_session_id(session);
    request.mutable_unit()->set_unit("act");
    request.mutable_activation()->set_name("gelu");
    request.set_steps(steps);
    request.set_progress_interval_ms(20);
    return request;
  }

  // Runs a Fit to its end; its final status, and the summary if any.
  grpc::Status RunFit(const v1::FitRequest& request, v1::FitSummary* summary,
                      std::atomic<bool>* started = nullptr) {
    grpc::ClientContext context;
    auto reader = stub_->Fit(&context, request);
    v1::FitResponse response;
    while (reader->Read(&response)) {
      if (started != nullptr) *started = true;
      if (response.has_summary()) *summary = response.summary();
    }
    return reader->Finish();
  }

  // Sends SIGTERM from another thread (Stop waits for the exit) and checks
  // what a client sees meanwhile.
  void ExpectRefusingWhileDraining(std::thread* stopper,
                                   absl::StatusOr<int>* exit_code) {
    *stopper = std::thread([this, exit_code] { *exit_code = server_->Stop(); });
    const Clock::time_point signalled = Clock::now();
    std::string health;
    while (Clock::now() - signalled < std::chrono::seconds(2)) {
      health = Health();
      if (health != "SERVING") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // During the drain delay a probe gets the answer itself, not a refusal.
    EXPECT_EQ(health, "NOT_SERVING");
    EXPECT_LT(Clock::now() - signalled, std::chrono::seconds(1));
    // After it the server stops listening. Each attempt uses a new channel:
    // an existing one could carry the call on a connection the server is
    // still closing.
    grpc::Status refused;
    while (Clock::now() - signalled <
           std::chrono::seconds(kDrainDelaySeconds + 3)) {
      v1::ListSessionsResponse list;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(1));
      auto fresh = v1::Actlab::NewStub(grpc::CreateChannel(
          server_->address(), grpc::InsecureChannelCredentials()));
      refused = fresh->ListSessions(&context, v1::ListSessionsRequest(), &list);
      if (!refused.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_FALSE(refused.ok());
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Actlab::Stub> stub_;
};

TEST_F(DrainTest, InFlightCallFinishesAndServerExitsZero) {
  StartServer(20);
  const std::string session = CreateFixedSession();
  // Size a Fit to take about a second on this machine.
  v1::FitSummary probe;
  const Clock::time_point t0 = Clock::now();
  ASSERT_TRUE(RunFit(GeluFit(session, 200), &probe).ok());
  const double per_step =
      std::chrono::duration<double>(Clock::now() - t0).count() / 200;
  const int64_t steps =
      std::clamp<int64_t>(static_cast<int64_t>(1.0 / per_step), 200, 1000000);

  std::atomic<bool> started{false};
  v1::FitSummary summary;
  grpc::Status fit_status;
  std::thread fit([&] {
    fit_status = RunFit(GeluFit(session, steps), &summary, &started);
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::thread stopper;
  absl::StatusOr<int> exit_code;
  ExpectRefusingWhileDraining(&stopper, &exit_code);
  fit.join();
  stopper.join();
  EXPECT_TRUE(fit_status.ok()) << fit_status.error_message();
  EXPECT_EQ(summary.steps_completed(), steps);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << server_->Log();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_NE(server_->Log().find("draining"), std::string::npos);
}

TEST_F(DrainTest, CallPastTheGracePeriodIsCancelledCleanly) {
  StartServer(1);
  const std::string session = CreateFixedSession();
  std::atomic<bool> started{false};
  v1::FitSummary summary;
  grpc::Status fit_status;
  std::thread fit([&] {
    fit_status = RunFit(GeluFit(session, 1000000), &summary, &started);
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const Clock::time_point signalled = Clock::now();
  std::thread stopper;
  absl::StatusOr<int> exit_code;
  ExpectRefusingWhileDraining(&stopper, &exit_code);
  fit.join();
  stopper.join();
  EXPECT_FALSE(fit_status.ok());
  ASSERT_TRUE(exit_code.ok()) << exit_code.status() << server_->Log();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_LT(Clock::now() - signalled, std::chrono::seconds(5));

  // The Fit committed what it trained and its run ended, not left RUNNING.
  StartServer(1);
  v1::ListRunsRequest request;
  request.set_session_id(session);
  v1::ListRunsResponse runs;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->ListRuns(&context, request, &runs).ok());
  ASSERT_EQ(runs.runs_size(), 1);
  EXPECT_EQ(runs.runs(0).state(), v1::Run::CANCELLED) << runs.DebugString();
  EXPECT_GT(runs.runs(0).steps(), 0);
  absl::StatusOr<int> code = server_->Stop();
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace actlab
