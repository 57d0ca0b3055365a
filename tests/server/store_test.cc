// Copyright actlab authors.
//
// One storage suite, run against both SessionStore backends: SQLite on a
// file, and PostgreSQL on a throwaway cluster this binary starts (a fresh
// database per test). Then the checks only one backend has: SQLite's file
// handling, PostgreSQL's reconnects.

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/postgres_store.h"
#include "server/session/sqlite_store.h"
#include "tests/support/postgres_cluster.h"

namespace actlab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

enum class Backend { kSqlite, kPostgres };

std::string TestName() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      dir_ = fs::path(::testing::TempDir()) /
             absl::StrCat("store_test_", getpid(), "_", SanitizedName());
      fs::remove_all(dir_);
      target_ = (dir_ / "nested" / "dirs" / "sessions.db").string();
      return;
    }
    ACTLAB_SKIP_OR_FAIL_WITHOUT_POSTGRES();
    absl::StatusOr<PostgresCluster*> cluster = PostgresCluster::Shared();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *cluster;
    db_ = absl::AsciiStrToLower(SanitizedName());
    absl::StatusOr<std::string> url = cluster_->CreateDatabase(db_);
    ASSERT_TRUE(url.ok()) << url.status();
    target_ = *url;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  static std::string SanitizedName() {
    std::string name = TestName();
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return name;
  }

  absl::StatusOr<std::unique_ptr<SessionStore>> Open() {
    if (GetParam() == Backend::kSqlite) return SqliteStore::Open(target_);
    return PostgresStore::Open(target_, /*pool_size=*/4);
  }

  std::unique_ptr<SessionStore> OpenStore() {
    auto store = Open();
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // A query on a separate connection, as another process would see it.
  std::string QueryText(const std::string& sql) {
    if (GetParam() == Backend::kPostgres) {
      absl::StatusOr<std::string> out = cluster_->Query(db_, sql);
      EXPECT_TRUE(out.ok()) << out.status();
      return out.ok() ? *out : "";
    }
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(target_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr),
              SQLITE_OK);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  std::string SchemaVersion() {
    return QueryText(GetParam() == Backend::kSqlite
                         ? "PRAGMA user_version"
                         : "SELECT MAX(version) FROM actlab_schema");
  }

  fs::path dir_;
  std::string target_;  // file path or URL
  PostgresCluster* cluster_ = nullptr;
  std::string db_;
};

// A max_sessions no test reaches.
constexpr int64_t kNoLimit = 1000;

SessionRow Session(const std::string& id, int64_t t) {
  return {id, "display " + id, absl::FromUnixNanos(t),
          absl::FromUnixNanos(t + 1), "owner-" + id};
}

UnitRow Unit(const std::string& name, int64_t position, int64_t version) {
  return {name, position, version,
          std::string("state\0of ", 9) + name + std::to_string(version)};
}

RunRow RunOf(int64_t sequence, const std::string& unit, bool running) {
  return {absl::StrCat("run-", sequence), sequence, unit, running,
          std::string("rec\0\xff", 5) + std::to_string(sequence)};
}

void ExpectUnitEq(const UnitRow& a, const UnitRow& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.position, b.position);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.state, b.state);
}

void ExpectRunEq(const RunRow& a, const RunRow& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.sequence, b.sequence);
  EXPECT_EQ(a.unit, b.unit);
  EXPECT_EQ(a.running, b.running);
  EXPECT_EQ(a.record, b.record);
}

// Writes `units` (and the session's update time, when given) in one Update.
absl::Status PutUnits(SessionStore& store, const std::string& session,
                      std::vector<UnitRow> units,
                      std::optional<absl::Time> update_time = std::nullopt) {
  return store.Update(session, [&](SessionTransaction& txn) {
    for (const UnitRow& unit : units) {
      absl::Status s = txn.PutUnit(unit);
      if (!s.ok()) return s;
    }
    return update_time ? txn.SetUpdateTime(*update_time) : absl::OkStatus();
  });
}

TEST_P(StoreTest, OpenCreatesTheSchemaWithItsVersion) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(SchemaVersion(), GetParam() == Backend::kSqlite ? "4" : "2");
  auto all = store->ListSessions();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
  // Opening again (another replica) keeps the schema.
  ASSERT_NE(OpenStore(), nullptr);
}

TEST_P(StoreTest, RoundTripsAcrossReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store
                    ->CreateSession(Session("s2", 200),
                                    {Unit("b", 0, 1), Unit("a", 1, 1)},
                                    kNoLimit)
                    .ok());
    ASSERT_TRUE(store->CreateSession(Session("s1", 100), {}, kNoLimit).ok());
    // Overwrite one unit, add another, touch the session.
    ASSERT_TRUE(PutUnits(*store, "s2", {Unit("a", 1, 2), Unit("c", 2, 1)},
                         absl::FromUnixNanos(999))
                    .ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto all = store->ListSessions();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].session.id, "s1");  // ordered by create time
  EXPECT_TRUE((*all)[0].units.empty());
  auto got = store->GetSession("s2");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  for (const StoredSession* s2 : {&(*all)[1], &**got}) {
    EXPECT_EQ(s2->session.id, "s2");
    EXPECT_EQ(s2->session.display_name, "display s2");
    EXPECT_EQ(s2->session.create_time, absl::FromUnixNanos(200));
    EXPECT_EQ(s2->session.update_time, absl::FromUnixNanos(999));
    EXPECT_EQ(s2->session.owner, "owner-s2");
    ASSERT_EQ(s2->units.size(), 3u);  // ordered by position
    ExpectUnitEq(s2->units[0], Unit("b", 0, 1));
    ExpectUnitEq(s2->units[1], Unit("a", 1, 2));
    ExpectUnitEq(s2->units[2], Unit("c", 2, 1));
  }
  auto unit = store->GetUnit("s2", "a");
  ASSERT_TRUE(unit.ok() && unit->has_value());
  ExpectUnitEq(**unit, Unit("a", 1, 2));
  EXPECT_FALSE(store->GetUnit("s2", "zz")->has_value());
  EXPECT_FALSE(store->GetUnit("nope", "a")->has_value());
  EXPECT_FALSE(store->GetSession("nope")->has_value());
  auto row = store->GetSessionRow("s2");
  ASSERT_TRUE(row.ok() && row->has_value()) << row.status();
  EXPECT_EQ((*row)->owner, "owner-s2");
  EXPECT_EQ((*row)->display_name, "display s2");
  EXPECT_EQ((*row)->update_time, absl::FromUnixNanos(999));
  EXPECT_FALSE(store->GetSessionRow("nope")->has_value());
}

// A store from before owners (SQLite version 3, PostgreSQL version 1) is
// migrated when opened: its sessions keep everything and belong to "".
TEST_P(StoreTest, MigrationGivesEarlierSessionsTheAnonymousOwner) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(
        store->CreateSession(Session("old", 7), {Unit("a", 0, 3)}, kNoLimit)
            .ok());
  }
  // Take the file or database back to the schema before owners.
  if (GetParam() == Backend::kSqlite) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(target_.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db,
                           "ALTER TABLE sessions DROP COLUMN owner; "
                           "PRAGMA user_version = 3;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  } else {
    ASSERT_TRUE(
        cluster_->Query(db_, "ALTER TABLE sessions DROP COLUMN owner").ok());
    ASSERT_TRUE(
        cluster_->Query(db_, "DELETE FROM actlab_schema WHERE version = 2")
            .ok());
  }
  ASSERT_EQ(QueryText("SELECT count(*) FROM sessions"), "1");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(SchemaVersion(), GetParam() == Backend::kSqlite ? "4" : "2");
  auto old = store->GetSession("old");
  ASSERT_TRUE(old.ok() && old->has_value()) << old.status();
  EXPECT_EQ((*old)->session.owner, "");
  EXPECT_EQ((*old)->session.display_name, "display old");
  ASSERT_EQ((*old)->units.size(), 1u);
  ExpectUnitEq((*old)->units[0], Unit("a", 0, 3));
  ASSERT_TRUE(store->CreateSession(Session("new", 8), {}, kNoLimit).ok());
  auto all = store->ListSessions();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].session.owner, "");
  EXPECT_EQ((*all)[1].session.owner, "owner-new");
}

TEST_P(StoreTest, UpdateWithoutSessionTimeLeavesSessionRow) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->CreateSession(Session("s", 10), {Unit("a", 0, 1)}, kNoLimit).ok());
  ASSERT_TRUE(PutUnits(*store, "s", {Unit("a", 0, 7)}).ok());
  EXPECT_EQ(QueryText("SELECT update_time_ns FROM sessions"), "11");
  EXPECT_EQ(QueryText("SELECT version FROM units"), "7");
}

TEST_P(StoreTest, DeleteSessionRemovesItsUnitsAndRunsOnly) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  for (const char* id : {"s1", "s2"}) {
    ASSERT_TRUE(store
                    ->CreateSession(Session(id, 1),
                                    {Unit("a", 0, 1), Unit("b", 1, 1)},
                                    kNoLimit)
                    .ok());
    ASSERT_TRUE(store
                    ->Update(id,
                             [](SessionTransaction& txn) {
                               return txn.PutRun(RunOf(1, "a", true));
                             })
                    .ok());
  }
  ASSERT_TRUE(store->DeleteSession("s1").ok());
  EXPECT_TRUE(IsNoSuchSession(store->DeleteSession("s1")));
  auto all = store->ListSessions();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].session.id, "s2");
  EXPECT_EQ((*all)[0].units.size(), 2u);
  EXPECT_EQ(QueryText("SELECT count(*) FROM units"), "2");
  EXPECT_EQ(QueryText("SELECT count(*) FROM runs"), "1");
  EXPECT_TRUE(store->ListRuns("s1", "")->empty());
}

TEST_P(StoreTest, FailedCallsChangeNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->CreateSession(Session("s", 1), {Unit("a", 0, 1)}, kNoLimit).ok());

  // Duplicate id: the constraint fails after nothing was committed.
  absl::Status s =
      store->CreateSession(Session("s", 5), {Unit("z", 0, 1)}, kNoLimit);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("session store"));

  // A missing session: the body never runs.
  bool ran = false;
  s = store->Update("missing", [&](SessionTransaction&) {
    ran = true;
    return absl::OkStatus();
  });
  EXPECT_TRUE(IsNoSuchSession(s)) << s;
  EXPECT_FALSE(ran);

  // A failing body rolls back what it wrote, and its status comes back
  // unchanged (a NotFound of its own is not a missing session).
  s = store->Update("s", [](SessionTransaction& txn) {
    absl::Status put = txn.PutUnit(Unit("a", 0, 9));
    if (!put.ok()) return put;
    put = txn.PutRun(RunOf(1, "a", true));
    if (!put.ok()) return put;
    put = txn.SetUpdateTime(absl::FromUnixNanos(77));
    if (!put.ok()) return put;
    return absl::NotFoundError("the body's own");
  });
  EXPECT_EQ(s, absl::NotFoundError("the body's own"));
  EXPECT_FALSE(IsNoSuchSession(s));

  auto got = store->GetSession("s");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->session.create_time, absl::FromUnixNanos(1));
  EXPECT_EQ((*got)->session.update_time, absl::FromUnixNanos(2));
  ASSERT_EQ((*got)->units.size(), 1u);
  ExpectUnitEq((*got)->units[0], Unit("a", 0, 1));
  EXPECT_TRUE(store->ListRuns("s", "")->empty());
}

TEST_P(StoreTest, RunsRoundTripAndSequencesAreDrawnOnce) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->CreateSession(Session("s", 1),
                                  {Unit("a", 0, 1), Unit("b", 1, 1)}, kNoLimit)
                  .ok());
  std::vector<int64_t> drawn;
  for (const char* unit : {"a", "b", "a"}) {
    ASSERT_TRUE(store
                    ->Update("s",
                             [&](SessionTransaction& txn) -> absl::Status {
                               absl::StatusOr<int64_t> seq =
                                   txn.NextRunSequence();
                               if (!seq.ok()) return seq.status();
                               drawn.push_back(*seq);
                               return txn.PutRun(RunOf(*seq, unit, *seq != 1));
                             })
                    .ok());
  }
  EXPECT_EQ(drawn, (std::vector<int64_t>{1, 2, 3}));
  // A rolled-back draw is returned.
  ASSERT_FALSE(store
                   ->Update("s",
                            [](SessionTransaction& txn) {
                              EXPECT_EQ(*txn.NextRunSequence(), 4);
                              return absl::AbortedError("no");
                            })
                   .ok());

  auto runs = store->ListRuns("s", "");
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 3u);
  ExpectRunEq((*runs)[0], RunOf(1, "a", false));
  ExpectRunEq((*runs)[2], RunOf(3, "a", true));
  EXPECT_EQ(store->ListRuns("s", "a")->size(), 2u);
  auto one = store->GetRun("s", "run-2");
  ASSERT_TRUE(one.ok() && one->has_value());
  ExpectRunEq(**one, RunOf(2, "b", true));
  EXPECT_FALSE(store->GetRun("s", "run-9")->has_value());

  auto running = store->RunningRuns();
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->size(), 2u);
  EXPECT_EQ((*running)[0].session_id, "s");
  ExpectRunEq((*running)[0].run, RunOf(2, "b", true));

  // Overwrite a run (it ends); read the unit's running runs in a
  // transaction, and the positions.
  ASSERT_TRUE(store
                  ->Update("s",
                           [](SessionTransaction& txn) -> absl::Status {
                             absl::StatusOr<std::vector<RunRow>> open =
                                 txn.RunningRuns("a");
                             EXPECT_TRUE(open.ok());
                             EXPECT_EQ(open->size(), 1u);
                             EXPECT_EQ(*txn.NextPosition(), 2);
                             EXPECT_EQ(txn.LockUnits()->size(), 2u);
                             return txn.PutRun(RunOf(3, "a", false));
                           })
                  .ok());
  EXPECT_EQ(store->RunningRuns()->size(), 1u);
}

// The property replicas rely on: two stores (two processes' worth of
// connections) updating one unit at once never lose an update.
TEST_P(StoreTest, ConcurrentUpdatesOfOneUnitFromTwoStoresLoseNothing) {
  auto first = OpenStore();
  auto second = OpenStore();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(
      first->CreateSession(Session("s", 1), {Unit("a", 0, 0)}, kNoLimit).ok());
  constexpr int kThreads = 4, kUpdates = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    SessionStore* store = t % 2 ? second.get() : first.get();
    threads.emplace_back([store, &failures] {
      for (int i = 0; i < kUpdates; ++i) {
        absl::Status s =
            store->Update("s", [](SessionTransaction& txn) -> absl::Status {
              absl::StatusOr<std::optional<UnitRow>> unit = txn.LockUnit("a");
              if (!unit.ok()) return unit.status();
              // Read, then write back one more, with a pause between, as a
              // computation would.
              std::this_thread::yield();
              return txn.PutUnit(Unit("a", 0, (*unit)->version + 1));
            });
        if (!s.ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  auto unit = first->GetUnit("s", "a");
  ASSERT_TRUE(unit.ok() && unit->has_value());
  EXPECT_EQ((*unit)->version, kThreads * kUpdates);
}

TEST_P(StoreTest, CreateSessionStopsAtMaxSessionsAndChangesNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateSession(Session("s1", 1), {}, 2).ok());
  ASSERT_TRUE(store->CreateSession(Session("s2", 2), {}, 2).ok());
  absl::Status s = store->CreateSession(Session("s3", 3), {Unit("a", 0, 1)}, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("max_sessions (2) reached"));
  EXPECT_EQ(QueryText("SELECT count(*) FROM sessions"), "2");
  EXPECT_EQ(QueryText("SELECT count(*) FROM units"), "0");
  // A deletion makes room again.
  ASSERT_TRUE(store->DeleteSession("s1").ok());
  EXPECT_TRUE(store->CreateSession(Session("s3", 3), {}, 2).ok());
}

// Replicas creating at once never exceed the limit between them.
TEST_P(StoreTest, ConcurrentCreatorsOnTwoStoresRespectMaxSessions) {
  auto first = OpenStore();
  auto second = OpenStore();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 4, kAttempts = 6, kMax = 5;
  std::atomic<int> created{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    SessionStore* store = t % 2 ? second.get() : first.get();
    threads.emplace_back([store, t, &created, &refused, &failed] {
      for (int i = 0; i < kAttempts; ++i) {
        absl::Status s = store->CreateSession(
            Session(absl::StrCat("s", t, "_", i), 1), {Unit("a", 0, 1)}, kMax);
        if (s.ok()) {
          ++created;
        } else if (absl::IsResourceExhausted(s)) {
          ++refused;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(created, kMax);
  EXPECT_EQ(refused, kThreads * kAttempts - kMax);
  EXPECT_EQ(QueryText("SELECT count(*) FROM sessions"), absl::StrCat(kMax));
}

TEST_P(StoreTest, TouchMovesUpdateTimeOnlyWhenOlderThanTheResolution) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const absl::Time t0 = absl::FromUnixSeconds(1000000);
  ASSERT_TRUE(store->CreateSession({"s", "", t0, t0, ""}, {}, kNoLimit).ok());
  auto touch = [&](absl::Time now) {
    EXPECT_TRUE(
        store
            ->Update("s",
                     [now](SessionTransaction& txn) { return txn.Touch(now); })
            .ok());
    auto got = store->GetSession("s");
    return got.ok() && got->has_value() ? (*got)->session.update_time
                                        : absl::InfinitePast();
  };
  const absl::Time t1 = t0 + kTouchResolution + absl::Milliseconds(1);
  EXPECT_EQ(touch(t1), t1);
  EXPECT_EQ(touch(t1 + kTouchResolution / 2), t1);  // recent enough: kept
  const absl::Time t2 = t1 + 2 * kTouchResolution;
  EXPECT_EQ(touch(t2), t2);
}

TEST_P(StoreTest, DeleteSessionsUpdatedBeforeRemovesOnlyIdleOnes) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  // Session() gives update_time t + 1.
  for (auto [id, t] : {std::pair{"old", 100}, {"older", 50}, {"new", 300}}) {
    ASSERT_TRUE(
        store->CreateSession(Session(id, t), {Unit("a", 0, 1)}, kNoLimit).ok());
    ASSERT_TRUE(store
                    ->Update(id,
                             [](SessionTransaction& txn) {
                               return txn.PutRun(RunOf(1, "a", true));
                             })
                    .ok());
  }
  auto deleted = store->DeleteSessionsUpdatedBefore(absl::FromUnixNanos(200));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2);
  auto all = store->ListSessions();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].session.id, "new");
  EXPECT_EQ(QueryText("SELECT count(*) FROM units"), "1");
  EXPECT_EQ(QueryText("SELECT count(*) FROM runs"), "1");
  // The cutoff is exclusive, and nothing is left to delete below it.
  deleted = store->DeleteSessionsUpdatedBefore(absl::FromUnixNanos(301));
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "Sqlite"
                                                                 : "Postgres";
                         });

// --- SQLite only: the file. ---

class SqliteFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("sqlite_file_test_", getpid(), "_", TestName());
    fs::remove_all(dir_);
    path_ = (dir_ / "nested" / "sessions.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string path_;
};

TEST_F(SqliteFileTest, OpenCreatesDirectoriesAndUsesWal) {
  ASSERT_TRUE(SqliteStore::Open(path_).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)),
               "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(SqliteFileTest, UnopenablePathIsUnavailable) {
  fs::create_directories(path_);  // a directory where the file should be
  auto store = SqliteStore::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr("session store"));
}

TEST_F(SqliteFileTest, ParentIsAFileIsUnavailable) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "nested") << "not a directory";
  auto store = SqliteStore::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SqliteFileTest, RefusesNewerSchema) {
  ASSERT_TRUE(SqliteStore::Open(path_).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA user_version = 5", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteStore::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 5"));
}

// --- PostgreSQL only: the server and the connections. ---

class PostgresOnlyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACTLAB_SKIP_OR_FAIL_WITHOUT_POSTGRES();
    absl::StatusOr<PostgresCluster*> cluster = PostgresCluster::Shared();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *cluster;
    db_ = absl::AsciiStrToLower(absl::StrCat("only_", TestName()));
    absl::StatusOr<std::string> url = cluster_->CreateDatabase(db_);
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
  }

  PostgresCluster* cluster_ = nullptr;
  std::string db_, url_;
};

TEST_F(PostgresOnlyTest, RefusesNewerSchema) {
  ASSERT_TRUE(PostgresStore::Open(url_, 1).ok());
  ASSERT_TRUE(
      cluster_->Query(db_, "INSERT INTO actlab_schema VALUES (3)").ok());
  auto store = PostgresStore::Open(url_, 1);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 3"));
}

TEST_F(PostgresOnlyTest, LostConnectionsAreReopened) {
  auto store = PostgresStore::Open(url_, 2);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)
                  ->CreateSession(Session("s", 1), {Unit("a", 0, 1)}, kNoLimit)
                  .ok());
  // The server drops every connection of the store, as a failover would.
  ASSERT_TRUE(cluster_
                  ->Query(db_,
                          "SELECT count(pg_terminate_backend(pid)) FROM "
                          "pg_stat_activity WHERE datname = current_database() "
                          "AND pid <> pg_backend_pid()")
                  .ok());
  EXPECT_TRUE(PutUnits(**store, "s", {Unit("a", 0, 2)}).ok());
  auto unit = (*store)->GetUnit("s", "a");
  ASSERT_TRUE(unit.ok()) << unit.status();
  EXPECT_EQ((*unit)->version, 2);
}

TEST_F(PostgresOnlyTest, UnreachableServerIsUnavailable) {
  const std::string url = absl::StrCat(
      "postgresql://actlab@127.0.0.1:", cluster_->port() == 1 ? 2 : 1, "/x");
  auto store = PostgresStore::Open(url, 1);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr("session store"));
  EXPECT_FALSE(PostgresStore::Open("/var/lib/x.db", 1).ok());
  EXPECT_TRUE(PostgresStore::IsUrl("postgres://h/db"));
  EXPECT_FALSE(PostgresStore::IsUrl("var/actlab.db"));
}

}  // namespace
}  // namespace actlab
