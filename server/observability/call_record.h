// Copyright actlab authors.
//
// What the server remembers of one finished call, and the interface of the
// sinks (statistics, Prometheus) that take it.

#ifndef ACTLAB_SERVER_OBSERVABILITY_CALL_RECORD_H_
#define ACTLAB_SERVER_OBSERVABILITY_CALL_RECORD_H_

#include <cstdint>
#include <string>

#include "grpcpp/support/status.h"

namespace actlab {

struct CallRecord {
  std::string rpc;         // method name without the service: "Evaluate"
  std::string activation;  // Evaluate's activation; empty for other calls
  grpc::StatusCode code = grpc::StatusCode::OK;
  int64_t total_ns = 0;     // arrival to status
  int64_t handling_ns = 0;  // inside the handler, when the reply says
  int64_t kernel_ns = 0;    // inside kernels, when the reply says
  int64_t request_bytes = 0;
  int64_t response_bytes = 0;
};

// How much state the server holds and how busy it is, for gauges and
// GetServerStats.
struct SessionCounts {
  int64_t sessions = 0;
  int64_t units = 0;
  int64_t calls_in_flight = 0;
};

// Receives every finished call. Implementations are thread-safe: calls end
// on many threads at once.
class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual void Record(const CallRecord& call) = 0;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_OBSERVABILITY_CALL_RECORD_H_
