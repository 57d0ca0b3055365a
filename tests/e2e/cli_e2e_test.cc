// Copyright actlab authors.
//
// The actlab CLI against the real actlab-server, both as separate processes
// on loopback. Stateless checks share one server; durability checks start
// their own so they can stop, kill and restart it.

#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "actlab/v1/actlab.pb.h"
#include "client/npy.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

constexpr char kServerBinary[] = ACTLAB_SERVER_BINARY;
constexpr char kCliBinary[] = ACTLAB_CLI_BINARY;

// Per-channel input distributions for the calibration tests.
const std::vector<double> kMeans = {-1.0, 0.5, 2.0};
const std::vector<double> kStds = {0.5, 1.0, 2.0};
constexpr int kRowsPerBatch = 4096;

// The first line of stdout, for commands that print one id or name.
std::string FirstLine(const std::string& text) {
  return std::string(text.substr(0, text.find('\n')));
}

// A [kRowsPerBatch, 3] batch, channel c drawn from N(kMeans[c], kStds[c]).
void WriteChannelBatch(const std::string& path, std::mt19937* rng) {
  std::vector<float> data(kRowsPerBatch * kMeans.size());
  for (int r = 0; r < kRowsPerBatch; ++r) {
    for (size_t c = 0; c < kMeans.size(); ++c) {
      std::normal_distribution<double> normal(kMeans[c], kStds[c]);
      data[r * kMeans.size() + c] = static_cast<float>(normal(*rng));
    }
  }
  ASSERT_TRUE(
      WriteNpy(path, {kRowsPerBatch, static_cast<int64_t>(kMeans.size())}, data)
          .ok());
}

std::vector<std::string> WriteChannelBatches(const TempDir& dir,
                                             const std::string& prefix,
                                             int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> paths;
  for (int i = 0; i < count; ++i) {
    paths.push_back(dir.File(absl::StrCat(prefix, i, ".npy")));
    WriteChannelBatch(paths.back(), &rng);
  }
  return paths;
}

// Creates a session with one channel-wise unit "act" and returns its id.
// Momentum 0.5 lets 20 batches wash out any initial running statistics.
std::string CreateChannelSession(const std::string& address) {
  const ProcessResult r = Cli(
      address, {"session", "create", "--name", "e2e", "--unit",
                absl::StrCat("act:granularity=channel,channels=", kMeans.size(),
                             ",momentum=0.5,intervals=8")});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  const std::string id = FirstLine(r.out);
  EXPECT_FALSE(id.empty()) << Describe(r);
  return id;
}

ProcessResult Observe(const std::string& address, const std::string& session,
                      const std::vector<std::string>& files) {
  std::vector<std::string> args = {"observe", session, "act"};
  args.insert(args.end(), files.begin(), files.end());
  return Cli(address, args);
}

v1::Unit ShowUnit(const std::string& address, const std::string& session) {
  const ProcessResult r = Cli(address, {"show", session, "act", "--json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseJson<v1::GetUnitResponse>(r.out).unit();
}

using CliE2eTest = SharedServerTest;

TEST_F(CliE2eTest, HealthReportsServing) {
  const ProcessResult r = Run({"health"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST_F(CliE2eTest, ActivationsListsTheCatalogue) {
  const ProcessResult r = Run({"activations"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  for (const char* name : {"gelu", "relu", "pwlu", "leaky_relu"}) {
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\n", name, " "))) << name;
  }
}

double GeluReference(double x) {
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}

double GeluDerivative(double x) {
  return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
         x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tolerance = 1e-5 + 1.3e-6 * std::abs(want[i]);
    EXPECT_NEAR(got[i], want[i], tolerance) << what << "[" << i << "]";
  }
}

TEST_F(CliE2eTest, EvalGeluForwardAndBackwardMatchTheErfReference) {
  const std::vector<int64_t> shape = {4, 3, 50};
  std::vector<float> x(600), gy(600);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> g(-2, 2);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = -8.0f + 16.0f * static_cast<float>(i) / (x.size() - 1);
    gy[i] = g(rng);
  }
  ASSERT_TRUE(WriteNpy(files_.File("x.npy"), shape, x).ok());
  ASSERT_TRUE(WriteNpy(files_.File("gy.npy"), shape, gy).ok());

  const ProcessResult r =
      Run({"eval", "--act", "gelu", "--in", files_.File("x.npy"), "--out",
           files_.File("y.npy"), "--grad-output", files_.File("gy.npy"),
           "--grad-input-out", files_.File("gx.npy")});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("gelu [4, 3, 50]"));
  EXPECT_THAT(r.out, HasSubstr("kernel"));

  absl::StatusOr<NpyArray> y = ReadNpy(files_.File("y.npy"));
  absl::StatusOr<NpyArray> gx = ReadNpy(files_.File("gx.npy"));
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_TRUE(gx.ok()) << gx.status();
  EXPECT_EQ(y->shape, shape);
  EXPECT_EQ(gx->shape, shape);
  std::vector<double> y_want, gx_want;
  for (size_t i = 0; i < x.size(); ++i) {
    y_want.push_back(GeluReference(x[i]));
    gx_want.push_back(gy[i] * GeluDerivative(x[i]));
  }
  ExpectNear(y->data, y_want, "y");
  ExpectNear(gx->data, gx_want, "gx");
}

TEST_F(CliE2eTest, EvalLeakyReluTakesItsAlpha) {
  const std::vector<float> x = {-4, -1.5, -0.25, 0, 0.25, 3};
  ASSERT_TRUE(WriteNpy(files_.File("x.npy"), {6}, x).ok());
  const ProcessResult r =
      Run({"eval", "--act", "leaky_relu:alpha=0.2", "--in",
           files_.File("x.npy"), "--out", files_.File("y.npy")});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  absl::StatusOr<NpyArray> y = ReadNpy(files_.File("y.npy"));
  ASSERT_TRUE(y.ok()) << y.status();
  std::vector<double> want;
  for (float v : x) want.push_back(v > 0 ? v : 0.2 * v);
  ExpectNear(y->data, want, "y");
}

TEST_F(CliE2eTest, UnknownActivationIsAnInvalidArgumentNamingIt) {
  ASSERT_TRUE(WriteNpy(files_.File("x.npy"), {2}, {1, 2}).ok());
  const ProcessResult r =
      Run({"eval", "--act", "no_such_act", "--in", files_.File("x.npy"),
           "--out", files_.File("y.npy")});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("actlab: eval: INVALID_ARGUMENT: "));
  EXPECT_THAT(r.err, HasSubstr("no_such_act"));
}

TEST_F(CliE2eTest, MalformedNpyIsRefusedNamingTheFile) {
  const std::string path = files_.File("broken.npy");
  std::ofstream(path) << "this is not a numpy file";
  const ProcessResult r = Run(
      {"eval", "--act", "gelu", "--in", path, "--out", files_.File("y.npy")});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr(path + ": not a .npy file"));
}

TEST_F(CliE2eTest, ChannelWiseBoundsFollowTheObservedDistributions) {
  const std::string session = CreateChannelSession(server_->address());
  ASSERT_FALSE(session.empty());
  const std::vector<std::string> batches =
      WriteChannelBatches(files_, "batch", 20, /*seed=*/42);
  ProcessResult r = Run({"observe", session, "act"});
  EXPECT_EQ(r.exit_code, 2) << "observe needs at least one file";
  std::vector<std::string> observe = {"observe", session, "act"};
  observe.insert(observe.end(), batches.begin(), batches.end());
  r = Run(observe);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("batches 20"));

  r = Run({"fit-bounds", session, "act"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("act"));

  r = Run({"show", session, "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto reply = ParseJson<v1::GetSessionResponse>(r.out);
  ASSERT_EQ(reply.units_size(), 1) << r.out;
  const v1::Unit& unit = reply.units(0);
  EXPECT_EQ(unit.batches_observed(), 20);
  ASSERT_EQ(unit.parameters().left_bound_size(), 3) << r.out;
  ASSERT_EQ(unit.parameters().right_bound_size(), 3) << r.out;
  for (int c = 0; c < 3; ++c) {
    // Sampling error of mean and std over ~3 effective batches of 4096 is
    // ~0.02 sigma; 0.1 sigma leaves room for the server's estimator choice.
    const double tolerance = 0.1 * kStds[c];
    EXPECT_NEAR(unit.parameters().left_bound(c), kMeans[c] - 3 * kStds[c],
                tolerance)
        << "channel " << c;
    EXPECT_NEAR(unit.parameters().right_bound(c), kMeans[c] + 3 * kStds[c],
                tolerance)
        << "channel " << c;
  }

  // The readable views work on the same unit.
  r = Run({"show", session});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("act"));
  r = Run(
      {"curve", session, "act", "--points", "5", "--range", "-3:3", "--csv"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 6u) << r.out;
  EXPECT_EQ(lines[0], "x,y0,y1,y2");
  EXPECT_THAT(lines[1], ::testing::StartsWith("-3,"));
  r = Run({"session", "list"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(session));
}

TEST_F(CliE2eTest, ExportThenImportReproducesTheUnit) {
  const std::string session = CreateChannelSession(server_->address());
  ASSERT_FALSE(session.empty());
  ProcessResult r = Observe(server_->address(), session,
                            WriteChannelBatches(files_, "b", 3, /*seed=*/5));
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Run({"fit-bounds", session});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string exported = files_.File("unit.json");
  r = Run({"export", session, "act", "--out", exported});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);

  r = Run({"session", "create", "--name", "target"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string target = FirstLine(r.out);
  r = Run({"import", target, exported, "--as", "copy"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, "copy\n");
  r = Run({"import", target, exported, "--as", "copy"});
  EXPECT_EQ(r.exit_code, 1) << "a second import without --replace must fail";
  r = Run({"import", target, exported, "--as", "copy", "--replace"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);

  const std::string reexported = files_.File("copy.json");
  r = Run({"export", target, "copy", "--out", reexported});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::ifstream a(exported), b(reexported);
  auto original = ParseJson<v1::UnitExport>(
      std::string(std::istreambuf_iterator<char>(a), {}));
  auto copy = ParseJson<v1::UnitExport>(
      std::string(std::istreambuf_iterator<char>(b), {}));
  EXPECT_EQ(copy.config().name(), "copy");
  copy.mutable_config()->set_name(original.config().name());
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(original, copy))
      << original.DebugString() << "\nvs\n"
      << copy.DebugString();
}

TEST(CliE2eServerTest, SigtermExitsZero) {
  TempDir dir;
  ServerProcess server(kServerBinary, dir.path());
  ASSERT_TRUE(Started(server));
  absl::StatusOr<int> code = server.Stop();
  ASSERT_TRUE(code.ok()) << code.status() << server.Log();
  EXPECT_EQ(*code, 0) << server.Log();
}

TEST(CliE2eServerTest, RestartOnTheSameStoreShowsTheSameSession) {
  TempDir dir;
  ServerProcess server(kServerBinary, dir.path());
  ASSERT_TRUE(Started(server));
  const std::string session = CreateChannelSession(server.address());
  ASSERT_FALSE(session.empty());
  ProcessResult r = Observe(server.address(), session,
                            WriteChannelBatches(dir, "b", 4, /*seed=*/9));
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ASSERT_EQ(Cli(server.address(), {"fit-bounds", session}).exit_code, 0);
  const ProcessResult before =
      Cli(server.address(), {"show", session, "--json"});
  ASSERT_EQ(before.exit_code, 0) << Describe(before);

  absl::StatusOr<int> code = server.Stop();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server.Log();
  ASSERT_TRUE(Started(server));
  const ProcessResult after =
      Cli(server.address(), {"show", session, "--json"});
  ASSERT_EQ(after.exit_code, 0) << Describe(after);
  EXPECT_EQ(after.out, before.out);
}

TEST(CliE2eServerTest, AnAcknowledgedObserveSurvivesKillNine) {
  TempDir dir;
  ServerProcess server(kServerBinary, dir.path());
  ASSERT_TRUE(Started(server));
  const std::string session = CreateChannelSession(server.address());
  ASSERT_FALSE(session.empty());
  const std::vector<std::string> batches =
      WriteChannelBatches(dir, "b", 3, /*seed=*/11);
  ProcessResult r =
      Observe(server.address(), session, {batches[0], batches[1]});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = Observe(server.address(), session, {batches[2]});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  server.Kill();  // right after the acknowledgement: no chance to flush

  ASSERT_TRUE(Started(server));
  EXPECT_EQ(ShowUnit(server.address(), session).batches_observed(), 3);
}

TEST(CliE2eServerTest, ConcurrentObserversAreAllCounted) {
  TempDir dir;
  ServerProcess server(kServerBinary, dir.path());
  ASSERT_TRUE(Started(server));
  const std::string session = CreateChannelSession(server.address());
  ASSERT_FALSE(session.empty());
  const std::vector<std::string> batches =
      WriteChannelBatches(dir, "b", 10, /*seed=*/13);

  constexpr int kObservers = 4;
  std::vector<ProcessResult> results(kObservers);
  std::vector<std::thread> observers;
  for (int i = 0; i < kObservers; ++i) {
    observers.emplace_back(
        [&, i] { results[i] = Observe(server.address(), session, batches); });
  }
  for (std::thread& t : observers) t.join();
  for (const ProcessResult& r : results) {
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
  }
  const v1::Unit unit = ShowUnit(server.address(), session);
  EXPECT_EQ(unit.batches_observed(), kObservers * 10);
  EXPECT_EQ(unit.stats().batches(), kObservers * 10);
}

}  // namespace
}  // namespace actlab
