// Copyright actlab authors.
//
// Base fixture of the SessionManager tests: a manager on a real SQLite file
// in a fresh folder per test, reopened on the same file as after a server
// restart, with the calls most tests make as the anonymous caller.

#ifndef ACTLAB_TESTS_SERVER_SESSION_TEST_UTIL_H_
#define ACTLAB_TESTS_SERVER_SESSION_TEST_UTIL_H_

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/session/session_manager.h"
#include "server/session/sqlite_store.h"

namespace actlab {

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* test =
        ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        std::filesystem::path(::testing::TempDir()) /
        absl::StrCat(test->test_suite_name(), "_", getpid(), "_", test->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    manager_.reset();
    std::filesystem::remove_all(dir_);
  }

  // In a folder the store has to create, as a fresh deployment does.
  std::string DbPath() const {
    return (dir_ / "state" / "sessions.db").string();
  }

  // A new manager on the same file, as after a server restart.
  void Reopen(const SessionOptions& options = {}) {
    manager_.reset();
    auto store = SqliteStore::Open(DbPath());
    ASSERT_TRUE(store.ok()) << store.status();
    auto manager = SessionManager::Open(*std::move(store), &engine_, options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = *std::move(manager);
  }

  // A session holding `units`; "" (and a test failure) if it cannot be
  // created.
  std::string Create(const std::vector<v1::UnitConfig>& units) {
    v1::CreateSessionRequest request;
    request.set_display_name("test");
    for (const v1::UnitConfig& u : units) *request.add_units() = u;
    auto session = manager_->CreateSession(Principal::Anonymous(), request);
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? session->id() : "";
  }

  v1::Unit Get(const std::string& session, const std::string& unit = "act") {
    auto u = manager_->GetUnit(Principal::Anonymous(), Ref(session, unit));
    EXPECT_TRUE(u.ok()) << u.status();
    return u.ok() ? *u : v1::Unit();
  }

  // The session and its units as bytes, to show a failed call changed
  // nothing.
  std::string Snapshot(const std::string& session) {
    auto s = manager_->GetSession(Principal::Anonymous(), session);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->SerializeAsString() : "";
  }

  absl::StatusOr<v1::RunningStats> Observe(const std::string& session,
                                           const std::string& unit,
                                           const std::vector<int64_t>& shape,
                                           const std::vector<float>& x) {
    TensorView view{shape, x.data(), static_cast<int64_t>(x.size())};
    std::vector<float> y(x.size());
    return manager_->Observe(Principal::Anonymous(), Ref(session, unit), view,
                             y.data());
  }

  static v1::UnitRef Ref(const std::string& session,
                         const std::string& unit = "act") {
    v1::UnitRef ref;
    ref.set_session_id(session);
    ref.set_unit(unit);
    return ref;
  }

  static v1::UnitConfig Layer(const std::string& name) {
    v1::UnitConfig c;
    c.set_name(name);
    return c;
  }

  static v1::UnitConfig Channel(const std::string& name, int channels) {
    v1::UnitConfig c = Layer(name);
    c.set_granularity(v1::CHANNEL);
    c.set_channels(channels);
    return c;
  }

  std::filesystem::path dir_;
  BaselineEngine engine_;
  std::unique_ptr<SessionManager> manager_;
};

}  // namespace actlab

#endif  // ACTLAB_TESTS_SERVER_SESSION_TEST_UTIL_H_
