// Copyright actlab authors.
//
// The gRPC face of actlab.v1.Actlab: each method validates nothing itself,
// delegates to the Evaluator or the SessionManager, and maps their
// absl::Status to a gRPC status. Handlers never throw and never crash on
// bad input.

#ifndef ACTLAB_SERVER_ACTLAB_SERVICE_H_
#define ACTLAB_SERVER_ACTLAB_SERVICE_H_

#include "actlab/v1/actlab.grpc.pb.h"
#include "server/evaluator.h"

namespace actlab {

class ActlabService final : public v1::Actlab::Service {
 public:
  // `evaluator` must outlive the service.
  explicit ActlabService(const Evaluator* evaluator);

  grpc::Status ListActivations(grpc::ServerContext* context,
                               const v1::ListActivationsRequest* request,
                               v1::ListActivationsResponse* response) override;
  grpc::Status Evaluate(grpc::ServerContext* context,
                        const v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) override;
  grpc::Status Echo(grpc::ServerContext* context,
                    const v1::EvaluateRequest* request,
                    v1::EvaluateResponse* response) override;

 private:
  const Evaluator* evaluator_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_ACTLAB_SERVICE_H_
