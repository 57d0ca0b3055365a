// Copyright actlab authors.

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/sqlite_store.h"

namespace actlab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat(
               "store_test_", getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    path_ = (dir_ / "nested" / "dirs" / "sessions.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SqliteStore> OpenStore() {
    auto store = SqliteStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // A query on a separate connection, as another process would see it.
  std::string QueryText(const char* sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  fs::path dir_;
  std::string path_;
};

SessionRow Session(const std::string& id, int64_t t) {
  return {id, "display " + id, absl::FromUnixNanos(t),
          absl::FromUnixNanos(t + 1)};
}

UnitRow Unit(const std::string& name, int64_t position, int64_t version) {
  return {name, position, version,
          std::string("state\0of ", 9) + name + std::to_string(version)};
}

void ExpectUnitEq(const UnitRow& a, const UnitRow& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.position, b.position);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.state, b.state);
}

TEST_F(StoreTest, OpenCreatesDirectoriesSchemaAndWal) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_EQ(QueryText("PRAGMA user_version"), "2");
  EXPECT_EQ(QueryText("PRAGMA journal_mode"), "wal");
  auto all = store->LoadAll();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
}

TEST_F(StoreTest, RoundTripsAcrossReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    const UnitRow units[] = {Unit("b", 0, 1), Unit("a", 1, 1)};
    ASSERT_TRUE(store->CreateSession(Session("s2", 200), units).ok());
    ASSERT_TRUE(store->CreateSession(Session("s1", 100), {}).ok());
    // Overwrite one unit, add another, touch the session.
    const UnitRow put[] = {Unit("a", 1, 2), Unit("c", 2, 1)};
    ASSERT_TRUE(store->PutUnits("s2", put, absl::FromUnixNanos(999)).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto all = store->LoadAll();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].session.id, "s1");  // ordered by create time
  EXPECT_TRUE((*all)[0].units.empty());
  const StoredSession& s2 = (*all)[1];
  EXPECT_EQ(s2.session.id, "s2");
  EXPECT_EQ(s2.session.display_name, "display s2");
  EXPECT_EQ(s2.session.create_time, absl::FromUnixNanos(200));
  EXPECT_EQ(s2.session.update_time, absl::FromUnixNanos(999));
  ASSERT_EQ(s2.units.size(), 3u);  // ordered by position
  ExpectUnitEq(s2.units[0], Unit("b", 0, 1));
  ExpectUnitEq(s2.units[1], Unit("a", 1, 2));
  ExpectUnitEq(s2.units[2], Unit("c", 2, 1));
}

TEST_F(StoreTest, PutUnitsWithoutSessionTimeLeavesSessionRow) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const UnitRow units[] = {Unit("a", 0, 1)};
  ASSERT_TRUE(store->CreateSession(Session("s", 10), units).ok());
  const UnitRow put[] = {Unit("a", 0, 7)};
  ASSERT_TRUE(store->PutUnits("s", put, std::nullopt).ok());
  EXPECT_EQ(QueryText("SELECT update_time_ns FROM sessions"), "11");
  EXPECT_EQ(QueryText("SELECT version FROM units"), "7");
}

TEST_F(StoreTest, DeleteSessionRemovesItsUnitsOnly) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const UnitRow units[] = {Unit("a", 0, 1), Unit("b", 1, 1)};
  ASSERT_TRUE(store->CreateSession(Session("s1", 1), units).ok());
  ASSERT_TRUE(store->CreateSession(Session("s2", 2), units).ok());
  ASSERT_TRUE(store->DeleteSession("s1").ok());
  auto all = store->LoadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].session.id, "s2");
  EXPECT_EQ((*all)[0].units.size(), 2u);
  EXPECT_EQ(QueryText("SELECT count(*) FROM units"), "2");
}

TEST_F(StoreTest, FailedCallChangesNothing) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const UnitRow units[] = {Unit("a", 0, 1)};
  ASSERT_TRUE(store->CreateSession(Session("s", 1), units).ok());

  // Duplicate id: the constraint fails after nothing was committed.
  const UnitRow other[] = {Unit("z", 0, 1)};
  absl::Status s = store->CreateSession(Session("s", 5), other);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("UNIQUE"));

  // A missing session: the unit write is rolled back with the transaction.
  const UnitRow put[] = {Unit("a", 0, 9)};
  s = store->PutUnits("missing", put, absl::FromUnixNanos(3));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  s = store->PutUnits("missing", put, std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("FOREIGN KEY"));

  auto all = store->LoadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].session.create_time, absl::FromUnixNanos(1));
  ASSERT_EQ((*all)[0].units.size(), 1u);
  ExpectUnitEq((*all)[0].units[0], Unit("a", 0, 1));
}

TEST_F(StoreTest, UnopenablePathIsUnavailable) {
  fs::create_directories(path_);  // a directory where the file should be
  auto store = SqliteStore::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr("session store"));
}

TEST_F(StoreTest, ParentIsAFileIsUnavailable) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "nested") << "not a directory";
  auto store = SqliteStore::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(StoreTest, RefusesNewerSchema) {
  ASSERT_NE(OpenStore(), nullptr);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA user_version = 3", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteStore::Open(path_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 3"));
}

}  // namespace
}  // namespace actlab
