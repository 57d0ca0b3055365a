// Copyright actlab authors.
//
// Authentication and session ownership on a real server started with
// --auth_tokens: calls without a valid bearer token are refused, health
// stays open, a session is invisible to every principal but its owner and
// admins, SIGHUP reloads the tokens (a bad file keeps the old ones), and
// the CLI (also over TLS) and the Python client send the token.

#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/tls_support.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAlice[] = "alice-secret-token-0001";
constexpr char kBob[] = "bob-secret-token-000002";
constexpr char kRoot[] = "root-secret-token-00003";
constexpr char kCarol[] = "carol-secret-token-0004";
constexpr char kUnknown[] = "unknown-secret-token-05";

std::string Tokens(const std::vector<std::string>& lines) {
  std::string text = "# actlab auth e2e\n";
  for (const std::string& line : lines) absl::StrAppend(&text, line, "\n");
  return text;
}

class AuthE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteTokens(
        Tokens({absl::StrCat(kAlice, " alice"), absl::StrCat(kBob, " bob"),
                absl::StrCat(kRoot, " root admin")}));
    server_ = std::make_unique<ServerProcess>(
        ACTLAB_SERVER_BINARY, dir_.path(),
        // The spelling; the server takes '-' or '_' in flag names.
        std::vector<std::string>{"--auth-tokens=" + tokens_});
    // Start() waits for grpc.health.v1 SERVING, asked without a token.
    ASSERT_TRUE(Started(*server_));
    stub_ = v1::Actlab::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  void WriteTokens(const std::string& contents) {
    // Replaced whole, as an operator's editor or config management would.
    const std::string tmp = tokens_ + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << contents;
    std::rename(tmp.c_str(), tokens_.c_str());
  }

  // A context whose call sends `authorization` unless it is empty.
  static std::unique_ptr<grpc::ClientContext> Context(
      const std::string& authorization) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(20));
    if (!authorization.empty()) {
      context->AddMetadata("authorization", authorization);
    }
    return context;
  }
  static std::string Bearer(const std::string& token) {
    return absl::StrCat("Bearer ", token);
  }

  grpc::Status ListSessions(const std::string& token,
                            v1::ListSessionsResponse* response = nullptr) {
    v1::ListSessionsResponse ignored;
    return stub_->ListSessions(Context(Bearer(token)).get(),
                               v1::ListSessionsRequest(),
                               response ? response : &ignored);
  }

  std::vector<std::string> SessionIds(const std::string& token) {
    v1::ListSessionsResponse response;
    const grpc::Status status = ListSessions(token, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> ids;
    for (const v1::Session& s : response.sessions()) ids.push_back(s.id());
    return ids;
  }

  // A session of `token`'s principal with one layer-wise unit "act".
  std::string CreateSession(const std::string& token) {
    v1::CreateSessionRequest request;
    request.add_units()->set_name("act");
    v1::CreateSessionResponse response;
    const grpc::Status status =
        stub_->CreateSession(Context(Bearer(token)).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.session().id();
  }

  // The CLI against `address` with $ACTLAB_TOKEN set to `env_token` (empty:
  // no token), whatever the test's own environment holds.
  static ProcessResult CliWithEnv(const std::string& address,
                                  const std::string& env_token,
                                  std::vector<std::string> args) {
    std::vector<std::string> argv = {"ACTLAB_TOKEN=" + env_token,
                                     ACTLAB_CLI_BINARY};
    for (std::string& arg : CliArgs(address, std::move(args))) {
      argv.push_back(std::move(arg));
    }
    return RunProcess("/usr/bin/env", argv);
  }

  // Polls `done` until it holds, for at most 20 s.
  static bool Eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 400; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }

  TempDir dir_;
  const std::string tokens_ = dir_.File("tokens");
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Actlab::Stub> stub_;
};

void ExpectUnauthenticated(const grpc::Status& status,
                           const std::string& reason) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(reason));
  EXPECT_THAT(status.error_message(), Not(HasSubstr("secret-token")));
}

TEST_F(AuthE2eTest, CallsWithoutAValidTokenAreRefusedAndHealthStaysOpen) {
  EXPECT_THAT(server_->Log(), HasSubstr("auth: 3 tokens from " + tokens_));
  const struct {
    std::string authorization;
    std::string reason;
  } refused[] = {
      {"", "missing 'authorization: Bearer <token>'"},
      {Bearer(kUnknown), "not valid on this server"},
      {absl::StrCat("Basic ", kAlice), "malformed"},
  };
  for (const auto& c : refused) {
    SCOPED_TRACE(c.authorization);
    // Unary.
    v1::ListActivationsResponse activations;
    ExpectUnauthenticated(
        stub_->ListActivations(Context(c.authorization).get(),
                               v1::ListActivationsRequest(), &activations),
        c.reason);
    v1::GetServerStatsResponse stats;
    ExpectUnauthenticated(
        stub_->GetServerStats(Context(c.authorization).get(),
                              v1::GetServerStatsRequest(), &stats),
        c.reason);
    // Bidirectional streaming: refused before the header is read.
    auto context = Context(c.authorization);
    auto stream = stub_->EvaluateStream(context.get());
    v1::EvaluateStreamRequest header;
    header.mutable_header()->set_activation("relu");
    stream->Write(header);
    stream->WritesDone();
    v1::EvaluateStreamResponse reply;
    while (stream->Read(&reply)) {
    }
    ExpectUnauthenticated(stream->Finish(), c.reason);
    // Server streaming.
    auto fit_context = Context(c.authorization);
    auto fit = stub_->Fit(fit_context.get(), v1::FitRequest());
    v1::FitResponse progress;
    while (fit->Read(&progress)) {
    }
    ExpectUnauthenticated(fit->Finish(), c.reason);
  }

  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      server_->address(), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("actlab.v1.Actlab");
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(Context("").get(), request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  v1::ListActivationsResponse activations;
  EXPECT_TRUE(stub_
                  ->ListActivations(Context(Bearer(kBob)).get(),
                                    v1::ListActivationsRequest(), &activations)
                  .ok());
  EXPECT_GT(activations.activations_size(), 0);
  EXPECT_THAT(server_->Log(), Not(HasSubstr("secret-token")));
}

TEST_F(AuthE2eTest, ASessionIsSeenOnlyByItsOwnerAndAdmins) {
  const std::string session = CreateSession(kAlice);
  ASSERT_FALSE(session.empty());
  const std::string bobs = CreateSession(kBob);

  // What anyone hears about an id that does not exist, in alice's id.
  const std::string unknown = "0123456789abcdef0123456789abcdef";
  v1::GetSessionRequest get;
  get.set_session_id(unknown);
  v1::GetSessionResponse got;
  const grpc::Status missing =
      stub_->GetSession(Context(Bearer(kAlice)).get(), get, &got);
  ASSERT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  const std::string hidden =
      absl::StrReplaceAll(missing.error_message(), {{unknown, session}});
  auto expect_hidden = [&](const grpc::Status& status) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(status.error_message(), hidden);
  };

  get.set_session_id(session);
  expect_hidden(stub_->GetSession(Context(Bearer(kBob)).get(), get, &got));
  v1::ObserveRequest observe;
  observe.mutable_unit()->set_session_id(session);
  observe.mutable_unit()->set_unit("act");
  const float x[] = {1, 2, 3};
  observe.mutable_input()->set_dtype(v1::FLOAT32);
  observe.mutable_input()->add_shape(3);
  observe.mutable_input()->set_data(x, sizeof(x));
  v1::ObserveResponse observed;
  expect_hidden(
      stub_->Observe(Context(Bearer(kBob)).get(), observe, &observed));
  v1::EvaluateRequest evaluate;
  evaluate.set_activation("pwlu");
  *evaluate.mutable_unit() = observe.unit();
  *evaluate.mutable_input() = observe.input();
  v1::EvaluateResponse evaluated;
  expect_hidden(
      stub_->Evaluate(Context(Bearer(kBob)).get(), evaluate, &evaluated));
  v1::DeleteSessionRequest remove;
  remove.set_session_id(session);
  v1::DeleteSessionResponse removed;
  expect_hidden(
      stub_->DeleteSession(Context(Bearer(kBob)).get(), remove, &removed));

  EXPECT_THAT(SessionIds(kBob), ::testing::ElementsAre(bobs));
  EXPECT_THAT(SessionIds(kAlice), ::testing::ElementsAre(session));
  EXPECT_THAT(SessionIds(kRoot), ::testing::ElementsAre(session, bobs));

  // Alice's session is untouched, and the admin reads it with its owner.
  ASSERT_TRUE(stub_->GetSession(Context(Bearer(kRoot)).get(), get, &got).ok());
  EXPECT_EQ(got.session().owner(), "alice");
  EXPECT_EQ(got.units(0).batches_observed(), 0);
  ASSERT_TRUE(
      stub_->Observe(Context(Bearer(kAlice)).get(), observe, &observed).ok());
  EXPECT_EQ(observed.stats().batches(), 1);
}

TEST_F(AuthE2eTest, SighupReloadsTokensAndABadFileKeepsTheOld) {
  // carol joins, bob leaves.
  WriteTokens(
      Tokens({absl::StrCat(kAlice, " alice"), absl::StrCat(kCarol, " carol")}));
  server_->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return ListSessions(kCarol).ok(); }))
      << server_->Log();
  ExpectUnauthenticated(ListSessions(kBob), "not valid");
  EXPECT_TRUE(ListSessions(kAlice).ok());
  EXPECT_THAT(server_->Log(), HasSubstr("auth: reloaded 2 tokens"));

  // A duplicated token on line 3: logged with its line, nothing changes.
  WriteTokens(
      Tokens({absl::StrCat(kBob, " bob"), absl::StrCat(kBob, " mallory")}));
  server_->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] {
    return server_->Log().find("reload failed") != std::string::npos;
  })) << server_->Log();
  EXPECT_THAT(server_->Log(), HasSubstr(absl::StrCat(tokens_,
                                                     ":3: this token already "
                                                     "appears on line 2")));
  EXPECT_THAT(server_->Log(), Not(HasSubstr("secret-token")));
  EXPECT_TRUE(ListSessions(kCarol).ok());
  EXPECT_TRUE(ListSessions(kAlice).ok());
  ExpectUnauthenticated(ListSessions(kBob), "not valid");
}

TEST_F(AuthE2eTest, ABadTokensFileStopsTheServerAtStart) {
  const std::string bad = dir_.File("bad_tokens");
  std::ofstream(bad) << absl::StrCat(kAlice, " alice\n", "short bob\n");
  const ProcessResult r = RunProcess(
      ACTLAB_SERVER_BINARY, {"--listen=127.0.0.1:0", "--auth_tokens=" + bad,
                             "--store=" + dir_.File("other.db")});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(bad + ":2: the token has 5 characters"));
  EXPECT_THAT(r.err, Not(HasSubstr("secret-token")));
}

TEST_F(AuthE2eTest, TheCliSendsTheTokenFromItsEnvironmentOrFlag) {
  auto cli = [&](const std::string& env_token, std::vector<std::string> args) {
    return CliWithEnv(server_->address(), env_token, std::move(args));
  };
  ProcessResult r = cli(kAlice, {"session", "create", "--name", "mine"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string session(absl::StripAsciiWhitespace(r.out));
  r = cli(kAlice, {"session", "list"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(session));
  EXPECT_THAT(r.out, HasSubstr("alice"));

  // --token wins over the environment.
  r = cli(kUnknown, {"session", "list", "--token", kBob});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, Not(HasSubstr(session)));
  r = cli(kUnknown, {"session", "list"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
  r = cli("", {"session", "list"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("missing"));
}

TEST_F(AuthE2eTest, TheTokenTravelsOverTls) {
  TempDir tls_dir;
  Certificates certs(tls_dir);
  ASSERT_TRUE(certs.Make());
  TlsServer server(tls_dir, {"--tls_cert=" + certs.cert("server"),
                             "--tls_key=" + certs.key("server"),
                             "--auth_tokens=" + tokens_});
  const std::string address = server.WaitForAddress();
  ASSERT_FALSE(address.empty());

  ProcessResult r = CliWithEnv(address, "", {"--tls_ca", certs.ca(), "health"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("SERVING"));
  r = CliWithEnv(address, "", {"--tls_ca", certs.ca(), "session", "list"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
  r = CliWithEnv(address, kAlice,
                 {"--tls_ca", certs.ca(), "session", "create"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string session(absl::StripAsciiWhitespace(r.out));
  r = CliWithEnv(address, kAlice, {"--tls_ca", certs.ca(), "session", "list"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(session));
}

TEST_F(AuthE2eTest, ThePythonClientSendsItsToken) {
  const ProcessResult r = RunProcess(
      "/usr/bin/env",
      {absl::StrCat("PYTHONPATH=", ACTLAB_PYTHON_STUBS, ":",
                    ACTLAB_PYTHON_CLIENT),
       "/usr/bin/python3", absl::StrCat(ACTLAB_PYTHON_CLIENT, "/example.py"),
       "--server", server_->address(), "--token", kBob});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(SessionIds(kBob).size(), 1u);
  EXPECT_TRUE(SessionIds(kAlice).empty());
}

}  // namespace
}  // namespace actlab
