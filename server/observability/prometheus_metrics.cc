// Copyright actlab authors.

#include "server/observability/prometheus_metrics.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace actlab {
namespace {

// Session, unit and in-flight call counts change with every call; reading
// them at scrape time is cheaper and never stale.
class SessionGauges final : public prometheus::Collectable {
 public:
  explicit SessionGauges(std::function<SessionCounts()> counts)
      : counts_(std::move(counts)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    const SessionCounts counts = counts_();
    return {
        Gauge("actlab_sessions", "Sessions held by the server.",
              counts.sessions),
        Gauge("actlab_units", "PWLU units over all sessions.", counts.units),
        Gauge("actlab_calls_in_flight",
              "Actlab calls running now (--max_calls_in_flight bounds it).",
              counts.calls_in_flight)};
  }

 private:
  static prometheus::MetricFamily Gauge(std::string name, std::string help,
                                        int64_t value) {
    prometheus::MetricFamily family;
    family.name = std::move(name);
    family.help = std::move(help);
    family.type = prometheus::MetricType::Gauge;
    family.metric.emplace_back();
    family.metric.back().gauge.value = static_cast<double>(value);
    return family;
  }

  std::function<SessionCounts()> counts_;
};

// Latency buckets from 50 us to 10 s: a small Evaluate sits at the bottom,
// a long Fit at the top.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {5e-5,   1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
          2.5e-2, 5e-2, 0.1,    0.25, 0.5,  1,      2.5,  10};
}

bool IsStoreError(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE ||
         code == grpc::StatusCode::INTERNAL ||
         code == grpc::StatusCode::DATA_LOSS;
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

struct PrometheusMetrics::State {
  std::shared_ptr<prometheus::Registry> registry =
      std::make_shared<prometheus::Registry>();
  std::shared_ptr<SessionGauges> gauges;
  std::unique_ptr<prometheus::Exposer> exposer;

  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter()
          .Name("actlab_requests_total")
          .Help("Finished calls by RPC and gRPC status code.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& latency =
      prometheus::BuildHistogram()
          .Name("actlab_request_duration_seconds")
          .Help("Call duration from arrival to status, by RPC.")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& kernel =
      prometheus::BuildHistogram()
          .Name("actlab_kernel_duration_seconds")
          .Help("Time in kernels per call, by RPC and activation.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& bytes_in =
      prometheus::BuildCounter()
          .Name("actlab_request_bytes_total")
          .Help("Request payload bytes received, by RPC.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& bytes_out =
      prometheus::BuildCounter()
          .Name("actlab_response_bytes_total")
          .Help("Response payload bytes sent, by RPC.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& store_errors =
      prometheus::BuildCounter()
          .Name("actlab_store_errors_total")
          .Help(
              "Calls that failed UNAVAILABLE, INTERNAL or DATA_LOSS, the "
              "codes the session store reports its failures with.")
          .Register(*registry);
};

absl::StatusOr<std::unique_ptr<PrometheusMetrics>> PrometheusMetrics::Start(
    const std::string& address, std::function<SessionCounts()> counts) {
  auto state = std::make_unique<State>();
  state->gauges = std::make_shared<SessionGauges>(std::move(counts));
  try {
    // civetweb throws when it cannot bind; nothing may escape this boundary.
    state->exposer = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics endpoint ", address, ": ", e.what()));
  }
  state->exposer->RegisterCollectable(state->registry);
  state->exposer->RegisterCollectable(state->gauges);
  return std::unique_ptr<PrometheusMetrics>(
      new PrometheusMetrics(std::move(state)));
}

PrometheusMetrics::PrometheusMetrics(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

PrometheusMetrics::~PrometheusMetrics() = default;

int PrometheusMetrics::port() const {
  const std::vector<int> ports = state_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void PrometheusMetrics::Record(const CallRecord& call) {
  State& s = *state_;
  s.requests.Add({{"rpc", call.rpc}, {"code", CodeName(call.code)}})
      .Increment();
  s.latency.Add({{"rpc", call.rpc}}, LatencyBuckets())
      .Observe(static_cast<double>(call.total_ns) * 1e-9);
  if (call.kernel_ns > 0) {
    s.kernel
        .Add({{"rpc", call.rpc}, {"activation", call.activation}},
             LatencyBuckets())
        .Observe(static_cast<double>(call.kernel_ns) * 1e-9);
  }
  s.bytes_in.Add({{"rpc", call.rpc}})
      .Increment(static_cast<double>(call.request_bytes));
  s.bytes_out.Add({{"rpc", call.rpc}})
      .Increment(static_cast<double>(call.response_bytes));
  if (IsStoreError(call.code)) s.store_errors.Add({}).Increment();
}

}  // namespace actlab
