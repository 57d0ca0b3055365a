// Copyright actlab authors.
//
// GetServerStats and the Prometheus endpoint of a real server: the counters
// move by exactly the calls made, and /metrics serves valid text format.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

// A loopback port nobody listens on right now. The kernel may hand it out
// again before the server binds it, which is rare enough for a test.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// GET /metrics over a plain socket: the test needs no HTTP library.
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request =
      "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  return response;
}

// Sample lines of a text-format body by their full name and labels.
std::map<std::string, double> Samples(const std::string& body) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      continue;
    }
    samples[std::string(line.substr(0, space))] = value;
  }
  return samples;
}

v1::EvaluateRequest GeluRequest() {
  v1::EvaluateRequest request;
  request.set_activation("gelu");
  request.mutable_input()->set_dtype(v1::FLOAT32);
  request.mutable_input()->add_shape(256);
  request.mutable_input()->set_data(std::string(256 * 4, '\0'));
  return request;
}

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_port_ = FreePort();
    server_ =
        std::make_unique<ServerProcess>(ACTLAB_SERVER_BINARY, dir_.path(),
                                        std::vector<std::string>{absl::StrCat(
                                            "--metrics_port=", metrics_port_)});
    const absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
    stub_ = v1::Actlab::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  v1::GetServerStatsResponse Stats() {
    grpc::ClientContext context;
    v1::GetServerStatsResponse response;
    EXPECT_TRUE(
        stub_->GetServerStats(&context, v1::GetServerStatsRequest(), &response)
            .ok());
    return response;
  }

  grpc::Status Evaluate(const v1::EvaluateRequest& request) {
    grpc::ClientContext context;
    v1::EvaluateResponse response;
    return stub_->Evaluate(&context, request, &response);
  }

  TempDir dir_;
  int metrics_port_ = 0;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Actlab::Stub> stub_;
};

const v1::CallStatistics* FindRpc(const v1::GetServerStatsResponse& stats,
                                  const std::string& rpc) {
  for (const auto& entry : stats.rpcs()) {
    if (entry.rpc() == rpc) return &entry.stats();
  }
  return nullptr;
}

const v1::CallStatistics* FindActivation(
    const v1::GetServerStatsResponse& stats, const std::string& name) {
  for (const auto& entry : stats.activations()) {
    if (entry.activation() == name) return &entry.stats();
  }
  return nullptr;
}

TEST_F(ObservabilityTest, StatsCountExactlyTheCallsMade) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Evaluate(GeluRequest()).ok());
  v1::EvaluateRequest unknown = GeluRequest();
  unknown.set_activation("not-an-activation");
  EXPECT_FALSE(Evaluate(unknown).ok());
  v1::EvaluateRequest short_payload = GeluRequest();
  short_payload.mutable_input()->mutable_data()->resize(3);
  EXPECT_FALSE(Evaluate(short_payload).ok());

  const v1::GetServerStatsResponse stats = Stats();
  EXPECT_EQ(stats.version(), "0.1.0");
  EXPECT_GT(stats.uptime_seconds(), 0);
  const v1::CallStatistics* evaluate = FindRpc(stats, "Evaluate");
  ASSERT_NE(evaluate, nullptr);
  EXPECT_EQ(evaluate->success_count(), 3);
  EXPECT_EQ(evaluate->failure_count(), 2);
  EXPECT_GT(evaluate->compute_ns(), 0);
  EXPECT_GE(evaluate->total_ns(), evaluate->compute_ns());
  EXPECT_EQ(evaluate->request_bytes(), 3 * GeluRequest().ByteSizeLong() +
                                           unknown.ByteSizeLong() +
                                           short_payload.ByteSizeLong());
  EXPECT_GT(evaluate->response_bytes(), 3 * 256 * 4);

  const v1::CallStatistics* gelu = FindActivation(stats, "gelu");
  ASSERT_NE(gelu, nullptr);
  EXPECT_EQ(gelu->success_count(), 3);
  EXPECT_EQ(gelu->failure_count(), 1);  // the short payload
  EXPECT_EQ(FindActivation(stats, "not-an-activation"), nullptr);

  // The stats call itself shows up in the next snapshot.
  // Named: `own` points into it.
  const v1::GetServerStatsResponse next = Stats();
  const v1::CallStatistics* own = FindRpc(next, "GetServerStats");
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(own->success_count(), 1);
}

TEST_F(ObservabilityTest, ObserveReportsKernelTimeApartFromHandling) {
  grpc::ClientContext create_context;
  v1::CreateSessionRequest create;
  create.add_units()->set_name("act");
  v1::CreateSessionResponse session;
  ASSERT_TRUE(stub_->CreateSession(&create_context, create, &session).ok());
  grpc::ClientContext context;
  v1::ObserveRequest request;
  request.mutable_unit()->set_session_id(session.session().id());
  request.mutable_unit()->set_unit("act");
  *request.mutable_input() = GeluRequest().input();
  v1::ObserveResponse response;
  ASSERT_TRUE(stub_->Observe(&context, request, &response).ok());
  EXPECT_GT(response.kernel_ns(), 0);
  // Handling also covers decoding and the store's durable commit.
  EXPECT_GT(response.handling_ns(), response.kernel_ns());
}

TEST_F(ObservabilityTest, SessionsAndUnitsAreCounted) {
  grpc::ClientContext context;
  v1::CreateSessionRequest request;
  request.add_units()->set_name("a");
  request.add_units()->set_name("b");
  v1::CreateSessionResponse response;
  ASSERT_TRUE(stub_->CreateSession(&context, request, &response).ok());
  const v1::GetServerStatsResponse stats = Stats();
  EXPECT_EQ(stats.sessions(), 1);
  EXPECT_EQ(stats.units(), 2);
  // The GetServerStats call itself.
  EXPECT_EQ(stats.calls_in_flight(), 1);
}

TEST_F(ObservabilityTest, MetricsEndpointServesPrometheusText) {
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Evaluate(GeluRequest()).ok());
  v1::EvaluateRequest bad = GeluRequest();
  bad.set_activation("relu7");
  EXPECT_FALSE(Evaluate(bad).ok());

  const std::string response = Scrape(metrics_port_);
  ASSERT_TRUE(absl::StartsWith(response, "HTTP/1.1 200")) << response;
  const size_t body_start = response.find("\r\n\r\n");
  ASSERT_NE(body_start, std::string::npos);
  const std::string body = response.substr(body_start + 4);
  EXPECT_THAT(body,
              ::testing::HasSubstr("# TYPE actlab_requests_total counter"));
  EXPECT_THAT(body, ::testing::HasSubstr(
                        "# TYPE actlab_request_duration_seconds histogram"));

  const std::map<std::string, double> samples = Samples(body);
  EXPECT_EQ(samples.at(R"(actlab_requests_total{code="OK",rpc="Evaluate"})"),
            2);
  EXPECT_EQ(
      samples.at(
          R"(actlab_requests_total{code="INVALID_ARGUMENT",rpc="Evaluate"})"),
      1);
  EXPECT_EQ(
      samples.at(R"(actlab_request_duration_seconds_count{rpc="Evaluate"})"),
      3);
  EXPECT_EQ(
      samples.at(
          R"(actlab_kernel_duration_seconds_count{activation="gelu",rpc="Evaluate"})"),
      2);
  EXPECT_EQ(samples.at(R"(actlab_request_bytes_total{rpc="Evaluate"})"),
            2 * GeluRequest().ByteSizeLong() + bad.ByteSizeLong());
  EXPECT_EQ(samples.at("actlab_sessions"), 0);
  // Every call above has returned; a scrape is not an Actlab call.
  EXPECT_EQ(samples.at("actlab_calls_in_flight"), 0);
  // Every sample line parses as NAME{labels} VALUE.
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    double value;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value) ||
                absl::EndsWith(line, " Nan"))
        << line;
  }
}

}  // namespace
}  // namespace actlab
