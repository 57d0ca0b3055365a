// Copyright actlab authors.
//
// Concurrent calls: Observe on one unit serialises exactly (count and a
// serial fold), different units and sessions proceed side by side, and
// FitBoundaries racing Observe leaves a consistent unit. On both stores:
// the serialisation comes from the store's transactions, not the manager.

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/running_moments.h"
#include "server/session/postgres_store.h"
#include "server/session/session_manager.h"
#include "server/session/sqlite_store.h"
#include "tests/support/postgres_cluster.h"

namespace actlab {
namespace {

namespace fs = std::filesystem;

constexpr int kThreads = 8;
constexpr int kCallsPerThread = 25;

enum class Backend { kSqlite, kPostgres };

class ConcurrencyTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string name =
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    if (GetParam() == Backend::kSqlite) {
      dir_ = fs::path(::testing::TempDir()) /
             absl::StrCat("session_concurrency_test_", getpid(), "_", name);
      fs::remove_all(dir_);
    } else {
      ACTLAB_SKIP_OR_FAIL_WITHOUT_POSTGRES();
      absl::StatusOr<PostgresCluster*> cluster = PostgresCluster::Shared();
      ASSERT_TRUE(cluster.ok()) << cluster.status();
      absl::StatusOr<std::string> url =
          (*cluster)->CreateDatabase(absl::AsciiStrToLower(name));
      ASSERT_TRUE(url.ok()) << url.status();
      url_ = *url;
    }
    Reopen();
  }
  void TearDown() override {
    manager_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void Reopen() {
    manager_.reset();
    absl::StatusOr<std::unique_ptr<SessionStore>> store;
    if (GetParam() == Backend::kSqlite) {
      store = SqliteStore::Open((dir_ / "sessions.db").string());
    } else {
      store = PostgresStore::Open(url_, /*pool_size=*/4);
    }
    ASSERT_TRUE(store.ok()) << store.status();
    auto manager = SessionManager::Open(*std::move(store), &engine_);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
  }

  std::string Create(const std::vector<std::string>& names) {
    v1::CreateSessionRequest request;
    for (const auto& name : names) request.add_units()->set_name(name);
    auto session = manager_->CreateSession(Principal::Anonymous(), request);
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? session->id() : "";
  }

  static v1::UnitRef Ref(const std::string& session, const std::string& unit) {
    v1::UnitRef ref;
    ref.set_session_id(session);
    ref.set_unit(unit);
    return ref;
  }

  absl::Status Observe(const std::string& session, const std::string& unit,
                       const std::vector<float>& x) {
    TensorView view{{static_cast<int64_t>(x.size())},
                    x.data(),
                    static_cast<int64_t>(x.size())};
    std::vector<float> y(x.size());
    return manager_
        ->Observe(Principal::Anonymous(), Ref(session, unit), view, y.data())
        .status();
  }

  v1::Unit Get(const std::string& session, const std::string& unit) {
    auto u = manager_->GetUnit(Principal::Anonymous(), Ref(session, unit));
    EXPECT_TRUE(u.ok()) << u.status();
    return u.ok() ? *u : v1::Unit();
  }

  fs::path dir_;
  std::string url_;
  BaselineEngine engine_;
  std::unique_ptr<SessionManager> manager_;
};

template <typename F>
void RunThreads(int n, F f) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(f, t);
  for (auto& t : threads) t.join();
}

TEST_P(ConcurrencyTest, IdenticalBatchesFoldExactlyAsSerially) {
  const std::string id = Create({"u"});
  const std::vector<float> x = {0.5f, -1.25f, 3, 7.5f, 2, -0.75f};
  RunThreads(kThreads, [&](int) {
    for (int i = 0; i < kCallsPerThread; ++i) {
      EXPECT_TRUE(Observe(id, "u", x).ok());
    }
  });
  // Every order of identical batches is the same serial fold.
  const BatchMoments batch =
      *ComputeBatchMoments(FlatLayout(x.size()), false, x.data());
  double mu = batch.mean[0], sigma = batch.std[0];
  for (int i = 1; i < kThreads * kCallsPerThread; ++i) {
    mu = 0.9 * mu + (1 - 0.9) * batch.mean[0];
    sigma = 0.9 * sigma + (1 - 0.9) * batch.std[0];
  }
  const v1::Unit unit = Get(id, "u");
  EXPECT_EQ(unit.stats().batches(), kThreads * kCallsPerThread);
  EXPECT_EQ(unit.batches_observed(), kThreads * kCallsPerThread);
  EXPECT_EQ(unit.version(), 1 + kThreads * kCallsPerThread);
  EXPECT_EQ(unit.stats().mean(0), mu);
  EXPECT_EQ(unit.stats().std(0), sigma);

  const std::string before =
      manager_->GetSession(Principal::Anonymous(), id)->SerializeAsString();
  Reopen();
  EXPECT_EQ(
      manager_->GetSession(Principal::Anonymous(), id)->SerializeAsString(),
      before);
}

TEST_P(ConcurrencyTest, DifferentBatchesAreCountedExactly) {
  const std::string id = Create({"u"});
  RunThreads(kThreads, [&](int t) {
    // Thread t sends values t + {-1, 0, 1}: mean t, std sqrt(2/3).
    const std::vector<float> x = {t - 1.0f, float(t), t + 1.0f};
    for (int i = 0; i < kCallsPerThread; ++i) {
      EXPECT_TRUE(Observe(id, "u", x).ok());
    }
  });
  const v1::Unit unit = Get(id, "u");
  EXPECT_EQ(unit.stats().batches(), kThreads * kCallsPerThread);
  const double mu = unit.stats().mean(0), sigma = unit.stats().std(0);
  EXPECT_TRUE(std::isfinite(mu));
  EXPECT_GE(mu, 0);
  EXPECT_LE(mu, kThreads - 1);
  EXPECT_NEAR(sigma, std::sqrt(2.0 / 3), 1e-9);
}

TEST_P(ConcurrencyTest, UnitsAndSessionsProceedIndependently) {
  const std::string a = Create({"x", "y"});
  const std::string b = Create({"x", "y"});
  const std::string sessions[] = {a, a, b, b};
  const std::string units[] = {"x", "y", "x", "y"};
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      EXPECT_TRUE(manager_->GetSession(Principal::Anonymous(), a).ok());
      EXPECT_EQ(manager_->ListSessions(Principal::Anonymous())->sessions_size(),
                2);
      v1::SampleCurveRequest curve;
      *curve.mutable_unit() = Ref(b, "y");
      EXPECT_TRUE(manager_->SampleCurve(Principal::Anonymous(), curve).ok());
    }
  });
  RunThreads(4, [&](int t) {
    const std::vector<float> x = {1, 2, float(t)};
    for (int i = 0; i < kCallsPerThread; ++i) {
      EXPECT_TRUE(Observe(sessions[t], units[t], x).ok());
    }
  });
  done = true;
  reader.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(Get(sessions[t], units[t]).stats().batches(), kCallsPerThread);
  }
}

TEST_P(ConcurrencyTest, FitRacingObserveLeavesAConsistentUnit) {
  const std::string id = Create({"u"});
  ASSERT_TRUE(Observe(id, "u", {1, 2, 3}).ok());
  std::atomic<int> succeeded{1};
  std::atomic<int> refused{0};
  RunThreads(kThreads, [&](int t) {
    if (t == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      v1::FitBoundariesRequest fit;
      fit.set_session_id(id);
      fit.set_unit("u");
      EXPECT_TRUE(manager_->FitBoundaries(Principal::Anonymous(), fit).ok());
      return;
    }
    for (int i = 0; i < kCallsPerThread; ++i) {
      const absl::Status s = Observe(id, "u", {float(t), float(i), 0.5f});
      if (s.ok()) {
        ++succeeded;
      } else {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
        ++refused;
      }
    }
  });
  const v1::Unit unit = Get(id, "u");
  EXPECT_EQ(unit.phase(), v1::TRAINING);
  EXPECT_EQ(unit.stats().batches(), succeeded.load());
  EXPECT_EQ(succeeded + refused, 1 + (kThreads - 1) * kCallsPerThread);
  // The fit used exactly the final statistics: nothing folded afterwards.
  const double m = unit.stats().mean(0), s = unit.stats().std(0);
  EXPECT_EQ(unit.parameters().left_bound(0), static_cast<float>(m - 3 * s));
  EXPECT_EQ(unit.parameters().right_bound(0), static_cast<float>(m + 3 * s));
  EXPECT_EQ(unit.version(), 1 + succeeded + 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, ConcurrencyTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "Sqlite"
                                                                 : "Postgres";
                         });

}  // namespace
}  // namespace actlab
