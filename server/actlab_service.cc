// Copyright actlab authors.

#include "server/actlab_service.h"

#include "absl/time/clock.h"
#include "server/grpc_status.h"

namespace actlab {

ActlabService::ActlabService(const Evaluator* evaluator)
    : evaluator_(evaluator) {}

grpc::Status ActlabService::ListActivations(
    grpc::ServerContext*, const v1::ListActivationsRequest*,
    v1::ListActivationsResponse* response) {
  evaluator_->ListActivations(response);
  return grpc::Status::OK;
}

grpc::Status ActlabService::Evaluate(grpc::ServerContext*,
                                     const v1::EvaluateRequest* request,
                                     v1::EvaluateResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = evaluator_->Evaluate(*request, response);
  if (!status.ok()) {
    // A failed call returns no partial results.
    response->Clear();
    return ToGrpcStatus(status);
  }
  response->set_handling_ns(absl::ToInt64Nanoseconds(absl::Now() - start));
  return grpc::Status::OK;
}

grpc::Status ActlabService::Echo(grpc::ServerContext*,
                                 const v1::EvaluateRequest* request,
                                 v1::EvaluateResponse* response) {
  const absl::Time start = absl::Now();
  *response->mutable_output() = request->input();
  response->set_handling_ns(absl::ToInt64Nanoseconds(absl::Now() - start));
  return grpc::Status::OK;
}

}  // namespace actlab
