// Copyright actlab authors.
//
// Fit: accuracy against GELU (the acceptance bound), reproducibility,
// targets and domains, validation, cancellation with consistent persisted
// state, optimistic concurrency, runs, and the schema migration.

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/training_settings.h"
#include "server/session/unit_record.pb.h"
#include "tests/server/train_test_util.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

double Gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }

class TrainFitTest : public TrainTest {
 protected:
  std::string Query(const char* sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  void Exec(const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }
};

TEST_F(TrainFitTest, FitsGeluWithinTheAcceptanceBounds) {
  const std::string session = CreateFixed(16);
  v1::FitRequest request = GeluFit(session, 2000);
  request.set_seed(7);
  auto summary = Fit(request);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->steps_completed(), 2000);
  EXPECT_LE(summary->rms_error(), 0.005);
  EXPECT_LE(summary->max_abs_error(), 0.02);
  EXPECT_EQ(summary->fitted_range().min(), -3);
  EXPECT_EQ(summary->fitted_range().max(), 3);
  EXPECT_NEAR(summary->final_loss(),
              summary->rms_error() * summary->rms_error(), 1e-12);

  // Independently of the summary: the stored unit against erf-GELU.
  const PwluParams params = Params(session);
  EXPECT_EQ(params.left_bound[0], -3.0f);
  EXPECT_EQ(params.right_bound[0], 3.0f) << "boundaries are not trained";
  constexpr int kPoints = 10001;
  std::vector<float> x(kPoints), y(kPoints);
  for (int i = 0; i < kPoints; ++i) x[i] = -3.0f + 6.0f * i / (kPoints - 1);
  ASSERT_TRUE(
      PwluForward(params, FlatLayout(kPoints), x.data(), y.data()).ok());
  double max_error = 0, sum = 0;
  for (int i = 0; i < kPoints; ++i) {
    const double e = std::abs(y[i] - Gelu(x[i]));
    max_error = std::max(max_error, e);
    sum += e * e;
  }
  EXPECT_LE(max_error, 0.02);
  EXPECT_LE(std::sqrt(sum / kPoints), 0.005);

  const v1::Unit unit = Get(session);
  EXPECT_EQ(unit.training_steps(), 2000);
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].id(), summary->run_id());
  EXPECT_EQ(runs[0].kind(), v1::Run::FIT);
  EXPECT_EQ(runs[0].state(), v1::Run::COMPLETED);
  EXPECT_EQ(runs[0].steps(), 2000);
  EXPECT_EQ(runs[0].summary().SerializeAsString(),
            summary->SerializeAsString());
  EXPECT_EQ(runs[0].fit().activation().name(), "gelu");
  EXPECT_EQ(runs[0].fit().batch_size(), 256);
  EXPECT_EQ(runs[0].optimizer().kind(), v1::OptimizerSettings::ADAM);
  EXPECT_EQ(runs[0].optimizer().learning_rate(), 1e-2);
  auto run = Run(session, summary->run_id());
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->history_size(), 2000);
  EXPECT_EQ(run->history(1999).step(), 2000);

  // The Fit used its own optimizer: the unit's is still the default.
  v1::TrainStepRequest step =
      StepRequest(session, {2}, {0.5f, -0.5f}, {0.1f, 0.1f});
  auto response = Step(step);
  ASSERT_TRUE(response.ok()) << response.status();
  auto train_run = Run(session, response->run_id());
  ASSERT_TRUE(train_run.ok());
  EXPECT_EQ(train_run->optimizer().learning_rate(), 1e-3);
}

TEST_F(TrainFitTest, SameSeedSettingsAndStartAreBitIdentical) {
  const std::string a = CreateFixed(16, 3), b = CreateFixed(16, 3),
                    c = CreateFixed(16, 3);
  for (const auto& [session, seed] :
       {std::pair{a, 42}, std::pair{b, 42}, std::pair{c, 43}}) {
    v1::FitRequest request = GeluFit(session, 300);
    request.set_seed(seed);
    request.set_batch_size(64);
    request.mutable_trainable()->set_boundaries(true);
    auto summary = Fit(request);
    ASSERT_TRUE(summary.ok()) << summary.status();
  }
  const PwluParams pa = Params(a), pb = Params(b), pc = Params(c);
  EXPECT_EQ(pa.values, pb.values);
  EXPECT_EQ(pa.left_bound, pb.left_bound);
  EXPECT_EQ(pa.right_slope, pb.right_slope);
  EXPECT_NE(pa.values, pc.values);
  // Channels draw their own points, so they end up different.
  EXPECT_NE(std::vector<float>(pa.values.begin(), pa.values.begin() + 17),
            std::vector<float>(pa.values.begin() + 17, pa.values.begin() + 34));
}

TEST_F(TrainFitTest, DomainsAndSampleTargets) {
  // Default domain: each channel's current boundaries.
  const std::string fixed = CreateFixed(8, 2, 2);
  v1::FitRequest request;
  *request.mutable_unit() = Ref(fixed);
  request.mutable_activation()->set_name("tanh");
  request.set_steps(500);
  auto summary = Fit(request);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->fitted_range().min(), -2);
  EXPECT_EQ(summary->fitted_range().max(), 2);
  EXPECT_LT(summary->rms_error(), 0.02);

  // Observed distribution: needs statistics, then spans mu +- 3 sigma.
  request.set_observed_distribution(true);
  auto refused = Fit(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("no observed batches"));
  v1::CreateSessionRequest create;
  create.add_units()->set_name("act");
  auto observed = manager_->CreateSession(Principal::Anonymous(), create);
  ASSERT_TRUE(observed.ok());
  std::vector<float> batch(1000);
  for (int i = 0; i < 1000; ++i) batch[i] = 1.0f + 2.0f * ((i % 2) ? 1 : -1);
  std::vector<float> out(batch.size());
  ASSERT_TRUE(manager_
                  ->Observe(Principal::Anonymous(), Ref(observed->id()),
                            {{1000}, batch.data(), 1000}, out.data())
                  .ok());
  v1::FitBoundariesRequest fit_boundaries;
  fit_boundaries.set_session_id(observed->id());
  ASSERT_TRUE(
      manager_->FitBoundaries(Principal::Anonymous(), fit_boundaries).ok());
  *request.mutable_unit() = Ref(observed->id());
  summary = Fit(request);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_DOUBLE_EQ(summary->fitted_range().min(), 1 - 3 * 2);
  EXPECT_DOUBLE_EQ(summary->fitted_range().max(), 1 + 3 * 2);

  // Samples [S] shared by every channel, then [S, C] per channel: lines the
  // PWLU represents exactly, so the error goes to ~0.
  const std::string sampled = CreateFixed(8, 2, 2);
  std::vector<float> x, y, xc, yc;
  for (int i = 0; i < 100; ++i) {
    const float v = -1.9f + 3.8f * i / 99;
    x.push_back(v);
    y.push_back(0.5f * v);
    xc.insert(xc.end(), {v, v});
    yc.insert(yc.end(), {0.5f * v, -v});
  }
  v1::FitRequest samples;
  *samples.mutable_unit() = Ref(sampled);
  *samples.mutable_samples()->mutable_x() = Tensor({100}, x);
  *samples.mutable_samples()->mutable_y() = Tensor({100}, y);
  samples.set_steps(1500);
  summary = Fit(samples);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_LT(summary->max_abs_error(), 0.02);
  EXPECT_FLOAT_EQ(summary->fitted_range().min(), -1.9f);
  *samples.mutable_samples()->mutable_x() = Tensor({100, 2}, xc);
  *samples.mutable_samples()->mutable_y() = Tensor({100, 2}, yc);
  summary = Fit(samples);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_LT(summary->max_abs_error(), 0.02);
  const std::vector<v1::Run> runs = Runs(sampled);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_TRUE(runs[1].fit().has_samples());
  EXPECT_FALSE(runs[1].fit().samples().has_x()) << "tensors are omitted";
}

TEST_F(TrainFitTest, InvalidFitsChangeNothing) {
  const std::string session = CreateFixed(16, 2);
  v1::CreateSessionRequest create;
  create.add_units()->set_name("act");
  auto statistics = manager_->CreateSession(Principal::Anonymous(), create);
  ASSERT_TRUE(statistics.ok());
  const std::string before = Get(session).SerializeAsString();

  struct Case {
    v1::FitRequest request;
    absl::StatusCode code;
    std::string message;
  };
  const v1::FitRequest base = GeluFit(session, 10);
  std::vector<Case> cases(13, {base, absl::StatusCode::kInvalidArgument, ""});
  cases[0] = {GeluFit(statistics->id(), 10),
              absl::StatusCode::kFailedPrecondition,
              "is in phase STATISTICS; call FitBoundaries first"};
  cases[1].request.set_steps(-1);
  cases[1].message = "steps: -1 is outside [1, 1000000]";
  cases[2].request.set_steps(1000001);
  cases[2].message = "steps: 1000001";
  cases[3].request.set_batch_size(65537);
  cases[3].message = "batch_size: 65537 is outside [1, 65536]";
  cases[4].request.mutable_range()->set_min(3);
  cases[4].request.mutable_range()->set_max(-3);
  cases[4].message = "range: [3, -3]";
  cases[5].request.mutable_range()->set_max(INFINITY);
  cases[5].message = "range: ";
  cases[6].request.mutable_activation()->set_name("prelu");
  cases[6].message = "activation.name: prelu";
  cases[7].request.mutable_activation()->set_name("nope");
  cases[7].message = "activation: ";
  cases[8].request.clear_activation();
  cases[8].message = "target: ";
  cases[9].request.set_progress_interval_ms(5);
  cases[9].message = "progress_interval_ms: 5";
  cases[10].request.mutable_optimizer()->set_epsilon(0);
  cases[10].message = "optimizer.epsilon: 0 is outside (0, inf)";
  *cases[11].request.mutable_samples()->mutable_x() = Tensor({2}, {0, 1});
  *cases[11].request.mutable_samples()->mutable_y() = Tensor({2}, {0, 1});
  cases[11].message = "a domain applies to activation targets";
  cases[12].request.clear_range();
  *cases[12].request.mutable_samples()->mutable_x() =
      Tensor({2, 3}, {0, 1, 2, 3, 4, 5});
  *cases[12].request.mutable_samples()->mutable_y() =
      Tensor({2, 3}, {0, 1, 2, 3, 4, 5});
  cases[12].message = "samples.x: shape [2, 3] is not [S] or [S, 2]";
  for (const Case& c : cases) {
    auto summary = Fit(c.request);
    EXPECT_EQ(summary.status().code(), c.code) << summary.status();
    EXPECT_THAT(std::string(summary.status().message()), HasSubstr(c.message));
  }
  EXPECT_EQ(Get(session).SerializeAsString(), before);
  EXPECT_TRUE(Runs(session).empty());
  EXPECT_TRUE(Runs(statistics->id()).empty());
}

TEST_F(TrainFitTest, CancelledFitPersistsItsLastCompletedStep) {
  const std::string session = CreateFixed(16);
  // An open TrainStep run, which the Fit closes.
  ASSERT_TRUE(Step(StepRequest(session, {1}, {0.5f}, {1.0f})).ok());
  v1::FitRequest request = GeluFit(session, 1000000);
  request.set_progress_interval_ms(20);
  const Clock::time_point cancel_at =
      Clock::now() + std::chrono::milliseconds(1500);
  int64_t last_reported = 0;
  int progress_messages = 0;
  auto summary = manager_->Fit(
      Principal::Anonymous(), request,
      [&] { return Clock::now() >= cancel_at; },
      [&](const v1::FitProgress& progress) {
        EXPECT_GT(progress.step(), last_reported);
        EXPECT_EQ(progress.steps(), 1000000);
        last_reported = progress.step();
        ++progress_messages;
        return true;
      });
  const auto latency = Clock::now() - cancel_at;
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(summary.status().message(),
              HasSubstr("the unit keeps its last completed step"));
  EXPECT_LT(latency, std::chrono::milliseconds(100));
  EXPECT_GT(progress_messages, 10);
  // At most one message every 20 ms.
  EXPECT_LE(progress_messages, 1500 / 20 + 1);

  const v1::Unit unit = Get(session);
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].kind(), v1::Run::TRAIN_STEPS);
  EXPECT_EQ(runs[0].state(), v1::Run::COMPLETED) << "the Fit closed it";
  const v1::Run& fit = runs[1];
  EXPECT_EQ(fit.state(), v1::Run::CANCELLED);
  EXPECT_THAT(fit.message(), HasSubstr("cancelled after"));
  EXPECT_GE(fit.steps(), last_reported);
  EXPECT_EQ(unit.training_steps(), 1 + fit.steps());
  EXPECT_EQ(fit.summary().steps_completed(), fit.steps());

  Reopen();
  EXPECT_EQ(Get(session).SerializeAsString(), unit.SerializeAsString());
  const std::vector<v1::Run> reopened = Runs(session);
  ASSERT_EQ(reopened.size(), 2u);
  EXPECT_EQ(reopened[1].SerializeAsString(), fit.SerializeAsString());
}

TEST_F(TrainFitTest, ProgressReturningFalseCancels) {
  const std::string session = CreateFixed(16);
  v1::FitRequest request = GeluFit(session, 1000000);
  request.set_progress_interval_ms(20);
  auto summary = manager_->Fit(
      Principal::Anonymous(), request, [] { return false; },
      [](const v1::FitProgress&) { return false; });
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Get(session).training_steps(), Runs(session)[0].steps());
}

// A TrainStep while a Fit trains its private copy: the Fit's next
// checkpoint finds a new version, aborts, and the TrainStep's change stays.
TEST_F(TrainFitTest, UnitChangedDuringFitAbortsIt) {
  const std::string session = CreateFixed(16);
  v1::FitRequest request = GeluFit(session, 1000000);
  request.set_progress_interval_ms(20);
  bool stepped = false;
  PwluParams after_step;
  auto summary = manager_->Fit(
      Principal::Anonymous(), request, [] { return false; },
      [&](const v1::FitProgress&) {
        if (!stepped) {
          // No lock is held between steps: this neither blocks nor waits.
          auto response = Step(StepRequest(session, {1}, {0.5f}, {1.0f}));
          EXPECT_TRUE(response.ok()) << response.status();
          after_step = Params(session);
          stepped = true;
        }
        return true;
      });
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(summary.status().message(), HasSubstr("changed during Fit"));
  const PwluParams now = Params(session);
  EXPECT_EQ(now.values, after_step.values);
  EXPECT_EQ(Get(session).training_steps(), 1);
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].kind(), v1::Run::FIT);
  EXPECT_EQ(runs[0].state(), v1::Run::FAILED);
  EXPECT_EQ(runs[0].message(), "unit changed during Fit");
  EXPECT_EQ(runs[0].steps(), 0);
  EXPECT_FALSE(runs[0].has_summary());
  EXPECT_EQ(runs[1].kind(), v1::Run::TRAIN_STEPS);
}

// The idle-session TTL counts a Fit's checkpoints as activity: a session
// made to look idle during a Fit is kept once the next checkpoint is in.
TEST_F(TrainFitTest, FitCheckpointsKeepTheSessionFromExpiring) {
  SessionOptions options;
  options.session_ttl = absl::Minutes(10);
  Reopen(options);
  const std::string session = CreateFixed(16);
  v1::FitRequest request = GeluFit(session, 1000000);
  request.set_progress_interval_ms(20);
  std::optional<int64_t> steps_when_backdated;
  absl::StatusOr<int64_t> expired = -1;
  auto summary = manager_->Fit(
      Principal::Anonymous(), request, [] { return false; },
      [&](const v1::FitProgress&) {
        const std::vector<v1::Run> runs = Runs(session);
        if (runs.empty()) return false;
        if (!steps_when_backdated) {
          auto other = SqliteStore::Open(DbPath());
          EXPECT_TRUE(other.ok());
          EXPECT_TRUE((*other)
                          ->Update(session,
                                   [](SessionTransaction& txn) {
                                     return txn.SetUpdateTime(absl::Now() -
                                                              absl::Hours(1));
                                   })
                          .ok());
          steps_when_backdated = runs[0].steps();
          return true;
        }
        if (runs[0].steps() == *steps_when_backdated) return true;
        // A checkpoint was committed since: sweep, then stop the Fit.
        expired = manager_->ExpireIdleSessions();
        return false;
      });
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kCancelled);
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 0);
  EXPECT_TRUE(manager_->GetSession(Principal::Anonymous(), session).ok());
}

TEST_F(TrainFitTest, OfTwoConcurrentFitsOneAbortsAndReadsNeverBlock) {
  const std::string session = CreateFixed(16);
  std::atomic<bool> stop{false};
  absl::StatusCode codes[2];
  auto fit = [&](int i) {
    v1::FitRequest request = GeluFit(session, 1000000);
    request.set_seed(i);
    codes[i] =
        manager_
            ->Fit(
                Principal::Anonymous(), request, [&] { return stop.load(); },
                [](const v1::FitProgress&) { return true; })
            .status()
            .code();
  };
  std::thread first(fit, 0), second(fit, 1);
  const Clock::time_point start = Clock::now();
  Clock::duration slowest{};
  while (Clock::now() - start < std::chrono::milliseconds(2500)) {
    const Clock::time_point t = Clock::now();
    Get(session);
    slowest = std::max(slowest, Clock::now() - t);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  first.join();
  second.join();
  EXPECT_THAT(std::vector<absl::StatusCode>(codes, codes + 2),
              ::testing::UnorderedElementsAre(absl::StatusCode::kAborted,
                                              absl::StatusCode::kCancelled));
  // A read waits at most for one checkpoint's commit, never for training.
  EXPECT_LT(slowest, std::chrono::milliseconds(250));
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 2u);
  int64_t committed = 0;
  for (const v1::Run& run : runs) committed += run.steps();
  EXPECT_EQ(Get(session).training_steps(), committed);
}

TEST_F(TrainFitTest, RunsAreListedFetchedAndDeletedWithTheSession) {
  const std::string session = CreateFixed(16);
  v1::AddUnitRequest add;
  add.set_session_id(session);
  add.mutable_unit()->set_name("other");
  add.mutable_unit()->set_fixed_bounds(true);
  ASSERT_TRUE(manager_->AddUnit(Principal::Anonymous(), add).ok());
  ASSERT_TRUE(Fit(GeluFit(session, 50)).ok());
  v1::TrainStepRequest step = StepRequest(session, {1}, {0.5f}, {1.0f});
  step.mutable_unit()->set_unit("other");
  ASSERT_TRUE(Step(step).ok());

  v1::ListRunsRequest list;
  list.set_session_id(session);
  list.set_unit("other");
  auto other = manager_->ListRuns(Principal::Anonymous(), list);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_EQ(other->runs_size(), 1);
  EXPECT_EQ(other->runs(0).id(), "run-000002");
  EXPECT_EQ(other->runs(0).unit(), "other");
  EXPECT_EQ(other->runs(0).session_id(), session);
  list.set_unit("nope");
  EXPECT_EQ(manager_->ListRuns(Principal::Anonymous(), list).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Run(session, "run-000009").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Run("no-session", "run-000001").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Runs(session).size(), 2u);

  // Runs ids continue after a restart.
  Reopen();
  ASSERT_TRUE(Fit(GeluFit(session, 5)).ok());
  EXPECT_EQ(Runs(session).back().id(), "run-000003");
  EXPECT_EQ(Query("SELECT count(*) FROM runs"), "3");
  ASSERT_TRUE(manager_->DeleteSession(Principal::Anonymous(), session).ok());
  EXPECT_EQ(Query("SELECT count(*) FROM runs"), "0");
  list.clear_unit();
  EXPECT_EQ(manager_->ListRuns(Principal::Anonymous(), list).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TrainFitTest, ImportClosesTheOpenRunAndResetsTheOptimizer) {
  const std::string session = CreateFixed(16);
  v1::TrainStepRequest step = StepRequest(session, {1}, {0.5f}, {1.0f});
  step.mutable_optimizer()->set_kind(v1::OptimizerSettings::SGD);
  ASSERT_TRUE(Step(step).ok());
  auto exported = manager_->ExportUnit(Principal::Anonymous(), Ref(session));
  ASSERT_TRUE(exported.ok());
  v1::ImportUnitRequest import;
  import.set_session_id(session);
  *import.mutable_export_() = *exported;
  import.set_replace(true);
  ASSERT_TRUE(manager_->ImportUnit(Principal::Anonymous(), import).ok());
  ASSERT_EQ(Runs(session)[0].state(), v1::Run::COMPLETED);
  auto response = Step(StepRequest(session, {1}, {0.5f}, {1.0f}));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->run_id(), "run-000002");
  EXPECT_EQ(response->training_steps(), 1);
  EXPECT_EQ(Runs(session)[1].optimizer().kind(), v1::OptimizerSettings::ADAM);
}

// A Fit in flight when the server stopped: its run is left RUNNING in the
// store (written here directly, as a crash would leave it) and closed as
// FAILED at the next start; an open TrainStep run resumes.
TEST_F(TrainFitTest, RunsLeftRunningAreClosedOrResumedOnOpen) {
  const std::string session = CreateFixed(16);
  ASSERT_TRUE(Step(StepRequest(session, {1}, {0.5f}, {1.0f})).ok());
  manager_.reset();
  {
    auto store = SqliteStore::Open(DbPath());
    ASSERT_TRUE(store.ok());
    session::RunRecord record;
    record.set_sequence(2);
    v1::Run& run = *record.mutable_run();
    run.set_id("run-000002");
    run.set_session_id(session);
    run.set_unit("act");
    run.set_kind(v1::Run::FIT);
    run.set_state(v1::Run::RUNNING);
    RunRow row{"run-000002", 2, "act", true, record.SerializeAsString()};
    ASSERT_TRUE(
        (*store)
            ->Update(session,
                     [&](SessionTransaction& txn) { return txn.PutRun(row); })
            .ok());
  }
  Reopen();
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].state(), v1::Run::RUNNING);
  EXPECT_EQ(runs[1].state(), v1::Run::FAILED);
  EXPECT_THAT(runs[1].message(), HasSubstr("server stopped"));
  auto response = Step(StepRequest(session, {1}, {0.5f}, {1.0f}));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->run_id(), "run-000001");
}

// Replicas share a store, so a manager opening it with a lease closes only
// the Fits that stopped checkpointing: the others belong to live replicas.
TEST_F(TrainFitTest, WithALeaseOnlyFitsPastItAreClosedOnOpen) {
  const std::string session = CreateFixed(16);
  manager_.reset();
  const absl::Time now = absl::Now();
  {
    auto store = SqliteStore::Open(DbPath());
    ASSERT_TRUE(store.ok());
    for (absl::Time written : {now, now - absl::Minutes(10)}) {
      ASSERT_TRUE(
          (*store)
              ->Update(
                  session,
                  [&](SessionTransaction& txn) -> absl::Status {
                    absl::StatusOr<int64_t> sequence = txn.NextRunSequence();
                    if (!sequence.ok()) return sequence.status();
                    session::RunRecord record;
                    record.set_sequence(*sequence);
                    record.set_write_unix_nanos(absl::ToUnixNanos(written));
                    v1::Run& run = *record.mutable_run();
                    run.set_id(RunId(*sequence));
                    run.set_unit("act");
                    run.set_kind(v1::Run::FIT);
                    run.set_state(v1::Run::RUNNING);
                    return txn.PutRun({run.id(), *sequence, "act", true,
                                       record.SerializeAsString()});
                  })
              .ok());
    }
  }
  auto store = SqliteStore::Open(DbPath());
  ASSERT_TRUE(store.ok());
  SessionOptions options;
  options.fit_lease = absl::Minutes(2);
  auto manager = SessionManager::Open(*std::move(store), &engine_, options);
  ASSERT_TRUE(manager.ok()) << manager.status();
  manager_ = *std::move(manager);
  const std::vector<v1::Run> runs = Runs(session);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].state(), v1::Run::RUNNING);
  EXPECT_EQ(runs[1].state(), v1::Run::FAILED);
  EXPECT_THAT(runs[1].message(), HasSubstr("server stopped"));
}

// A file of schema version 1 (this server's tables minus runs, the run
// counter and the owner, which is all version 1 had) is migrated on open and
// keeps its sessions.
TEST_F(TrainFitTest, MigratesSchemaVersion1) {
  const std::string session = CreateFixed(16);
  const std::string unit = Get(session).SerializeAsString();
  manager_.reset();
  Exec(
      "DROP TABLE runs; ALTER TABLE sessions DROP COLUMN last_run_sequence; "
      "ALTER TABLE sessions DROP COLUMN owner; PRAGMA user_version = 1;");
  ASSERT_EQ(Query("PRAGMA user_version"), "1");
  ASSERT_EQ(Query("SELECT count(*) FROM sqlite_master WHERE name = 'runs'"),
            "0");
  Reopen();
  EXPECT_EQ(Query("PRAGMA user_version"), "4");
  EXPECT_EQ(Get(session).SerializeAsString(), unit);
  EXPECT_TRUE(Runs(session).empty());
  ASSERT_TRUE(Step(StepRequest(session, {1}, {0.5f}, {1.0f})).ok());
  Reopen();
  ASSERT_EQ(Runs(session).size(), 1u);
  EXPECT_EQ(Get(session).training_steps(), 1);
}

}  // namespace
}  // namespace actlab
