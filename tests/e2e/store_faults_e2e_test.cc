// Copyright actlab authors.
//
// A SQLite store the server cannot write, and one that cannot grow (a full
// disk, emulated by RLIMIT_FSIZE on the running server): the server says
// so cleanly, changes nothing, does not crash, and loses nothing it
// acknowledged.

#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/wire_tensor.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

constexpr char kUnit[] = "act";

// Calls on one server; every call has a deadline, so a hung server fails
// the test instead of stalling it.
class Api {
 public:
  explicit Api(const std::string& address)
      : stub_(v1::Actlab::NewStub(grpc::CreateChannel(
            address, grpc::InsecureChannelCredentials()))) {}

  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::Actlab::Stub::*method)(
                        grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    return (stub_.get()->*method)(&context, request, response);
  }

  grpc::Status CreateSession(std::string* id) {
    v1::CreateSessionRequest request;
    request.add_units()->set_name(kUnit);
    v1::CreateSessionResponse response;
    grpc::Status s = Call(&v1::Actlab::Stub::CreateSession, request, &response);
    *id = response.session().id();
    return s;
  }

  grpc::Status Observe(const std::string& session) {
    v1::ObserveRequest request;
    request.mutable_unit()->set_session_id(session);
    request.mutable_unit()->set_unit(kUnit);
    *request.mutable_input() = Floats({0.5f, -1, 2, 3.5f});
    v1::ObserveResponse response;
    return Call(&v1::Actlab::Stub::Observe, request, &response);
  }

  grpc::Status FitBoundaries(const std::string& session) {
    v1::FitBoundariesRequest request;
    request.set_session_id(session);
    v1::FitBoundariesResponse response;
    return Call(&v1::Actlab::Stub::FitBoundaries, request, &response);
  }

  grpc::Status DeleteSession(const std::string& session) {
    v1::DeleteSessionRequest request;
    request.set_session_id(session);
    v1::DeleteSessionResponse response;
    return Call(&v1::Actlab::Stub::DeleteSession, request, &response);
  }

  // The unit; fails the test if it cannot be read.
  v1::Unit GetUnit(const std::string& session) {
    v1::GetUnitRequest request;
    request.mutable_unit()->set_session_id(session);
    request.mutable_unit()->set_unit(kUnit);
    v1::GetUnitResponse response;
    const grpc::Status s = Call(&v1::Actlab::Stub::GetUnit, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.unit();
  }

 private:
  std::unique_ptr<v1::Actlab::Stub> stub_;
};

TEST(StoreFaultsTest, StoreTheServerCannotWriteIsRefusedAtStart) {
  TempDir dir;
  const std::string folder = dir.File("store");
  const std::string store = folder + "/actlab.db";
  const std::vector<std::string> args = {"--store=" + store};
  std::string session;
  {
    ServerProcess server(ACTLAB_SERVER_BINARY, dir.path(), args);
    ASSERT_TRUE(Started(server));
    {
      Api api(server.address());
      ASSERT_TRUE(api.CreateSession(&session).ok());
      ASSERT_TRUE(api.Observe(session).ok());
    }
    // With the client's connection closed, the drain has nothing to wait
    // for.
    absl::StatusOr<int> code = server.Stop();
    ASSERT_TRUE(code.ok()) << code.status();
  }

  // Read-only in a folder the server may write (where SQLite would open it
  // read-only and every update would fail), and in one it may not.
  ASSERT_EQ(chmod(store.c_str(), 0444), 0);
  for (const mode_t folder_mode : {0777, 0555}) {
    SCOPED_TRACE(absl::StrCat("store folder mode ", folder_mode));
    ASSERT_EQ(chmod(folder.c_str(), folder_mode), 0);
    ServerProcess server(ACTLAB_SERVER_BINARY, dir.path(), args);
    server.RunUnprivileged();
    const absl::Status started = server.Start();
    EXPECT_THAT(started.message(), HasSubstr("exited with 1"));
    EXPECT_THAT(started.message(),
                HasSubstr(absl::StrCat("'", store, "' is read-only")));
  }

  // Writable again, the store is as it was.
  ASSERT_EQ(chmod(folder.c_str(), 0755), 0);
  ASSERT_EQ(chmod(store.c_str(), 0644), 0);
  ServerProcess server(ACTLAB_SERVER_BINARY, dir.path(), args);
  ASSERT_TRUE(Started(server));
  Api api(server.address());
  const v1::Unit unit = api.GetUnit(session);
  EXPECT_EQ(unit.stats().batches(), 1);
  EXPECT_EQ(unit.version(), 2);
  EXPECT_TRUE(api.Observe(session).ok());
}

// Sets the soft RLIMIT_FSIZE of `pid`, keeping its hard limit.
void SetFileSizeLimit(pid_t pid, rlim_t bytes) {
  rlimit limit{};
  ASSERT_EQ(prlimit(pid, RLIMIT_FSIZE, nullptr, &limit), 0);
  limit.rlim_cur = bytes;
  ASSERT_EQ(prlimit(pid, RLIMIT_FSIZE, &limit, nullptr), 0);
}

TEST(StoreFaultsTest, FullStoreFailsWritesCleanlyAndKeepsServingReads) {
  TempDir dir;
  ServerProcess server(ACTLAB_SERVER_BINARY, dir.path());
  ASSERT_TRUE(Started(server));
  auto api = std::make_unique<Api>(server.address());
  std::string session, other;
  ASSERT_TRUE(api->CreateSession(&session).ok());
  ASSERT_TRUE(api->CreateSession(&other).ok());
  constexpr int kBatches = 5;
  for (int i = 0; i < kBatches; ++i) ASSERT_TRUE(api->Observe(session).ok());

  // No file of the server's may grow: the store's next write fails as a
  // full disk's would (EFBIG rather than ENOSPC).
  ASSERT_NO_FATAL_FAILURE(SetFileSizeLimit(server.pid(), 0));
  std::string created;
  for (const auto& [rpc, status] :
       std::vector<std::pair<std::string, grpc::Status>>{
           {"Observe", api->Observe(session)},
           {"FitBoundaries", api->FitBoundaries(session)},
           {"CreateSession", api->CreateSession(&created)},
           {"DeleteSession", api->DeleteSession(other)}}) {
    SCOPED_TRACE(rpc);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(), HasSubstr("session store"));
    EXPECT_THAT(status.error_message(), HasSubstr("full"));
  }
  // Reads and stateless calls go on; nothing changed.
  v1::Unit unit = api->GetUnit(session);
  EXPECT_EQ(unit.stats().batches(), kBatches);
  EXPECT_EQ(unit.phase(), v1::STATISTICS);
  EXPECT_EQ(api->GetUnit(other).version(), 1);
  v1::EvaluateRequest evaluate;
  evaluate.set_activation("relu");
  *evaluate.mutable_input() = Floats({-1, 2});
  v1::EvaluateResponse evaluated;
  EXPECT_TRUE(
      api->Call(&v1::Actlab::Stub::Evaluate, evaluate, &evaluated).ok());
  v1::ListSessionsResponse listed;
  ASSERT_TRUE(api->Call(&v1::Actlab::Stub::ListSessions,
                        v1::ListSessionsRequest(), &listed)
                  .ok());
  EXPECT_EQ(listed.sessions_size(), 2);

  // With room again, writes succeed, and survive a crash with the ones
  // acknowledged before the disk filled.
  ASSERT_NO_FATAL_FAILURE(SetFileSizeLimit(server.pid(), RLIM_INFINITY));
  ASSERT_TRUE(api->Observe(session).ok());
  ASSERT_TRUE(api->FitBoundaries(session).ok());
  server.Kill();
  ASSERT_TRUE(Started(server));
  api = std::make_unique<Api>(server.address());
  unit = api->GetUnit(session);
  EXPECT_EQ(unit.stats().batches(), kBatches + 1);
  EXPECT_EQ(unit.phase(), v1::TRAINING);
  EXPECT_EQ(api->GetUnit(other).version(), 1);
}

}  // namespace
}  // namespace actlab
