// Copyright actlab authors.
//
// Fixture shared by the phase II tests: SessionTest with a unit "act" in
// phase II and request builders.

#ifndef ACTLAB_TESTS_SERVER_TRAIN_TEST_UTIL_H_
#define ACTLAB_TESTS_SERVER_TRAIN_TEST_UTIL_H_

#include <cstring>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "server/pwlu_codec.h"
#include "server/session/session_manager.h"
#include "tests/server/session_test_util.h"

namespace actlab {

class TrainTest : public SessionTest {
 protected:
  // A session with one unit "act" in phase II from the start (fixed bounds
  // [-bound, bound], ReLU shape); channel-wise when channels > 0.
  std::string CreateFixed(int intervals, int channels = 0, double bound = 3) {
    v1::CreateSessionRequest request;
    v1::UnitConfig* unit = request.add_units();
    unit->set_name("act");
    unit->set_intervals(intervals);
    unit->set_fixed_bounds(true);
    unit->set_init_bound(bound);
    if (channels > 0) {
      unit->set_granularity(v1::CHANNEL);
      unit->set_channels(channels);
    }
    auto session = manager_->CreateSession(Principal::Anonymous(), request);
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? session->id() : "";
  }

  PwluParams Params(const std::string& session) {
    return PwluParamsFromProto(Get(session).parameters());
  }

  std::vector<v1::Run> Runs(const std::string& session) {
    v1::ListRunsRequest request;
    request.set_session_id(session);
    auto runs = manager_->ListRuns(Principal::Anonymous(), request);
    EXPECT_TRUE(runs.ok()) << runs.status();
    if (!runs.ok()) return {};
    return {runs->runs().begin(), runs->runs().end()};
  }

  absl::StatusOr<v1::Run> Run(const std::string& session,
                              const std::string& run_id) {
    v1::GetRunRequest request;
    request.set_session_id(session);
    request.set_run_id(run_id);
    return manager_->GetRun(Principal::Anonymous(), request);
  }

  static v1::Tensor Tensor(const std::vector<int64_t>& shape,
                           const std::vector<float>& data) {
    v1::Tensor t;
    t.set_dtype(v1::FLOAT32);
    for (int64_t d : shape) t.add_shape(d);
    t.mutable_data()->resize(data.size() * sizeof(float));
    std::memcpy(t.mutable_data()->data(), data.data(),
                data.size() * sizeof(float));
    return t;
  }

  static std::vector<float> Floats(const v1::Tensor& t) {
    std::vector<float> out(t.data().size() / sizeof(float));
    std::memcpy(out.data(), t.data().data(), t.data().size());
    return out;
  }

  static v1::TrainStepRequest StepRequest(const std::string& session,
                                          const std::vector<int64_t>& shape,
                                          const std::vector<float>& x,
                                          const std::vector<float>& dy) {
    v1::TrainStepRequest request;
    *request.mutable_unit() = Ref(session);
    *request.mutable_input() = Tensor(shape, x);
    *request.mutable_grad_output() = Tensor(shape, dy);
    return request;
  }

  absl::StatusOr<v1::TrainStepResponse> Step(
      const v1::TrainStepRequest& request) {
    v1::TrainStepResponse response;
    absl::Status status =
        manager_->TrainStep(Principal::Anonymous(), request, &response);
    if (!status.ok()) return status;
    return response;
  }

  // A Fit of "act" to GELU over [-3, 3].
  static v1::FitRequest GeluFit(const std::string& session, int64_t steps) {
    v1::FitRequest request;
    *request.mutable_unit() = Ref(session);
    request.mutable_activation()->set_name("gelu");
    request.mutable_range()->set_min(-3);
    request.mutable_range()->set_max(3);
    request.set_steps(steps);
    return request;
  }

  absl::StatusOr<v1::FitSummary> Fit(const v1::FitRequest& request) {
    return manager_->Fit(
        Principal::Anonymous(), request, [] { return false; },
        [](const v1::FitProgress&) { return true; });
  }
};

}  // namespace actlab

#endif  // ACTLAB_TESTS_SERVER_TRAIN_TEST_UTIL_H_
