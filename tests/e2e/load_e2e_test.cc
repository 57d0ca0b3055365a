// Copyright actlab authors.
//
// Load and crash end to end: 64 clients, each on its own connection to one
// real actlab-server on a SQLite file, mix Evaluate (relu, inline pwlu),
// Observe on the units of a shared session and of their own session, and
// TrainStep on their own phase II unit. Every update the server acknowledges
// is counted per unit and must be in the store afterwards, exactly, and the
// server's memory must stay bounded. Under the same load a second test kills
// the server with SIGKILL, restarts it on the same file, and checks that
// nothing acknowledged was lost and that the file is consistent.

#include <sqlite3.h>
#include <sys/types.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/wire_tensor.h"

namespace actlab {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClients = 64;
constexpr int kSharedUnits = 4;
constexpr int kElements = 256;
constexpr char kObserveUnit[] = "observe";
constexpr char kTrainUnit[] = "train";
// Far beyond any call's latency, so only a hung server reaches it.
constexpr auto kCallTimeout = std::chrono::seconds(30);

std::string SharedUnit(int i) { return absl::StrCat("shared", i); }

// A layer-wise PWLU equal to relu: a breakpoint at 0, tails of slope 0 and 1.
v1::PwluParameters PwluRelu() {
  constexpr int kIntervals = 16;
  constexpr float kBound = 4;
  v1::PwluParameters p;
  p.set_intervals(kIntervals);
  p.set_granularity(v1::LAYER);
  p.add_left_bound(-kBound);
  p.add_right_bound(kBound);
  for (int j = 0; j <= kIntervals; ++j) {
    p.add_values(std::max(0.0f, -kBound + j * 2 * kBound / kIntervals));
  }
  p.add_left_slope(0);
  p.add_right_slope(1);
  return p;
}

std::string CallError(absl::string_view rpc, const grpc::Status& status) {
  return absl::StrCat(rpc, ": ",
                      absl::StatusCodeToString(
                          static_cast<absl::StatusCode>(status.error_code())),
                      ": ", status.error_message());
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
}

// One field of /proc/<pid>/status ("VmRSS", "VmHWM") in MiB; -1 if the
// process is gone.
double ProcStatusMiB(pid_t pid, absl::string_view field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  const std::string prefix = absl::StrCat(field, ":");
  for (std::string line; std::getline(in, line);) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, prefix)) continue;
    rest = absl::StripSuffix(absl::StripAsciiWhitespace(rest), " kB");
    int64_t kib = 0;
    if (absl::SimpleAtoi(rest, &kib)) return kib / 1024.0;
  }
  return -1;
}

// How many sockets `pid` holds open.
int OpenSockets(pid_t pid) {
  int sockets = 0;
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator(
           absl::StrCat("/proc/", pid, "/fd"), ec)) {
    sockets += absl::StartsWith(
        std::filesystem::read_symlink(fd.path(), ec).string(), "socket:");
  }
  return sockets;
}

// What an update changes: the batches of a shared unit or of the client's
// own observe unit, or the steps of its own train unit.
struct Update {
  enum Target { kShared, kOwnObserve, kOwnTrain } target;
  int shared_unit = 0;
};

// One client: its own connection and session, and a tally of what the
// server acknowledged to it. Run on one thread at a time.
class Client {
 public:
  Client(int id, const std::string& address, std::string shared_session)
      : shared_session_(std::move(shared_session)), rng_(id) {
    grpc::ChannelArguments args;
    // Channels with equal arguments share one connection; a distinct one
    // gives each client its own, as separate client processes would have.
    args.SetInt("actlab.test.client", id);
    stub_ = v1::Actlab::NewStub(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args));
    std::uniform_real_distribution<float> x(-6, 6), dy(-0.01f, 0.01f);
    std::vector<float> input(kElements), grad(kElements);
    for (float& v : input) v = x(rng_);
    for (float& v : grad) v = dy(rng_);
    input_ = Floats(input);
    grad_output_ = Floats(grad);
    for (float& v : input) v = std::max(0.0f, v);
    relu_ = std::move(input);
  }

  // Creates the client's session, and brings its train unit to phase II
  // (one Observe, then FitBoundaries).
  std::string Prepare() {
    v1::CreateSessionRequest create;
    create.add_units()->set_name(kObserveUnit);
    create.add_units()->set_name(kTrainUnit);
    v1::CreateSessionResponse created;
    grpc::ClientContext context;
    SetDeadline(context);
    // The first call on this client's channel makes its connection. With
    // 64 clients connecting at once, about one run in twelve here saw a
    // connect fail on loopback ("No such file or directory", nothing in the
    // server's log); a client would retry it, so this call waits for the
    // channel to be ready instead of failing on the first attempt.
    context.set_wait_for_ready(true);
    grpc::Status s = stub_->CreateSession(&context, create, &created);
    if (!s.ok()) return CallError("CreateSession", s);
    session_ = created.session().id();
    s = Observe(session_, kTrainUnit);
    if (!s.ok()) return CallError("Observe", s);
    v1::FitBoundariesRequest fit;
    fit.set_session_id(session_);
    fit.set_unit(kTrainUnit);
    v1::FitBoundariesResponse fitted;
    grpc::ClientContext fit_context;
    SetDeadline(fit_context);
    s = stub_->FitBoundaries(&fit_context, fit, &fitted);
    if (!s.ok()) return CallError("FitBoundaries", s);
    return "";
  }

  // Calls until `until`, or until the first failure. Once `server_killed`
  // is set, UNAVAILABLE is expected and ends the run quietly; any other
  // failure is recorded in error().
  void Run(Clock::time_point until, const std::atomic<bool>& server_killed,
           std::atomic<int64_t>& acknowledged) {
    std::uniform_int_distribution<int> percent(0, 99),
        shared(0, kSharedUnits - 1);
    while (Clock::now() < until) {
      const int p = percent(rng_);
      std::optional<Update> update;
      const char* rpc;
      grpc::Status s;
      if (p < 20) {
        rpc = "Evaluate(relu)";
        s = Evaluate(false);
      } else if (p < 35) {
        rpc = "Evaluate(pwlu)";
        s = Evaluate(true);
      } else if (p < 65) {
        rpc = "Observe(shared)";
        update = Update{Update::kShared, shared(rng_)};
        s = Observe(shared_session_, SharedUnit(update->shared_unit));
      } else if (p < 80) {
        rpc = "Observe(own)";
        update = Update{Update::kOwnObserve};
        s = Observe(session_, kObserveUnit);
      } else {
        rpc = "TrainStep";
        update = Update{Update::kOwnTrain};
        s = TrainStep();
      }
      if (!s.ok()) {
        if (server_killed && s.error_code() == grpc::StatusCode::UNAVAILABLE) {
          // The server may have committed it without replying.
          unacknowledged_ = update;
        } else {
          error_ = CallError(rpc, s);
        }
        return;
      }
      ++calls_;
      ++acknowledged;
      if (!update.has_value()) continue;
      switch (update->target) {
        case Update::kShared:
          ++shared_batches_[update->shared_unit];
          break;
        case Update::kOwnObserve:
          ++own_batches_;
          break;
        case Update::kOwnTrain:
          ++own_steps_;
          break;
      }
    }
  }

  const std::string& session() const { return session_; }
  const std::string& error() const { return error_; }
  int64_t calls() const { return calls_; }
  int64_t shared_batches(int unit) const { return shared_batches_[unit]; }
  int64_t own_batches() const { return own_batches_; }
  int64_t own_steps() const { return own_steps_; }
  // The update whose call failed when the server was killed, if any.
  const std::optional<Update>& unacknowledged() const {
    return unacknowledged_;
  }

 private:
  grpc::Status Evaluate(bool pwlu) {
    v1::EvaluateRequest request;
    *request.mutable_input() = input_;
    if (pwlu) {
      request.set_activation("pwlu");
      *request.mutable_pwlu() = PwluRelu();
    } else {
      request.set_activation("relu");
    }
    v1::EvaluateResponse response;
    grpc::ClientContext context;
    SetDeadline(context);
    grpc::Status s = stub_->Evaluate(&context, request, &response);
    if (!s.ok()) return s;
    const std::vector<float> y = FloatsOf(response.output().data());
    bool right = y.size() == relu_.size();
    for (size_t i = 0; right && i < y.size(); ++i) {
      // relu is exact; the PWLU interpolates between breakpoints.
      right = pwlu ? std::abs(y[i] - relu_[i]) <= 1e-5f * (1 + relu_[i])
                   : y[i] == relu_[i];
    }
    if (right) return s;
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        "the client's check: the output is not relu's");
  }

  grpc::Status Observe(const std::string& session, const std::string& unit) {
    v1::ObserveRequest request;
    request.mutable_unit()->set_session_id(session);
    request.mutable_unit()->set_unit(unit);
    *request.mutable_input() = input_;
    v1::ObserveResponse response;
    grpc::ClientContext context;
    SetDeadline(context);
    return stub_->Observe(&context, request, &response);
  }

  grpc::Status TrainStep() {
    v1::TrainStepRequest request;
    request.mutable_unit()->set_session_id(session_);
    request.mutable_unit()->set_unit(kTrainUnit);
    *request.mutable_input() = input_;
    *request.mutable_grad_output() = grad_output_;
    v1::TrainStepResponse response;
    grpc::ClientContext context;
    SetDeadline(context);
    return stub_->TrainStep(&context, request, &response);
  }

  std::unique_ptr<v1::Actlab::Stub> stub_;
  const std::string shared_session_;
  std::string session_;
  std::mt19937 rng_;
  v1::Tensor input_, grad_output_;
  std::vector<float> relu_;

  int64_t calls_ = 0;
  std::array<int64_t, kSharedUnits> shared_batches_{};
  int64_t own_batches_ = 0;
  int64_t own_steps_ = 0;
  std::optional<Update> unacknowledged_;
  std::string error_;
};

template <typename F>
void RunThreads(int n, F f) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(f, t);
  for (auto& t : threads) t.join();
}

// kClients clients on one server, with a shared session of kSharedUnits
// units.
class Load {
 public:
  // Creates the shared session and, in parallel, every client's own.
  void Prepare(const std::string& address) {
    auto stub = v1::Actlab::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    v1::CreateSessionRequest create;
    for (int u = 0; u < kSharedUnits; ++u) {
      create.add_units()->set_name(SharedUnit(u));
    }
    v1::CreateSessionResponse created;
    grpc::ClientContext context;
    SetDeadline(context);
    context.set_wait_for_ready(true);  // as in Client::Prepare
    const grpc::Status s = stub->CreateSession(&context, create, &created);
    ASSERT_TRUE(s.ok()) << CallError("CreateSession", s);
    shared_session_ = created.session().id();
    for (int c = 0; c < kClients; ++c) {
      clients_.push_back(std::make_unique<Client>(c, address, shared_session_));
    }
    std::vector<std::string> errors(kClients);
    RunThreads(kClients, [&](int c) { errors[c] = clients_[c]->Prepare(); });
    for (const std::string& error : errors) ASSERT_EQ(error, "");
  }

  // Every client calls for `duration` or until it fails; returns the
  // seconds they took.
  double Run(absl::Duration duration) {
    const auto start = Clock::now();
    const auto until = start + absl::ToChronoNanoseconds(duration);
    RunThreads(kClients, [&](int c) {
      clients_[c]->Run(until, server_killed_, acknowledged_);
    });
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  // Call just before killing the server: from then on its clients take
  // UNAVAILABLE as the end of their run rather than as an error.
  void ServerKilled() { server_killed_ = true; }

  // Acknowledged calls so far; safe while Run runs.
  int64_t acknowledged() const { return acknowledged_; }

  void ExpectNoUnexpectedErrors() const {
    for (const auto& client : clients_) EXPECT_EQ(client->error(), "");
  }

  // Reads every unit back through `address`: each holds every update
  // acknowledged on it, and at most the unacknowledged ones besides.
  void ExpectStoreHoldsEveryUpdate(const std::string& address) const {
    auto stub = v1::Actlab::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    std::array<int64_t, kSharedUnits> acknowledged{}, unacknowledged{};
    for (const auto& client : clients_) {
      for (int u = 0; u < kSharedUnits; ++u) {
        acknowledged[u] += client->shared_batches(u);
      }
      const std::optional<Update>& lost = client->unacknowledged();
      if (lost.has_value() && lost->target == Update::kShared) {
        ++unacknowledged[lost->shared_unit];
      }
    }
    const v1::GetSessionResponse shared = GetSession(*stub, shared_session_);
    ASSERT_EQ(shared.units_size(), kSharedUnits);
    for (int u = 0; u < kSharedUnits; ++u) {
      ExpectObserved(shared.units(u), acknowledged[u], unacknowledged[u]);
    }
    for (const auto& client : clients_) {
      const v1::GetSessionResponse own = GetSession(*stub, client->session());
      ASSERT_EQ(own.units_size(), 2);
      const std::optional<Update>& lost = client->unacknowledged();
      auto lost_on = [&](Update::Target target) {
        return lost.has_value() && lost->target == target ? 1 : 0;
      };
      ExpectObserved(own.units(0), client->own_batches(),
                     lost_on(Update::kOwnObserve));
      const v1::Unit& train = own.units(1);
      SCOPED_TRACE(absl::StrCat("session ", client->session(), " unit ",
                                train.config().name()));
      EXPECT_EQ(train.stats().batches(), 1);
      EXPECT_GE(train.training_steps(), client->own_steps());
      EXPECT_LE(train.training_steps(),
                client->own_steps() + lost_on(Update::kOwnTrain));
      // Created, observed once, fitted, then one version a step.
      EXPECT_EQ(train.version(), 3 + train.training_steps());
    }
  }

  // The sessions the load created, the shared one first.
  std::vector<std::string> sessions() const {
    std::vector<std::string> ids = {shared_session_};
    for (const auto& client : clients_) ids.push_back(client->session());
    return ids;
  }

  int unacknowledged() const {
    return std::count_if(clients_.begin(), clients_.end(), [](const auto& c) {
      return c->unacknowledged().has_value();
    });
  }

 private:
  static v1::GetSessionResponse GetSession(v1::Actlab::Stub& stub,
                                           const std::string& id) {
    v1::GetSessionRequest request;
    request.set_session_id(id);
    v1::GetSessionResponse response;
    grpc::ClientContext context;
    SetDeadline(context);
    const grpc::Status s = stub.GetSession(&context, request, &response);
    EXPECT_TRUE(s.ok()) << CallError("GetSession", s);
    return response;
  }

  static void ExpectObserved(const v1::Unit& unit, int64_t acknowledged,
                             int64_t unacknowledged) {
    SCOPED_TRACE(absl::StrCat("unit ", unit.config().name()));
    EXPECT_GE(unit.stats().batches(), acknowledged);
    EXPECT_LE(unit.stats().batches(), acknowledged + unacknowledged);
    EXPECT_EQ(unit.batches_observed(), unit.stats().batches());
    EXPECT_EQ(unit.version(), 1 + unit.batches_observed());
  }

  std::string shared_session_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::atomic<int64_t> acknowledged_{0};
  std::atomic<bool> server_killed_{false};
};

// PRAGMA integrity_check's rows, "ok" for a sound file.
std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
      SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) ==
        SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        absl::StrAppend(
            &result, result.empty() ? "" : "\n",
            reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
      }
    }
    sqlite3_finalize(stmt);
  }
  if (result.empty()) result = sqlite3_errmsg(db);
  sqlite3_close(db);
  return result;
}

// One server on a fresh SQLite file; its log is printed if the test fails.
class LoadTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) std::printf("server log:\n%s", server_.Log().c_str());
  }

  TempDir dir_;
  ServerProcess server_{ACTLAB_SERVER_BINARY, dir_.path()};
};

TEST_F(LoadTest, SixtyFourClientsLoseNoUpdateInBoundedMemory) {
  ASSERT_TRUE(Started(server_));
  {
    Load load;
    ASSERT_NO_FATAL_FAILURE(load.Prepare(server_.address()));
    // One connection a client, as if each were its own process.
    EXPECT_GE(OpenSockets(server_.pid()), kClients);

    const double start_mib = ProcStatusMiB(server_.pid(), "VmRSS");
    std::atomic<bool> done{false};
    double sampled_peak_mib = start_mib;
    std::thread sampler([&] {
      while (!done) {
        sampled_peak_mib =
            std::max(sampled_peak_mib, ProcStatusMiB(server_.pid(), "VmRSS"));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    const double seconds = load.Run(absl::Seconds(6));
    done = true;
    sampler.join();
    const double end_mib = ProcStatusMiB(server_.pid(), "VmRSS");
    // The high-water mark also covers spikes between samples.
    const double peak_mib =
        std::max(sampled_peak_mib, ProcStatusMiB(server_.pid(), "VmHWM"));
    std::printf(
        "load: %d clients for %.1f s, %lld calls acknowledged (%.0f/s); "
        "server RSS start %.1f MiB, peak %.1f MiB, end %.1f MiB\n",
        kClients, seconds, static_cast<long long>(load.acknowledged()),
        load.acknowledged() / seconds, start_mib, peak_mib, end_mib);

    load.ExpectNoUnexpectedErrors();
    EXPECT_GT(start_mib, 0);
    EXPECT_LT(peak_mib, start_mib + 512);
    load.ExpectStoreHoldsEveryUpdate(server_.address());
  }
  // The clients' connections are closed, so the drain has nothing to wait
  // for.
  absl::StatusOr<int> code = server_.Stop();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

TEST_F(LoadTest, KillNineUnderLoadLosesNothingAcknowledged) {
  ASSERT_TRUE(Started(server_));
  Load load;
  ASSERT_NO_FATAL_FAILURE(load.Prepare(server_.address()));

  std::atomic<bool> load_over{false};
  std::thread killer([&] {
    // Well into the load: some time passed and many updates acknowledged.
    const auto earliest = Clock::now() + std::chrono::seconds(1);
    while (Clock::now() < earliest || load.acknowledged() < 200) {
      if (load_over) return;  // every client failed: nothing to kill under
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    load.ServerKilled();
    server_.Kill();
  });
  // Every client runs until the kill ends it; the limit only bounds a test
  // that is failing anyway.
  load.Run(absl::Seconds(40));
  load_over = true;
  killer.join();
  load.ExpectNoUnexpectedErrors();
  ASSERT_FALSE(server_.running()) << "the load ended before the kill";
  std::printf("kill -9: %lld calls acknowledged, %d updates unanswered\n",
              static_cast<long long>(load.acknowledged()),
              load.unacknowledged());

  ASSERT_TRUE(Started(server_));
  load.ExpectStoreHoldsEveryUpdate(server_.address());
  auto stub = v1::Actlab::NewStub(grpc::CreateChannel(
      server_.address(), grpc::InsecureChannelCredentials()));
  v1::ListSessionsResponse listed;
  grpc::ClientContext context;
  SetDeadline(context);
  ASSERT_TRUE(
      stub->ListSessions(&context, v1::ListSessionsRequest(), &listed).ok());
  std::vector<std::string> ids;
  for (const v1::Session& session : listed.sessions()) {
    ids.push_back(session.id());
  }
  std::vector<std::string> expected = load.sessions();
  std::sort(ids.begin(), ids.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(IntegrityCheck(server_.store_path()), "ok");
}

}  // namespace
}  // namespace actlab
