// Copyright actlab authors.

#include "server/actlab_service.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/call_limiter.h"
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

// Prefixes an InvalidArgument message with `prefix` ("header: ",
// "chunk[3]."); other codes pass through.
absl::Status InField(const absl::Status& status, absl::string_view prefix) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return status;
  return absl::InvalidArgumentError(absl::StrCat(prefix, status.message()));
}

float* Floats(std::string* bytes) {
  return reinterpret_cast<float*>(bytes->data());
}

// The chunk protocol of a stream: checks each chunk against the declared
// total and row size and counts what arrived.
class ChunkSequence {
 public:
  ChunkSequence(int64_t total, int64_t row_elements, bool backward)
      : total_(total), row_elements_(row_elements), backward_(backward) {}

  // The chunk's element count, or InvalidArgument naming its field.
  absl::StatusOr<int64_t> Accept(const v1::TensorChunk& chunk) {
    const std::string field = absl::StrCat("chunk[", index_, "]");
    if (chunk.offset() != received_) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".offset: ", chunk.offset(), " does not follow the ",
          received_, " elements received"));
    }
    if (chunk.input().size() % sizeof(float) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".input: ", chunk.input().size(),
                       " bytes are not whole FLOAT32 elements"));
    }
    const int64_t n =
        static_cast<int64_t>(chunk.input().size() / sizeof(float));
    if (n == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".input: must hold at least one element"));
    }
    if (backward_ && chunk.grad_output().size() != chunk.input().size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".grad_output: ", chunk.grad_output().size(),
                       " bytes; the backward pass needs as many as input's ",
                       chunk.input().size()));
    }
    if (!backward_ && !chunk.grad_output().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field,
                       ".grad_output: must be empty; the header declared no "
                       "grad_output"));
    }
    if (n > total_ - received_) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".input: ", n, " elements at offset ", received_,
                       " go past the declared total of ", total_));
    }
    if (n % row_elements_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".input: ", n, " elements are not whole rows of ",
          row_elements_,
          " (channels x inner); channel-wise activations take whole rows "
          "per chunk"));
    }
    received_ += n;
    ++index_;
    return n;
  }

  bool complete() const { return received_ == total_; }
  int64_t received() const { return received_; }
  // For messages: the index the next chunk gets.
  int64_t index() const { return index_; }

  absl::Status CheckComplete() const {
    if (complete()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("chunk[", index_, "]: the stream ended after ", received_,
                     " of the ", total_, " elements the header declared"));
  }

 private:
  int64_t total_;
  int64_t row_elements_;
  bool backward_;
  int64_t received_ = 0;
  int64_t index_ = 0;
};

// Serves one chunked stream. `begin(header)` validates the header and
// returns the stream's ChunkSequence; `compute(chunk, n, reply)` answers a
// checked chunk (it may consume the chunk's buffers); `finish(reply)`
// completes the last reply once the client has half-closed. Replies go out
// one per chunk as they are computed, so the call holds one chunk at a time.
template <typename Request, typename Response, typename Begin, typename Compute,
          typename Finish>
grpc::Status ServeChunks(grpc::ServerContext* context,
                         grpc::ServerReaderWriter<Response, Request>* stream,
                         Begin begin, Compute compute, Finish finish) {
  const grpc::Status cancelled(grpc::StatusCode::CANCELLED,
                               "the call was cancelled; nothing was kept");
  Request message;
  if (!stream->Read(&message)) {
    if (context->IsCancelled()) return cancelled;
    return ToGrpcStatus(absl::InvalidArgumentError(
        "header: the stream ended before its header"));
  }
  if (!message.has_header()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "header: the first message must be the header, not a chunk"));
  }
  absl::StatusOr<ChunkSequence> chunks = begin(message.header());
  if (!chunks.ok()) return ToGrpcStatus(chunks.status());

  Response reply;
  while (stream->Read(&message)) {
    if (context->IsCancelled()) return cancelled;
    const std::string field = absl::StrCat("chunk[", chunks->index(), "]");
    if (message.has_header()) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat(field, ": a second header; a stream has one")));
    }
    if (!message.has_chunk()) {
      return ToGrpcStatus(
          absl::InvalidArgumentError(absl::StrCat(field, ": must be set")));
    }
    absl::StatusOr<int64_t> n = chunks->Accept(message.chunk());
    if (!n.ok()) return ToGrpcStatus(n.status());
    reply.Clear();
    absl::Status status = compute(message.mutable_chunk(), *n, &reply);
    if (!status.ok()) {
      return ToGrpcStatus(InField(status, absl::StrCat(field, ".")));
    }
    // The reply completing the total waits for the half-close, which
    // proves no chunk follows.
    if (!chunks->complete() && !stream->Write(reply)) return cancelled;
  }
  if (context->IsCancelled()) return cancelled;
  absl::Status status = chunks->CheckComplete();
  if (status.ok()) {
    if (chunks->index() == 0) reply.set_offset(chunks->received());
    status = finish(&reply);
  }
  if (!status.ok()) return ToGrpcStatus(status);
  reply.set_last(true);
  stream->Write(reply);
  return grpc::Status::OK;
}

}  // namespace

SessionCounts CountSessions(SessionManager& sessions) {
  SessionCounts counts;
  // Counts cover every owner's sessions: they describe the server. A store
  // that cannot be read counts as empty until it can.
  const absl::StatusOr<v1::ListSessionsResponse> list =
      sessions.ListSessions(Principal::Anonymous());
  if (!list.ok()) return counts;
  for (const v1::Session& session : list->sessions()) {
    counts.sessions += 1;
    counts.units += session.unit_names_size();
  }
  return counts;
}

ActlabService::ActlabService(const Evaluator* evaluator,
                             SessionManager* sessions, const ServerStats* stats,
                             const Authenticator* authenticator,
                             CallLimiter* calls, int64_t max_stream_elements)
    : evaluator_(evaluator),
      sessions_(sessions),
      stats_(stats),
      authenticator_(authenticator),
      calls_(calls),
      max_stream_elements_(max_stream_elements) {}

absl::StatusOr<ActlabService::Admission> ActlabService::Admit(
    const grpc::ServerContext& context) {
  std::vector<absl::string_view> values;
  auto [begin, end] = context.client_metadata().equal_range("authorization");
  for (auto it = begin; it != end; ++it) {
    values.emplace_back(it->second.data(), it->second.size());
  }
  absl::StatusOr<Principal> caller = authenticator_->Authenticate(values);
  if (!caller.ok()) return caller.status();
  absl::StatusOr<CallLimiter::Ticket> ticket = calls_->Admit();
  if (!ticket.ok()) return ticket.status();
  return Admission{*std::move(caller), *std::move(ticket)};
}

grpc::Status ActlabService::ListActivations(
    grpc::ServerContext* context, const v1::ListActivationsRequest*,
    v1::ListActivationsResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  evaluator_->ListActivations(response);
  return grpc::Status::OK;
}

grpc::Status ActlabService::Evaluate(grpc::ServerContext* context,
                                     const v1::EvaluateRequest* request,
                                     v1::EvaluateResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  const absl::Time start = absl::Now();
  absl::Status status = evaluator_->Evaluate(
      admitted->caller, ConsumableRequest(request), response);
  if (!status.ok()) return Fail(status, response);
  response->set_handling_ns(NanosSince(start));
  return grpc::Status::OK;
}

grpc::Status ActlabService::Echo(grpc::ServerContext* context,
                                 const v1::EvaluateRequest* request,
                                 v1::EvaluateResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  const absl::Time start = absl::Now();
  response->mutable_output()->Swap(ConsumableRequest(request)->mutable_input());
  response->set_handling_ns(NanosSince(start));
  return grpc::Status::OK;
}

grpc::Status ActlabService::CreateSession(
    grpc::ServerContext* context, const v1::CreateSessionRequest* request,
    v1::CreateSessionResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->CreateSession(admitted->caller, *request),
               response->mutable_session(), response);
}

grpc::Status ActlabService::GetSession(grpc::ServerContext* context,
                                       const v1::GetSessionRequest* request,
                                       v1::GetSessionResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->GetSession(admitted->caller, request->session_id()),
               response, response);
}

grpc::Status ActlabService::ListSessions(grpc::ServerContext* context,
                                         const v1::ListSessionsRequest*,
                                         v1::ListSessionsResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->ListSessions(admitted->caller), response, response);
}

grpc::Status ActlabService::DeleteSession(
    grpc::ServerContext* context, const v1::DeleteSessionRequest* request,
    v1::DeleteSessionResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  absl::Status status =
      sessions_->DeleteSession(admitted->caller, request->session_id());
  return status.ok() ? grpc::Status::OK : Fail(status, response);
}

grpc::Status ActlabService::AddUnit(grpc::ServerContext* context,
                                    const v1::AddUnitRequest* request,
                                    v1::AddUnitResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->AddUnit(admitted->caller, *request),
               response->mutable_unit(), response);
}

grpc::Status ActlabService::Observe(grpc::ServerContext* context,
                                    const v1::ObserveRequest* request,
                                    v1::ObserveResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  const absl::Time start = absl::Now();
  if (!request->has_input()) {
    return Fail(absl::InvalidArgumentError("input: must be set"), response);
  }
  auto input = DecodeTensor(request->input(), "input");
  if (!input.ok()) return Fail(input.status(), response);
  float* output = PrepareTensor(input->shape, response->mutable_output());
  int64_t kernel_ns = 0;
  grpc::Status status =
      Reply(sessions_->Observe(admitted->caller, request->unit(), *input,
                               output, &kernel_ns),
            response->mutable_stats(), response);
  if (!status.ok()) return status;
  response->set_kernel_ns(kernel_ns);
  response->set_handling_ns(NanosSince(start));
  return status;
}

grpc::Status ActlabService::FitBoundaries(
    grpc::ServerContext* context, const v1::FitBoundariesRequest* request,
    v1::FitBoundariesResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->FitBoundaries(admitted->caller, *request), response,
               response);
}

grpc::Status ActlabService::GetUnit(grpc::ServerContext* context,
                                    const v1::GetUnitRequest* request,
                                    v1::GetUnitResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->GetUnit(admitted->caller, request->unit()),
               response->mutable_unit(), response);
}

grpc::Status ActlabService::SampleCurve(grpc::ServerContext* context,
                                        const v1::SampleCurveRequest* request,
                                        v1::SampleCurveResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->SampleCurve(admitted->caller, *request), response,
               response);
}

grpc::Status ActlabService::ExportUnit(grpc::ServerContext* context,
                                       const v1::ExportUnitRequest* request,
                                       v1::ExportUnitResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->ExportUnit(admitted->caller, request->unit()),
               response->mutable_export_(), response);
}

grpc::Status ActlabService::ImportUnit(grpc::ServerContext* context,
                                       const v1::ImportUnitRequest* request,
                                       v1::ImportUnitResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->ImportUnit(admitted->caller, *request),
               response->mutable_unit(), response);
}

grpc::Status ActlabService::TrainStep(grpc::ServerContext* context,
                                      const v1::TrainStepRequest* request,
                                      v1::TrainStepResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  const absl::Time start = absl::Now();
  absl::Status status =
      sessions_->TrainStep(admitted->caller, *request, response);
  if (!status.ok()) return Fail(status, response);
  response->set_handling_ns(NanosSince(start));
  return grpc::Status::OK;
}

grpc::Status ActlabService::Fit(grpc::ServerContext* context,
                                const v1::FitRequest* request,
                                grpc::ServerWriter<v1::FitResponse>* writer) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return ToGrpcStatus(admitted.status());
  absl::StatusOr<v1::FitSummary> summary = sessions_->Fit(
      admitted->caller, *request, [context] { return context->IsCancelled(); },
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

grpc::Status ActlabService::ListRuns(grpc::ServerContext* context,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->ListRuns(admitted->caller, *request), response,
               response);
}

grpc::Status ActlabService::GetRun(grpc::ServerContext* context,
                                   const v1::GetRunRequest* request,
                                   v1::GetRunResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  return Reply(sessions_->GetRun(admitted->caller, *request),
               response->mutable_run(), response);
}

grpc::Status ActlabService::GetServerStats(
    grpc::ServerContext* context, const v1::GetServerStatsRequest*,
    v1::GetServerStatsResponse* response) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return Fail(admitted.status(), response);
  stats_->Snapshot(response);
  response->set_version(ACTLAB_VERSION);
  const SessionCounts counts = CountSessions(*sessions_);
  response->set_sessions(counts.sessions);
  response->set_units(counts.units);
  response->set_calls_in_flight(calls_->in_flight());
  return grpc::Status::OK;
}

absl::Status ActlabService::CheckStreamSize(const v1::Tensor& input) const {
  // A malformed shape is left for the full validation to report.
  absl::StatusOr<TensorView> view = DecodeHeaderTensor(input, "input");
  if (!view.ok() || view->elements <= max_stream_elements_) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "header: input.shape ", ShapeString(view->shape), " declares ",
      view->elements, " elements; this server streams at most ",
      max_stream_elements_, " (--max_stream_elements)"));
}

grpc::Status ActlabService::EvaluateStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::EvaluateStreamResponse,
                             v1::EvaluateStreamRequest>* stream) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return ToGrpcStatus(admitted.status());
  const absl::Time start = absl::Now();
  std::optional<EvaluatePlan> plan;
  return ServeChunks(
      context, stream,
      [&](const v1::EvaluateRequest& header) -> absl::StatusOr<ChunkSequence> {
        absl::Status s = CheckStreamSize(header.input());
        if (!s.ok()) return s;
        absl::StatusOr<EvaluatePlan> planned =
            evaluator_->PlanStream(admitted->caller, header);
        if (!planned.ok()) return InField(planned.status(), "header: ");
        plan = *std::move(planned);
        return ChunkSequence(plan->elements(), plan->row_elements(),
                             plan->backward());
      },
      [&](v1::TensorChunk* chunk, int64_t n,
          v1::EvaluateStreamResponse* reply) {
        // In place, as Evaluate: the chunk's buffers become the reply's.
        float* dy =
            plan->backward() ? Floats(chunk->mutable_grad_output()) : nullptr;
        absl::Status s = plan->Run(Floats(chunk->mutable_input()), dy, n);
        if (!s.ok()) return s;
        reply->set_offset(chunk->offset());
        reply->mutable_output()->swap(*chunk->mutable_input());
        if (plan->backward()) {
          reply->mutable_grad_input()->swap(*chunk->mutable_grad_output());
        }
        return absl::OkStatus();
      },
      [&](v1::EvaluateStreamResponse* reply) {
        plan->TakeResults(reply);
        reply->set_handling_ns(NanosSince(start));
        return absl::OkStatus();
      });
}

grpc::Status ActlabService::ObserveStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ObserveStreamResponse,
                             v1::ObserveStreamRequest>* stream) {
  absl::StatusOr<Admission> admitted = Admit(*context);
  if (!admitted.ok()) return ToGrpcStatus(admitted.status());
  const absl::Time start = absl::Now();
  std::optional<StreamedBatch> batch;
  int64_t kernel_ns = 0;
  return ServeChunks(
      context, stream,
      [&](const v1::ObserveRequest& header) -> absl::StatusOr<ChunkSequence> {
        if (!header.has_input()) {
          return absl::InvalidArgumentError("header: input: must be set");
        }
        absl::Status s = CheckStreamSize(header.input());
        if (!s.ok()) return s;
        absl::StatusOr<TensorView> declared =
            DecodeHeaderTensor(header.input(), "input");
        if (!declared.ok()) return InField(declared.status(), "header: ");
        absl::StatusOr<StreamedBatch> begun = sessions_->BeginObserveStream(
            admitted->caller, header.unit(), *declared);
        if (!begun.ok()) return InField(begun.status(), "header: ");
        batch = *std::move(begun);
        return ChunkSequence(batch->elements(), batch->row_elements(),
                             /*backward=*/false);
      },
      [&](v1::TensorChunk* chunk, int64_t n, v1::ObserveStreamResponse* reply) {
        // The output overwrites the chunk's input and moves into the reply.
        float* x = Floats(chunk->mutable_input());
        const absl::Time kernel_start = absl::Now();
        absl::Status s = sessions_->ObserveStreamChunk(&*batch, x, n, x);
        kernel_ns += NanosSince(kernel_start);
        if (!s.ok()) return s;
        reply->set_offset(chunk->offset());
        reply->mutable_output()->swap(*chunk->mutable_input());
        return absl::OkStatus();
      },
      [&](v1::ObserveStreamResponse* reply) -> absl::Status {
        // Last chance to honour a cancellation before anything is kept.
        if (context->IsCancelled()) {
          return absl::CancelledError(
              "the call was cancelled; nothing was kept");
        }
        absl::StatusOr<v1::RunningStats> stats =
            sessions_->FinishObserveStream(*batch);
        if (!stats.ok()) return stats.status();
        *reply->mutable_stats() = *std::move(stats);
        reply->set_kernel_ns(kernel_ns);
        reply->set_handling_ns(NanosSince(start));
        return absl::OkStatus();
      });
}

}  // namespace actlab
