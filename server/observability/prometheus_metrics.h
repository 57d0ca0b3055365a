// Copyright actlab authors.
//
// Prometheus metrics over HTTP (GET /metrics, text format), fed by the stats
// interceptor: requests by RPC and status code, latency and kernel-time
// histograms, payload bytes in and out, and store errors; plus gauges of
// sessions, units and calls in flight read when scraped.

#ifndef ACTLAB_SERVER_OBSERVABILITY_PROMETHEUS_METRICS_H_
#define ACTLAB_SERVER_OBSERVABILITY_PROMETHEUS_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/observability/call_record.h"

namespace actlab {

class PrometheusMetrics final : public CallSink {
 public:
  // Listens on `address` (HOST:PORT; port 0 picks a free one). Unavailable
  // if it cannot bind. `counts` is called on every scrape.
  static absl::StatusOr<std::unique_ptr<PrometheusMetrics>> Start(
      const std::string& address, std::function<SessionCounts()> counts);
  ~PrometheusMetrics() override;

  int port() const;
  void Record(const CallRecord& call) override;

 private:
  struct State;
  explicit PrometheusMetrics(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_OBSERVABILITY_PROMETHEUS_METRICS_H_
