// Copyright actlab authors.

#include "server/observability/server_stats.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace actlab {
namespace {

void Add(const CallRecord& call, v1::CallStatistics* stats) {
  if (call.code == grpc::StatusCode::OK) {
    stats->set_success_count(stats->success_count() + 1);
  } else {
    stats->set_failure_count(stats->failure_count() + 1);
  }
  // Calls whose reply does not say how long the handler took count all of
  // their time as handling, none as queue.
  const int64_t handling =
      call.handling_ns > 0 ? call.handling_ns : call.total_ns;
  stats->set_queue_ns(stats->queue_ns() +
                      std::max<int64_t>(0, call.total_ns - handling));
  stats->set_compute_ns(stats->compute_ns() + call.kernel_ns);
  stats->set_total_ns(stats->total_ns() + call.total_ns);
  stats->set_request_bytes(stats->request_bytes() + call.request_bytes);
  stats->set_response_bytes(stats->response_bytes() + call.response_bytes);
}

}  // namespace

ServerStats::ServerStats() : start_(absl::Now()) {}

void ServerStats::Record(const CallRecord& call) {
  absl::MutexLock lock(&mu_);
  Add(call, &rpcs_[call.rpc]);
  if (!call.activation.empty()) Add(call, &activations_[call.activation]);
}

void ServerStats::Snapshot(v1::GetServerStatsResponse* response) const {
  response->set_uptime_seconds(absl::ToDoubleSeconds(absl::Now() - start_));
  absl::MutexLock lock(&mu_);
  for (const auto& [rpc, stats] : rpcs_) {
    v1::RpcStatistics* out = response->add_rpcs();
    out->set_rpc(rpc);
    *out->mutable_stats() = stats;
  }
  for (const auto& [activation, stats] : activations_) {
    v1::ActivationStatistics* out = response->add_activations();
    out->set_activation(activation);
    *out->mutable_stats() = stats;
  }
}

}  // namespace actlab
