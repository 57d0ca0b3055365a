// Copyright actlab authors.
//
// Evaluator answers ListActivations and Evaluate: baselines through oneDNN
// (BaselineEngine), PWLU through the actlab kernels with parameters inline
// or taken from a session unit. It uses no gRPC types beyond the messages.

#ifndef ACTLAB_SERVER_EVALUATOR_H_
#define ACTLAB_SERVER_EVALUATOR_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/baseline.h"
#include "kernels/pwlu.h"
#include "server/session/session_manager.h"

namespace actlab {

class Evaluator {
 public:
  // `baselines` and `sessions` must outlive the Evaluator. `max_elements`
  // bounds every tensor of a request.
  Evaluator(BaselineEngine* baselines, SessionManager* sessions,
            int64_t max_elements);

  void ListActivations(v1::ListActivationsResponse* response) const;

  // Validates the request completely before computing anything; failures
  // are InvalidArgument naming the field and the reason, or NotFound for
  // an unknown session unit. Fills kernel_ns; handling_ns is the caller's.
  // Consumes the request: the results are computed in its payload buffers,
  // which move into the reply, so no tensor is allocated or copied.
  absl::Status Evaluate(v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) const;

 private:
  absl::Status EvaluatePwlu(v1::EvaluateRequest* request,
                            v1::EvaluateResponse* response) const;
  absl::Status EvaluatePrelu(v1::EvaluateRequest* request,
                             v1::EvaluateResponse* response) const;
  absl::Status EvaluateBaseline(v1::EvaluateRequest* request,
                                v1::EvaluateResponse* response) const;

  BaselineEngine* baselines_;
  SessionManager* sessions_;
  int64_t max_elements_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_EVALUATOR_H_
