// Copyright actlab authors.

#include "client/connection.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/client_interceptor.h"

namespace actlab {
namespace {

namespace exp = grpc::experimental;

// Adds the authorization header to every call on the channel, streaming
// ones included, so no call site can forget it.
class BearerInterceptor final : public exp::Interceptor {
 public:
  explicit BearerInterceptor(std::string header) : header_(std::move(header)) {}

  void Intercept(exp::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            exp::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", header_});
    }
    methods->Proceed();
  }

 private:
  const std::string header_;
};

class BearerInterceptorFactory final
    : public exp::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}

  exp::Interceptor* CreateClientInterceptor(exp::ClientRpcInfo*) override {
    return new BearerInterceptor(header_);
  }

 private:
  const std::string header_;
};

}  // namespace

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
  std::vector<std::unique_ptr<exp::ClientInterceptorFactoryInterface>>
      interceptors;
  if (!options.token.empty()) {
    interceptors.push_back(
        std::make_unique<BearerInterceptorFactory>(options.token));
  }
  channel_ = exp::CreateCustomChannelWithInterceptors(
      server_, credentials, arguments, std::move(interceptors));
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
