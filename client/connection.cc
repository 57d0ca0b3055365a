// Copyright actlab authors.

#include "client/connection.h"

#include "absl/strings/str_cat.h"

namespace actlab {

Connection::Connection(const ConnectionOptions& options)
    : server_(options.server),
      timeout_(options.timeout),
      timeout_given_(options.timeout_given) {
  grpc::ChannelArguments arguments;
  const int max_bytes = options.max_message_mb * 1024 * 1024;
  arguments.SetMaxReceiveMessageSize(max_bytes);
  arguments.SetMaxSendMessageSize(max_bytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (!options.tls_ca_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_ca_pem;
    ssl.pem_cert_chain = options.tls_cert_pem;
    ssl.pem_private_key = options.tls_key_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  channel_ = grpc::CreateCustomChannel(server_, credentials, arguments);
  actlab_ = v1::Actlab::NewStub(channel_);
  health_ = grpc::health::v1::Health::NewStub(channel_);
}

void Connection::SetLongCallDeadline(grpc::ClientContext* context,
                                     std::chrono::milliseconds fallback) const {
  context->set_deadline(std::chrono::system_clock::now() +
                        (timeout_given_ ? timeout_ : fallback));
}

absl::Status Connection::ToStatus(const grpc::Status& status) const {
  if (status.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbering.
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string message = status.error_message();
  if (code == absl::StatusCode::kUnavailable ||
      code == absl::StatusCode::kDeadlineExceeded) {
    absl::StrAppend(&message, " (server ", server_, ")");
  }
  return absl::Status(code, message);
}

}  // namespace actlab
