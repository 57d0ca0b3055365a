// Copyright actlab authors.
//
// A server interceptor that times every call from arrival to status, reads
// the sizes of its messages and the timings its replies report, and hands a
// CallRecord to each sink. Doing it here keeps the service methods free of
// bookkeeping and covers every RPC, health and reflection included.

#ifndef ACTLAB_SERVER_OBSERVABILITY_STATS_INTERCEPTOR_H_
#define ACTLAB_SERVER_OBSERVABILITY_STATS_INTERCEPTOR_H_

#include <memory>
#include <vector>

#include "grpcpp/support/server_interceptor.h"
#include "server/observability/call_record.h"

namespace actlab {

// Sinks must outlive the server the factory is installed in.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeStatsInterceptorFactory(std::vector<CallSink*> sinks);

}  // namespace actlab

#endif  // ACTLAB_SERVER_OBSERVABILITY_STATS_INTERCEPTOR_H_
