// Copyright actlab authors.
//
// The CLI's channel to an actlab server and the one way it makes calls:
// every call carries the --timeout deadline and, given a token, an
// "authorization: Bearer <token>" header, and a gRPC status becomes an
// absl::Status with the same code, so errors print as
// "<CODE_NAME>: <message>".

#ifndef ACTLAB_CLIENT_CONNECTION_H_
#define ACTLAB_CLIENT_CONNECTION_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace actlab {

struct ConnectionOptions {
  std::string server = "127.0.0.1:50051";
  std::chrono::milliseconds timeout{30000};
  // Whether --timeout was given, so calls that run long by design keep the
  // user's deadline but are not cut off by the default one.
  bool timeout_given = false;
  // Both directions; gRPC's 4 MiB default is too small for real tensors.
  int max_message_mb = 256;
  // TLS when tls_ca_pem is set: the CA that signed the server's
  // certificate, and optionally this client's certificate and key for
  // servers that verify clients. PEM contents, not paths.
  std::string tls_ca_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Bearer token sent with every call (servers with --auth_tokens); empty
  // sends none.
  std::string token;
};

class Connection {
 public:
  explicit Connection(const ConnectionOptions& options);

  const std::string& server() const { return server_; }
  v1::Actlab::Stub& actlab() { return *actlab_; }
  grpc::health::v1::Health::Stub& health() { return *health_; }

  // Calls `method` on `stub` with the deadline. Unavailable and
  // DeadlineExceeded errors name the server, the usual culprit.
  template <typename Stub, typename Request, typename Response>
  absl::Status Call(Stub& stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                 const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout_);
    return ToStatus((stub.*method)(&context, request, response));
  }

  // For calls that run long by design (a streaming Fit): the --timeout
  // deadline if the user gave one, else `fallback` from now.
  void SetLongCallDeadline(grpc::ClientContext* context,
                           std::chrono::milliseconds fallback) const;

  // A finished call's status as Call() reports it, for streaming calls.
  absl::Status ToStatus(const grpc::Status& status) const;

 private:
  std::string server_;
  std::chrono::milliseconds timeout_;
  bool timeout_given_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Actlab::Stub> actlab_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace actlab

#endif  // ACTLAB_CLIENT_CONNECTION_H_
