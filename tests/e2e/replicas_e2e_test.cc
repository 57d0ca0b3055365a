// Copyright actlab authors.
//
// Stateless replicas end to end: three actlab-server processes on one
// throwaway PostgreSQL database, a client spreading calls on the same
// sessions over all three, concurrent Observe calls on one unit from
// different replicas, a replica killed with SIGKILL mid-run, and a fourth
// replica started later. Loopback only; under a minute.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kernels/channel_layout.h"
#include "kernels/running_moments.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/wire_tensor.h"
#include "tests/support/postgres_cluster.h"

namespace actlab {
namespace {

constexpr int kReplicas = 3;
constexpr double kMomentum = 0.9;  // the unit config default

std::unique_ptr<v1::Actlab::Stub> Connect(const std::string& address) {
  return v1::Actlab::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

template <typename F>
void RunThreads(int n, F f) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(f, t);
  for (auto& t : threads) t.join();
}

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACTLAB_SKIP_OR_FAIL_WITHOUT_POSTGRES();
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
        PostgresCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    absl::StatusOr<std::string> url = cluster_->CreateDatabase("replicas");
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    for (int i = 0; i < kReplicas; ++i) ASSERT_TRUE(AddReplica().ok());
  }

  absl::Status AddReplica() {
    dirs_.push_back(std::make_unique<TempDir>());
    servers_.push_back(std::make_unique<ServerProcess>(
        ACTLAB_SERVER_BINARY, dirs_.back()->path(),
        std::vector<std::string>{"--store=" + url_, "--store_pool_size=3"}));
    absl::Status s = servers_.back()->Start();
    if (!s.ok()) return s;
    stubs_.push_back(Connect(servers_.back()->address()));
    return absl::OkStatus();
  }

  static grpc::Status Observe(v1::Actlab::Stub& stub,
                              const std::string& session,
                              const std::string& unit,
                              const std::vector<float>& x) {
    v1::ObserveRequest request;
    request.mutable_unit()->set_session_id(session);
    request.mutable_unit()->set_unit(unit);
    *request.mutable_input() = Floats(x);
    v1::ObserveResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    return stub.Observe(&context, request, &response);
  }

  static v1::Unit GetUnit(v1::Actlab::Stub& stub, const std::string& session,
                          const std::string& unit) {
    v1::GetUnitRequest request;
    request.mutable_unit()->set_session_id(session);
    request.mutable_unit()->set_unit(unit);
    v1::GetUnitResponse response;
    grpc::ClientContext context;
    const grpc::Status s = stub.GetUnit(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.unit();
  }

  static std::string GetSession(v1::Actlab::Stub& stub,
                                const std::string& session) {
    v1::GetSessionRequest request;
    request.set_session_id(session);
    v1::GetSessionResponse response;
    grpc::ClientContext context;
    const grpc::Status s = stub.GetSession(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.SerializeAsString();
  }

  std::unique_ptr<PostgresCluster> cluster_;
  std::string url_;
  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
  std::vector<std::unique_ptr<v1::Actlab::Stub>> stubs_;
};

TEST_F(ReplicasTest, ReplicasShareSessionsAndLoseNoUpdate) {
  // Created on one replica, seen identically by all.
  v1::CreateSessionRequest create;
  for (const char* name : {"same", "distinct", "crash"}) {
    create.add_units()->set_name(name);
  }
  v1::CreateSessionResponse created;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stubs_[0]->CreateSession(&context, create, &created).ok());
  }
  const std::string session = created.session().id();
  const std::string snapshot = GetSession(*stubs_[0], session);
  for (int r = 1; r < kReplicas; ++r) {
    EXPECT_EQ(GetSession(*stubs_[r], session), snapshot);
  }

  // Identical batches on one unit from two threads per replica: any serial
  // order folds to the same statistics.
  constexpr int kThreads = 2 * kReplicas, kCalls = 40;
  const std::vector<float> x = {0.5f, -1.25f, 3, 7.5f, 2, -0.75f};
  std::atomic<int> failed{0};
  RunThreads(kThreads, [&](int t) {
    for (int i = 0; i < kCalls; ++i) {
      // Round robin: each call goes to the next replica.
      if (!Observe(*stubs_[(t + i) % kReplicas], session, "same", x).ok()) {
        ++failed;
      }
    }
  });
  EXPECT_EQ(failed, 0);
  const BatchMoments batch =
      *ComputeBatchMoments(FlatLayout(x.size()), false, x.data());
  double mu = batch.mean[0], sigma = batch.std[0];
  for (int i = 1; i < kThreads * kCalls; ++i) {
    mu = kMomentum * mu + (1 - kMomentum) * batch.mean[0];
    sigma = kMomentum * sigma + (1 - kMomentum) * batch.std[0];
  }
  for (int r = 0; r < kReplicas; ++r) {
    const v1::Unit unit = GetUnit(*stubs_[r], session, "same");
    EXPECT_EQ(unit.stats().batches(), kThreads * kCalls);
    EXPECT_EQ(unit.batches_observed(), kThreads * kCalls);
    EXPECT_EQ(unit.version(), 1 + kThreads * kCalls);
    ASSERT_EQ(unit.stats().mean_size(), 1) << "no statistics read back";
    EXPECT_EQ(unit.stats().mean(0), mu);
    EXPECT_EQ(unit.stats().std(0), sigma);
  }

  // Distinct batches: the order changes the statistics, not the count.
  RunThreads(kThreads, [&](int t) {
    for (int i = 0; i < kCalls; ++i) {
      const float v = static_cast<float>(t * kCalls + i);
      if (!Observe(*stubs_[(t + i) % kReplicas], session, "distinct",
                   {v, -v, 2 * v + 1})
               .ok()) {
        ++failed;
      }
    }
  });
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(GetUnit(*stubs_[2], session, "distinct").stats().batches(),
            kThreads * kCalls);

  // kill -9 one replica while every replica takes Observe calls on one
  // unit. The others keep succeeding; every acknowledged call is counted.
  constexpr int kVictim = kReplicas - 1, kSurvivorCalls = 100;
  std::atomic<int> acknowledged{0}, victim_calls{0}, survivor_failures{0};
  std::thread killer([&] {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (victim_calls < 5 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    servers_[kVictim]->Kill();
  });
  RunThreads(kReplicas, [&](int r) {
    for (int i = 0; r == kVictim || i < kSurvivorCalls; ++i) {
      const bool ok =
          Observe(*stubs_[r], session, "crash", {1.0f * i, 2.0f * r}).ok();
      if (r == kVictim) {
        ++victim_calls;
        if (!ok) break;  // it is gone
      } else if (!ok) {
        ++survivor_failures;
      }
      if (ok) ++acknowledged;
    }
  });
  killer.join();
  EXPECT_EQ(survivor_failures, 0);
  const int64_t batches =
      GetUnit(*stubs_[0], session, "crash").stats().batches();
  // The one call in flight at the kill may have committed unacknowledged.
  EXPECT_GE(batches, acknowledged.load());
  EXPECT_LE(batches, acknowledged.load() + 1);

  // A replica started later serves the existing sessions, and its writes
  // are seen by the others.
  ASSERT_TRUE(AddReplica().ok());
  v1::Actlab::Stub& late = *stubs_.back();
  EXPECT_EQ(GetSession(late, session), GetSession(*stubs_[0], session));
  ASSERT_TRUE(Observe(late, session, "crash", {4, 5, 6}).ok());
  EXPECT_EQ(GetUnit(*stubs_[1], session, "crash").stats().batches(),
            batches + 1);
  v1::FitBoundariesRequest fit;
  fit.set_session_id(session);
  v1::FitBoundariesResponse fitted;
  {
    grpc::ClientContext context;
    const grpc::Status s = late.FitBoundaries(&context, fit, &fitted);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(fitted.units_size(), 3);
  EXPECT_EQ(GetUnit(*stubs_[0], session, "same").phase(), v1::TRAINING);

  // Close the channels first: a sync client notices a server's GOAWAY on an
  // idle channel only at gRPC's 5 s backup poll, and the server's drain
  // waits for its connections to close.
  stubs_.clear();
  for (int r = 0; r < static_cast<int>(servers_.size()); ++r) {
    if (r == kVictim) continue;
    absl::StatusOr<int> code = servers_[r]->Stop();
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << servers_[r]->Log();
  }
}

}  // namespace
}  // namespace actlab
