// Copyright actlab authors.

#include "tests/e2e/api_server_test.h"

#include <utility>

#include "grpcpp/grpcpp.h"

namespace actlab {

void ApiServerTest::StartServer(std::vector<std::string> extra_args) {
  dir_ = new TempDir();
  server_ = new ServerProcess(ACTLAB_SERVER_BINARY, dir_->path(),
                              std::move(extra_args));
  const absl::Status started = server_->Start();
  ASSERT_TRUE(started.ok()) << started;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  stub_ = v1::Actlab::NewStub(
              grpc::CreateCustomChannel(
                  server_->address(), grpc::InsecureChannelCredentials(), args))
              .release();
}

void ApiServerTest::TearDownTestSuite() {
  delete stub_;
  stub_ = nullptr;
  delete server_;
  server_ = nullptr;
  delete dir_;
  dir_ = nullptr;
}

void ApiServerTest::TearDown() {
  grpc::ClientContext context;
  v1::ListActivationsResponse response;
  EXPECT_TRUE(
      stub_->ListActivations(&context, v1::ListActivationsRequest(), &response)
          .ok())
      << server_->Log();
}

std::string ApiServerTest::CreateSession(
    const std::vector<v1::UnitConfig>& units) {
  grpc::ClientContext context;
  v1::CreateSessionRequest request;
  for (const v1::UnitConfig& unit : units) *request.add_units() = unit;
  v1::CreateSessionResponse response;
  const grpc::Status status =
      stub_->CreateSession(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.session().id();
}

v1::Unit ApiServerTest::GetUnit(const std::string& session,
                                const std::string& unit) {
  grpc::ClientContext context;
  v1::GetUnitRequest request;
  request.mutable_unit()->set_session_id(session);
  request.mutable_unit()->set_unit(unit);
  v1::GetUnitResponse response;
  EXPECT_TRUE(stub_->GetUnit(&context, request, &response).ok());
  return response.unit();
}

}  // namespace actlab
