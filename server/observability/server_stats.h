// Copyright actlab authors.
//
// Cumulative per-RPC and per-activation call statistics since start, as
// GetServerStats returns them (Triton's statistics extension in spirit).
// Queue time is what the call spent in gRPC outside the handler.

#ifndef ACTLAB_SERVER_OBSERVABILITY_SERVER_STATS_H_
#define ACTLAB_SERVER_OBSERVABILITY_SERVER_STATS_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "actlab/v1/actlab.pb.h"
#include "server/observability/call_record.h"

namespace actlab {

class ServerStats final : public CallSink {
 public:
  ServerStats();

  void Record(const CallRecord& call) override;

  // Fills uptime, and the per-RPC and per-activation tables (sorted by
  // name). Sessions, units and version are the caller's to fill.
  void Snapshot(v1::GetServerStatsResponse* response) const;

 private:
  const absl::Time start_;
  mutable absl::Mutex mu_;
  std::map<std::string, v1::CallStatistics> rpcs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::CallStatistics> activations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_OBSERVABILITY_SERVER_STATS_H_
