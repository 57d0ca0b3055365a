// Copyright actlab authors.
//
// The gRPC face of actlab.v1.Actlab: each method first authenticates the
// call (Authenticate), then delegates to the Evaluator or the
// SessionManager, which validate everything and check the caller may use
// the sessions it names, and maps their absl::Status to a gRPC status. A
// failed call returns an empty reply. grpc.health.v1 and reflection are
// other services and need no token.

#ifndef ACTLAB_SERVER_ACTLAB_SERVICE_H_
#define ACTLAB_SERVER_ACTLAB_SERVICE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "server/auth/authenticator.h"
#include "server/call_limiter.h"
#include "server/evaluator.h"
#include "server/observability/server_stats.h"
#include "server/session/session_manager.h"

namespace actlab {

// Sessions and units the manager holds.
SessionCounts CountSessions(SessionManager& sessions);

// EvaluateStream and ObserveStream (chunked tensors): the header is
// validated as Evaluate/Observe validate a request, then each chunk is
// checked (offset == elements received, 0 < elements, grad_output as long
// as input for a backward pass, not past the declared total, whole rows for
// channel-wise activations) and answered before the next is read, so a
// call holds one chunk and O(parameters) state, whatever the tensor's size.
// The reply to the chunk that completes the total is the last (last=true,
// with parameter gradients or statistics and timings) and is sent once the
// client has half-closed. Protocol violations are InvalidArgument naming
// the field ("header: input.data: ...", "chunk[3].offset: ..."); a
// declared size above
// max_stream_elements is ResourceExhausted. Cancellation is checked between
// chunks and ends the call with CANCELLED; ObserveStream folds its
// statistics only after the whole batch arrived, so a failed or cancelled
// stream changes nothing.
class ActlabService final : public v1::Actlab::Service {
 public:
  static constexpr int64_t kDefaultMaxStreamElements = int64_t{1} << 34;

  // All must outlive the service. Every call of this service, unary or
  // streaming, holds one of `calls`' tickets for its duration (or fails
  // with its ResourceExhausted); health checks are another service.
  // `max_stream_elements` caps the declared elements of a streamed tensor.
  ActlabService(const Evaluator* evaluator, SessionManager* sessions,
                const ServerStats* stats, const Authenticator* authenticator,
                CallLimiter* calls,
                int64_t max_stream_elements = kDefaultMaxStreamElements);

  grpc::Status ListActivations(grpc::ServerContext* context,
                               const v1::ListActivationsRequest* request,
                               v1::ListActivationsResponse* response) override;
  grpc::Status Evaluate(grpc::ServerContext* context,
                        const v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) override;
  grpc::Status Echo(grpc::ServerContext* context,
                    const v1::EvaluateRequest* request,
                    v1::EvaluateResponse* response) override;

  grpc::Status CreateSession(grpc::ServerContext* context,
                             const v1::CreateSessionRequest* request,
                             v1::CreateSessionResponse* response) override;
  grpc::Status GetSession(grpc::ServerContext* context,
                          const v1::GetSessionRequest* request,
                          v1::GetSessionResponse* response) override;
  grpc::Status ListSessions(grpc::ServerContext* context,
                            const v1::ListSessionsRequest* request,
                            v1::ListSessionsResponse* response) override;
  grpc::Status DeleteSession(grpc::ServerContext* context,
                             const v1::DeleteSessionRequest* request,
                             v1::DeleteSessionResponse* response) override;
  grpc::Status AddUnit(grpc::ServerContext* context,
                       const v1::AddUnitRequest* request,
                       v1::AddUnitResponse* response) override;
  grpc::Status Observe(grpc::ServerContext* context,
                       const v1::ObserveRequest* request,
                       v1::ObserveResponse* response) override;
  grpc::Status FitBoundaries(grpc::ServerContext* context,
                             const v1::FitBoundariesRequest* request,
                             v1::FitBoundariesResponse* response) override;
  grpc::Status GetUnit(grpc::ServerContext* context,
                       const v1::GetUnitRequest* request,
                       v1::GetUnitResponse* response) override;
  grpc::Status SampleCurve(grpc::ServerContext* context,
                           const v1::SampleCurveRequest* request,
                           v1::SampleCurveResponse* response) override;
  grpc::Status ExportUnit(grpc::ServerContext* context,
                          const v1::ExportUnitRequest* request,
                          v1::ExportUnitResponse* response) override;
  grpc::Status ImportUnit(grpc::ServerContext* context,
                          const v1::ImportUnitRequest* request,
                          v1::ImportUnitResponse* response) override;

  grpc::Status TrainStep(grpc::ServerContext* context,
                         const v1::TrainStepRequest* request,
                         v1::TrainStepResponse* response) override;
  // Streams progress, then the summary. Client cancellation and the
  // deadline end the Fit (through context->IsCancelled()).
  grpc::Status Fit(grpc::ServerContext* context, const v1::FitRequest* request,
                   grpc::ServerWriter<v1::FitResponse>* writer) override;
  grpc::Status ListRuns(grpc::ServerContext* context,
                        const v1::ListRunsRequest* request,
                        v1::ListRunsResponse* response) override;
  grpc::Status GetRun(grpc::ServerContext* context,
                      const v1::GetRunRequest* request,
                      v1::GetRunResponse* response) override;

  grpc::Status GetServerStats(grpc::ServerContext* context,
                              const v1::GetServerStatsRequest* request,
                              v1::GetServerStatsResponse* response) override;

  grpc::Status EvaluateStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::EvaluateStreamResponse,
                               v1::EvaluateStreamRequest>* stream) override;
  grpc::Status ObserveStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ObserveStreamResponse,
                               v1::ObserveStreamRequest>* stream) override;

 private:
  // The first step of every method: who calls (Unauthenticated when
  // authentication is on and the call has no valid bearer token), then a
  // place among the calls in flight (ResourceExhausted when they are at the
  // limit), held while the Admission lives. Authentication comes first so
  // that calls without a valid token cannot crowd out the others.
  struct Admission {
    Principal caller;
    CallLimiter::Ticket ticket;
  };
  absl::StatusOr<Admission> Admit(const grpc::ServerContext& context);

  // ResourceExhausted when a header's `input` declares more than
  // max_stream_elements_ elements.
  absl::Status CheckStreamSize(const v1::Tensor& input) const;

  const Evaluator* evaluator_;
  SessionManager* sessions_;
  const ServerStats* stats_;
  const Authenticator* authenticator_;
  CallLimiter* calls_;
  int64_t max_stream_elements_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_ACTLAB_SERVICE_H_
