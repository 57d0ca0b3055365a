// Copyright actlab authors.

#include "server/actlab_service.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "server/grpc_status.h"
#include "server/tensor_codec.h"

namespace actlab {
namespace {

// Moves a successful result into the reply field, or clears the reply and
// maps the error.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* field,
                   google::protobuf::Message* response) {
  if (!result.ok()) {
    response->Clear();
    return ToGrpcStatus(result.status());
  }
  *field = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status Fail(const absl::Status& status,
                  google::protobuf::Message* response) {
  response->Clear();
  return ToGrpcStatus(status);
}

// gRPC's synchronous API hands each handler a request message that the
// call owns and that nothing reads after the handler returns (the stats
// interceptor reads it on arrival). Moving payloads out of it instead of
// copying them saves a full tensor copy per call.
v1::EvaluateRequest* ConsumableRequest(const v1::EvaluateRequest* request) {
  return const_cast<v1::EvaluateRequest*>(request);
}

int64_t NanosSince(absl::Time start) {
  return absl::ToInt64Nanoseconds(absl::Now() - start);
}

}  // namespace

SessionCounts CountSessions(SessionManager& sessions) {
  SessionCounts counts;
  // A store that cannot be read counts as empty until it can.
  const absl::StatusOr<v1::ListSessionsResponse> list = sessions.ListSessions();
  if (!list.ok()) return counts;
  for (const v1::Session& session : list->sessions()) {
    counts.sessions += 1;
    counts.units += session.unit_names_size();
  }
  return counts;
}

ActlabService::ActlabService(const Evaluator* evaluator,
                             SessionManager* sessions, const ServerStats* stats)
    : evaluator_(evaluator), sessions_(sessions), stats_(stats) {}

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
  absl::Status status =
      evaluator_->Evaluate(ConsumableRequest(request), response);
  if (!status.ok()) return Fail(status, response);
  response->set_handling_ns(NanosSince(start));
  return grpc::Status::OK;
}

grpc::Status ActlabService::Echo(grpc::ServerContext*,
                                 const v1::EvaluateRequest* request,
                                 v1::EvaluateResponse* response) {
  const absl::Time start = absl::Now();
  response->mutable_output()->Swap(ConsumableRequest(request)->mutable_input());
  response->set_handling_ns(NanosSince(start));
  return grpc::Status::OK;
}

grpc::Status ActlabService::CreateSession(
    grpc::ServerContext*, const v1::CreateSessionRequest* request,
    v1::CreateSessionResponse* response) {
  return Reply(sessions_->CreateSession(*request), response->mutable_session(),
               response);
}

grpc::Status ActlabService::GetSession(grpc::ServerContext*,
                                       const v1::GetSessionRequest* request,
                                       v1::GetSessionResponse* response) {
  return Reply(sessions_->GetSession(request->session_id()), response,
               response);
}

grpc::Status ActlabService::ListSessions(grpc::ServerContext*,
                                         const v1::ListSessionsRequest*,
                                         v1::ListSessionsResponse* response) {
  return Reply(sessions_->ListSessions(), response, response);
}

grpc::Status ActlabService::DeleteSession(
    grpc::ServerContext*, const v1::DeleteSessionRequest* request,
    v1::DeleteSessionResponse* response) {
  absl::Status status = sessions_->DeleteSession(request->session_id());
  return status.ok() ? grpc::Status::OK : Fail(status, response);
}

grpc::Status ActlabService::AddUnit(grpc::ServerContext*,
                                    const v1::AddUnitRequest* request,
                                    v1::AddUnitResponse* response) {
  return Reply(sessions_->AddUnit(*request), response->mutable_unit(),
               response);
}

grpc::Status ActlabService::Observe(grpc::ServerContext*,
                                    const v1::ObserveRequest* request,
                                    v1::ObserveResponse* response) {
  const absl::Time start = absl::Now();
  if (!request->has_input()) {
    return Fail(absl::InvalidArgumentError("input: must be set"), response);
  }
  auto input = DecodeTensor(request->input(), "input");
  if (!input.ok()) return Fail(input.status(), response);
  float* output = PrepareTensor(input->shape, response->mutable_output());
  const absl::Time kernel_start = absl::Now();
  grpc::Status status =
      Reply(sessions_->Observe(request->unit(), *input, output),
            response->mutable_stats(), response);
  if (!status.ok()) return status;
  response->set_kernel_ns(NanosSince(kernel_start));
  response->set_handling_ns(NanosSince(start));
  return status;
}

grpc::Status ActlabService::FitBoundaries(
    grpc::ServerContext*, const v1::FitBoundariesRequest* request,
    v1::FitBoundariesResponse* response) {
  return Reply(sessions_->FitBoundaries(*request), response, response);
}

grpc::Status ActlabService::GetUnit(grpc::ServerContext*,
                                    const v1::GetUnitRequest* request,
                                    v1::GetUnitResponse* response) {
  return Reply(sessions_->GetUnit(request->unit()), response->mutable_unit(),
               response);
}

grpc::Status ActlabService::SampleCurve(grpc::ServerContext*,
                                        const v1::SampleCurveRequest* request,
                                        v1::SampleCurveResponse* response) {
  return Reply(sessions_->SampleCurve(*request), response, response);
}

grpc::Status ActlabService::ExportUnit(grpc::ServerContext*,
                                       const v1::ExportUnitRequest* request,
                                       v1::ExportUnitResponse* response) {
  return Reply(sessions_->ExportUnit(request->unit()),
               response->mutable_export_(), response);
}

grpc::Status ActlabService::ImportUnit(grpc::ServerContext*,
                                       const v1::ImportUnitRequest* request,
                                       v1::ImportUnitResponse* response) {
  return Reply(sessions_->ImportUnit(*request), response->mutable_unit(),
               response);
}

grpc::Status ActlabService::TrainStep(grpc::ServerContext*,
                                      const v1::TrainStepRequest* request,
                                      v1::TrainStepResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = sessions_->TrainStep(*request, response);
  if (!status.ok()) return Fail(status, response);
  response->set_handling_ns(NanosSince(start));
  return grpc::Status::OK;
}

grpc::Status ActlabService::Fit(grpc::ServerContext* context,
                                const v1::FitRequest* request,
                                grpc::ServerWriter<v1::FitResponse>* writer) {
  absl::StatusOr<v1::FitSummary> summary = sessions_->Fit(
      *request, [context] { return context->IsCancelled(); },
      [writer](const v1::FitProgress& progress) {
        v1::FitResponse response;
        *response.mutable_progress() = progress;
        return writer->Write(response);
      });
  if (!summary.ok()) return ToGrpcStatus(summary.status());
  v1::FitResponse response;
  *response.mutable_summary() = *std::move(summary);
  writer->Write(response);
  return grpc::Status::OK;
}

grpc::Status ActlabService::ListRuns(grpc::ServerContext*,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) {
  return Reply(sessions_->ListRuns(*request), response, response);
}

grpc::Status ActlabService::GetRun(grpc::ServerContext*,
                                   const v1::GetRunRequest* request,
                                   v1::GetRunResponse* response) {
  return Reply(sessions_->GetRun(*request), response->mutable_run(), response);
}

grpc::Status ActlabService::GetServerStats(
    grpc::ServerContext*, const v1::GetServerStatsRequest*,
    v1::GetServerStatsResponse* response) {
  stats_->Snapshot(response);
  response->set_version(ACTLAB_VERSION);
  const SessionCounts counts = CountSessions(*sessions_);
  response->set_sessions(counts.sessions);
  response->set_units(counts.units);
  return grpc::Status::OK;
}

}  // namespace actlab
