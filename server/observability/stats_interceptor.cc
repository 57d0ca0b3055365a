// Copyright actlab authors.

#include "server/observability/stats_interceptor.h"

#include <string>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/baseline.h"

namespace actlab {
namespace {

template <typename T, typename = void>
struct HasTimings : std::false_type {};
template <typename T>
struct HasTimings<T, std::void_t<decltype(std::declval<T>().kernel_ns()),
                                 decltype(std::declval<T>().handling_ns())>>
    : std::true_type {};

// How to read one method's messages. gRPC hands them over as void*, so each
// method's types are named once here; a method missing from the table is
// still counted and timed, only without sizes.
struct MethodProbe {
  int64_t (*request_bytes)(const void*);
  int64_t (*response_bytes)(const void*);
  void (*read_reply)(const void*, CallRecord*);
  std::string (*activation)(const void*);
};

// `per_activation`: the call counts toward its activation's statistics
// (Evaluate does; Echo, which shares its messages, does not).
template <typename Request, typename Response>
MethodProbe Probe(bool per_activation = false) {
  MethodProbe probe;
  probe.request_bytes = [](const void* m) {
    return static_cast<int64_t>(static_cast<const Request*>(m)->ByteSizeLong());
  };
  probe.response_bytes = [](const void* m) {
    return static_cast<int64_t>(
        static_cast<const Response*>(m)->ByteSizeLong());
  };
  probe.read_reply = [](const void* m, CallRecord* call) {
    if constexpr (HasTimings<Response>::value) {
      const auto* reply = static_cast<const Response*>(m);
      call->kernel_ns += reply->kernel_ns();
      call->handling_ns += reply->handling_ns();
    }
  };
  probe.activation = [](const void*) -> std::string { return ""; };
  if constexpr (std::is_same_v<Request, v1::EvaluateRequest>) {
    if (per_activation) {
      probe.activation = [](const void* m) -> std::string {
        return static_cast<const Request*>(m)->activation();
      };
    }
  }
  return probe;
}

const absl::flat_hash_map<std::string, MethodProbe>& Probes() {
  using namespace v1;  // NOLINT: the table reads better without prefixes.
  static const auto* probes = new absl::flat_hash_map<std::string, MethodProbe>{
      {"ListActivations",
       Probe<ListActivationsRequest, ListActivationsResponse>()},
      {"Evaluate", Probe<EvaluateRequest, EvaluateResponse>(true)},
      {"Echo", Probe<EvaluateRequest, EvaluateResponse>()},
      {"CreateSession", Probe<CreateSessionRequest, CreateSessionResponse>()},
      {"GetSession", Probe<GetSessionRequest, GetSessionResponse>()},
      {"ListSessions", Probe<ListSessionsRequest, ListSessionsResponse>()},
      {"DeleteSession", Probe<DeleteSessionRequest, DeleteSessionResponse>()},
      {"AddUnit", Probe<AddUnitRequest, AddUnitResponse>()},
      {"Observe", Probe<ObserveRequest, ObserveResponse>()},
      {"FitBoundaries", Probe<FitBoundariesRequest, FitBoundariesResponse>()},
      {"GetUnit", Probe<GetUnitRequest, GetUnitResponse>()},
      {"SampleCurve", Probe<SampleCurveRequest, SampleCurveResponse>()},
      {"ExportUnit", Probe<ExportUnitRequest, ExportUnitResponse>()},
      {"ImportUnit", Probe<ImportUnitRequest, ImportUnitResponse>()},
      {"TrainStep", Probe<TrainStepRequest, TrainStepResponse>()},
      {"Fit", Probe<FitRequest, FitResponse>()},
      {"ListRuns", Probe<ListRunsRequest, ListRunsResponse>()},
      {"GetRun", Probe<GetRunRequest, GetRunResponse>()},
      {"EvaluateStream",
       Probe<EvaluateStreamRequest, EvaluateStreamResponse>()},
      {"ObserveStream", Probe<ObserveStreamRequest, ObserveStreamResponse>()},
      {"GetServerStats",
       Probe<GetServerStatsRequest, GetServerStatsResponse>()},
  };
  return *probes;
}

constexpr absl::string_view kActlabPrefix = "/actlab.v1.Actlab/";

// Names statistics may be kept under: a client sending made-up activation
// names must not grow the tables without bound.
bool IsKnownActivation(const std::string& name) {
  static const auto* known = [] {
    auto* names = new absl::flat_hash_set<std::string>{"pwlu"};
    for (const BaselineInfo& info : BaselineActivations()) {
      names->insert(info.name);
      names->insert(info.aliases.begin(), info.aliases.end());
    }
    return names;
  }();
  return known->contains(name);
}

class StatsInterceptor final : public grpc::experimental::Interceptor {
 public:
  StatsInterceptor(const std::vector<CallSink*>* sinks,
                   absl::string_view method)
      : sinks_(sinks), start_(absl::Now()) {
    // Other services (health, reflection) keep their full method path.
    if (absl::ConsumePrefix(&method, kActlabPrefix)) {
      auto it = Probes().find(method);
      if (it != Probes().end()) probe_ = &it->second;
    }
    call_.rpc = std::string(method);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (probe_ != nullptr &&
        methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) {
      if (const void* request = methods->GetRecvMessage()) {
        call_.request_bytes += probe_->request_bytes(request);
        std::string activation = probe_->activation(request);
        if (IsKnownActivation(activation))
          call_.activation = std::move(activation);
      }
    }
    if (probe_ != nullptr &&
        methods->QueryInterceptionHookPoint(Hook::PRE_SEND_MESSAGE)) {
      if (const void* reply = methods->GetSendMessage()) {
        call_.response_bytes += probe_->response_bytes(reply);
        probe_->read_reply(reply, &call_);
      }
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      call_.code = methods->GetSendStatus().error_code();
      call_.total_ns = absl::ToInt64Nanoseconds(absl::Now() - start_);
      for (CallSink* sink : *sinks_) sink->Record(call_);
    }
    methods->Proceed();
  }

 private:
  const std::vector<CallSink*>* sinks_;
  const absl::Time start_;
  const MethodProbe* probe_ = nullptr;
  CallRecord call_;
};

class StatsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit StatsInterceptorFactory(std::vector<CallSink*> sinks)
      : sinks_(std::move(sinks)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new StatsInterceptor(&sinks_, info->method());
  }

 private:
  const std::vector<CallSink*> sinks_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeStatsInterceptorFactory(std::vector<CallSink*> sinks) {
  return std::make_unique<StatsInterceptorFactory>(std::move(sinks));
}

}  // namespace actlab
