// Copyright actlab authors.
//
// absl::Status and grpc::Status share one code space (both follow
// google.rpc.Code), so mapping is a cast plus the message.

#ifndef ACTLAB_SERVER_GRPC_STATUS_H_
#define ACTLAB_SERVER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace actlab {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace actlab

#endif  // ACTLAB_SERVER_GRPC_STATUS_H_
