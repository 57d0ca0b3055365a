// Copyright actlab authors.
//
// SessionManager API: defaults, validation, errors (each leaving state
// unchanged), persistence, curves, export/import. Real SQLite files.

#include "server/session/session_manager.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/session/sqlite_store.h"
#include "tests/server/session_test_util.h"

namespace actlab {
namespace {

namespace fs = std::filesystem;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class SessionManagerTest : public SessionTest {};

std::vector<float> Ramp(int n, float start, float step) {
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = start + step * i;
  return x;
}

TEST_F(SessionManagerTest, CreateFillsDefaultsAndInitialReluShape) {
  v1::CreateSessionRequest request;
  request.set_display_name("resnet");
  *request.add_units() = Layer("a");
  auto session = manager_->CreateSession(Principal::Anonymous(), request);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_THAT(session->id(), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(session->display_name(), "resnet");
  EXPECT_THAT(session->unit_names(), ::testing::ElementsAre("a"));

  const v1::Unit unit = Get(session->id(), "a");
  const v1::UnitConfig& c = unit.config();
  EXPECT_EQ(c.intervals(), 16);
  EXPECT_EQ(c.granularity(), v1::LAYER);
  EXPECT_EQ(c.channels(), 1);
  EXPECT_FALSE(c.has_channel_axis());
  EXPECT_EQ(c.momentum(), 0.9);
  EXPECT_EQ(c.sigma_multiplier(), 3.0);
  EXPECT_EQ(c.init_activation(), "relu");
  EXPECT_EQ(c.init_bound(), 3.0);
  EXPECT_FALSE(c.fixed_bounds());
  EXPECT_EQ(c.min_width(), 1e-3);
  EXPECT_EQ(unit.phase(), v1::STATISTICS);
  EXPECT_EQ(unit.version(), 1);
  EXPECT_EQ(unit.stats().batches(), 0);
  EXPECT_EQ(unit.batches_observed(), 0);

  const v1::PwluParameters& p = unit.parameters();
  EXPECT_EQ(p.intervals(), 16);
  EXPECT_THAT(p.left_bound(), ::testing::ElementsAre(-3.0f));
  EXPECT_THAT(p.right_bound(), ::testing::ElementsAre(3.0f));
  EXPECT_THAT(p.left_slope(), ::testing::ElementsAre(0.0f));
  EXPECT_THAT(p.right_slope(), ::testing::ElementsAre(1.0f));
  ASSERT_EQ(p.values_size(), 17);
  for (int j = 0; j <= 16; ++j) {
    EXPECT_FLOAT_EQ(p.values(j), std::max(0.0f, -3.0f + 0.375f * j)) << j;
  }

  auto other = manager_->CreateSession(Principal::Anonymous(), request);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->id(), session->id());
}

TEST_F(SessionManagerTest, ChannelUnitHasOneInitialSetPerChannel) {
  v1::UnitConfig c = Channel("c", 3);
  c.set_channel_axis(-1);
  c.set_intervals(4);
  c.set_init_bound(2);
  const std::string id = Create({c});
  const v1::Unit unit = Get(id, "c");
  EXPECT_EQ(unit.config().channel_axis(), -1);
  EXPECT_EQ(unit.parameters().granularity(), v1::CHANNEL);
  EXPECT_EQ(unit.parameters().left_bound_size(), 3);
  EXPECT_EQ(unit.parameters().values_size(), 15);
  auto params =
      manager_->GetUnitParameters(Principal::Anonymous(), Ref(id, "c"));
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->granularity, v1::CHANNEL);
  EXPECT_EQ(params->channel_axis, -1);
  EXPECT_EQ(params->params.units(), 3);
  EXPECT_EQ(params->params.values,
            std::vector<float>(unit.parameters().values().begin(),
                               unit.parameters().values().end()));
}

TEST_F(SessionManagerTest, AliasIsStoredUnderCanonicalNameWithParams) {
  v1::UnitConfig c = Layer("s");
  c.set_init_activation("silu");
  const std::string id = Create({c});
  const v1::UnitConfig stored = Get(id, "s").config();
  EXPECT_EQ(stored.init_activation(), "swish");
  ASSERT_EQ(stored.init_params().count("beta"), 1u);
  EXPECT_EQ(stored.init_params().at("beta"), 1.0);
}

struct BadConfig {
  const char* what;
  std::function<void(v1::UnitConfig*)> edit;
  const char* message;
};

TEST_F(SessionManagerTest, InvalidConfigsNameTheFieldAndWriteNothing) {
  const BadConfig cases[] = {
      {"momentum", [](auto* c) { c->set_momentum(1.5); },
       "units[1].momentum: 1.5 is outside (0, 1)"},
      {"momentum 0", [](auto* c) { c->set_momentum(0); },
       "units[1].momentum: 0 is outside (0, 1)"},
      {"intervals", [](auto* c) { c->set_intervals(0); },
       "units[1].intervals: 0 is outside [1, 1024]"},
      {"intervals", [](auto* c) { c->set_intervals(1025); },
       "units[1].intervals: 1025 is outside [1, 1024]"},
      {"channels", [](auto* c) { c->set_granularity(v1::CHANNEL); },
       "units[1].channels: 0 is outside [1, 65536]"},
      {"granularity",
       [](auto* c) { c->set_granularity(static_cast<v1::Granularity>(7)); },
       "units[1].granularity: 7"},
      {"sigma", [](auto* c) { c->set_sigma_multiplier(0); },
       "units[1].sigma_multiplier: 0 must be finite and > 0"},
      {"init_bound", [](auto* c) { c->set_init_bound(-1); },
       "units[1].init_bound: -1 must be finite and > 0"},
      {"init_bound inf", [](auto* c) { c->set_init_bound(INFINITY); },
       "units[1].init_bound: inf must be finite and > 0"},
      {"min_width", [](auto* c) { c->set_min_width(0); },
       "units[1].min_width: 0 must be finite and > 0"},
      {"prelu", [](auto* c) { c->set_init_activation("prelu"); },
       "units[1].init_activation: prelu takes per-channel slopes"},
      {"unknown", [](auto* c) { c->set_init_activation("nope"); },
       "units[1].init_activation: unknown activation 'nope'"},
      {"param",
       [](auto* c) {
         c->set_init_activation("elu");
         (*c->mutable_init_params())["alpha"] = 1000;
       },
       "units[1].init_activation: parameter 'alpha'"},
      {"empty name", [](auto* c) { c->set_name(""); }, "units[1].name: "},
      {"long name", [](auto* c) { c->set_name(std::string(129, 'x')); },
       "units[1].name: "},
      {"unprintable", [](auto* c) { c->set_name("a\nb"); }, "units[1].name: "},
      {"duplicate", [](auto* c) { c->set_name("ok"); },
       "units[1].name: 'ok' duplicates units[0]"},
  };
  for (const BadConfig& bad : cases) {
    v1::CreateSessionRequest request;
    *request.add_units() = Layer("ok");
    v1::UnitConfig c = Layer("bad");
    bad.edit(&c);
    *request.add_units() = c;
    auto session = manager_->CreateSession(Principal::Anonymous(), request);
    EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument)
        << bad.what;
    EXPECT_THAT(session.status().message(), HasSubstr(bad.message)) << bad.what;
  }
  EXPECT_EQ(manager_->ListSessions(Principal::Anonymous())->sessions_size(), 0);
  Reopen();
  EXPECT_EQ(manager_->ListSessions(Principal::Anonymous())->sessions_size(), 0);
}

TEST_F(SessionManagerTest, UnknownSessionOrUnitIsNotFound) {
  const std::string id = Create({Layer("a")});
  const std::string before = Snapshot(id);
  const std::string no_session = "session 'abc' not found";
  const std::string no_unit =
      absl::StrCat("unit 'x' not found in session '", id, "'");
  auto expect = [](const absl::Status& s, const std::string& message) {
    EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
    EXPECT_EQ(s.message(), message);
  };
  expect(manager_->GetSession(Principal::Anonymous(), "abc").status(),
         no_session);
  expect(manager_->DeleteSession(Principal::Anonymous(), "abc"), no_session);
  expect(manager_->GetUnit(Principal::Anonymous(), Ref("abc", "a")).status(),
         no_session);
  expect(manager_->GetUnit(Principal::Anonymous(), Ref(id, "x")).status(),
         no_unit);
  expect(manager_->GetUnitParameters(Principal::Anonymous(), Ref(id, "x"))
             .status(),
         no_unit);
  expect(Observe("abc", "a", {2}, {1, 2}).status(), no_session);
  expect(Observe(id, "x", {2}, {1, 2}).status(), no_unit);
  v1::FitBoundariesRequest fit;
  fit.set_session_id(id);
  fit.set_unit("x");
  expect(manager_->FitBoundaries(Principal::Anonymous(), fit).status(),
         no_unit);
  fit.set_session_id("abc");
  expect(manager_->FitBoundaries(Principal::Anonymous(), fit).status(),
         no_session);
  v1::AddUnitRequest add;
  add.set_session_id("abc");
  *add.mutable_unit() = Layer("b");
  expect(manager_->AddUnit(Principal::Anonymous(), add).status(), no_session);
  v1::SampleCurveRequest curve;
  *curve.mutable_unit() = Ref(id, "x");
  expect(manager_->SampleCurve(Principal::Anonymous(), curve).status(),
         no_unit);
  expect(manager_->ExportUnit(Principal::Anonymous(), Ref(id, "x")).status(),
         no_unit);
  auto exported = manager_->ExportUnit(Principal::Anonymous(), Ref(id, "a"));
  ASSERT_TRUE(exported.ok());
  v1::ImportUnitRequest import;
  import.set_session_id("abc");
  *import.mutable_export_() = *exported;
  expect(manager_->ImportUnit(Principal::Anonymous(), import).status(),
         no_session);
  EXPECT_EQ(Snapshot(id), before);
}

// A session belongs to its creator: to any other principal but an admin,
// every call on it fails exactly as on a session that does not exist, and
// changes nothing; ListSessions shows each principal its own.
TEST_F(SessionManagerTest, SessionsAreSeenOnlyByTheirOwnerAndAdmins) {
  const Principal alice{"alice", false};
  const Principal bob{"bob", false};
  const Principal root{"root", true};
  v1::CreateSessionRequest create;
  *create.add_units() = Layer("a");
  auto created = manager_->CreateSession(alice, create);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->owner(), "alice");
  const std::string id = created->id();
  auto bobs = manager_->CreateSession(bob, create);
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  const std::string before = Snapshot(id);

  // Bob's view of alice's session and of one that does not exist.
  for (const std::string& target : {id, std::string("no-such-session")}) {
    SCOPED_TRACE(target);
    const std::string hidden = absl::StrCat("session '", target, "' not found");
    auto expect = [&](const absl::Status& s) {
      EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
      EXPECT_EQ(s.message(), hidden);
    };
    expect(manager_->GetSession(bob, target).status());
    expect(manager_->DeleteSession(bob, target));
    v1::AddUnitRequest add;
    add.set_session_id(target);
    *add.mutable_unit() = Layer("b");
    expect(manager_->AddUnit(bob, add).status());
    const std::vector<float> x = {1, 2};
    std::vector<float> y(2);
    expect(
        manager_->Observe(bob, Ref(target, "a"), {{2}, x.data(), 2}, y.data())
            .status());
    expect(
        manager_->BeginObserveStream(bob, Ref(target, "a"), {{2}, x.data(), 2})
            .status());
    v1::FitBoundariesRequest fit_boundaries;
    fit_boundaries.set_session_id(target);
    expect(manager_->FitBoundaries(bob, fit_boundaries).status());
    expect(manager_->GetUnit(bob, Ref(target, "a")).status());
    expect(manager_->GetUnit(bob, Ref(target, "zz")).status());
    expect(manager_->GetUnitParameters(bob, Ref(target, "a")).status());
    v1::SampleCurveRequest curve;
    *curve.mutable_unit() = Ref(target, "a");
    expect(manager_->SampleCurve(bob, curve).status());
    expect(manager_->ExportUnit(bob, Ref(target, "a")).status());
    v1::ImportUnitRequest import;
    import.set_session_id(target);
    *import.mutable_export_() = *manager_->ExportUnit(alice, Ref(id, "a"));
    import.set_unit("c");
    expect(manager_->ImportUnit(bob, import).status());
    v1::TrainStepRequest step;
    *step.mutable_unit() = Ref(target, "a");
    expect(manager_->TrainStep(bob, step, nullptr));
    v1::FitRequest fit;
    *fit.mutable_unit() = Ref(target, "a");
    expect(manager_
               ->Fit(
                   bob, fit, [] { return false; },
                   [](const v1::FitProgress&) { return true; })
               .status());
    v1::ListRunsRequest runs;
    runs.set_session_id(target);
    expect(manager_->ListRuns(bob, runs).status());
    v1::GetRunRequest run;
    run.set_session_id(target);
    run.set_run_id("run-000001");
    expect(manager_->GetRun(bob, run).status());
  }
  EXPECT_EQ(Snapshot(id), before);

  auto listed = [&](const Principal& caller) {
    std::vector<std::string> ids;
    auto list = manager_->ListSessions(caller);
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const v1::Session& s : list->sessions()) ids.push_back(s.id());
    }
    return ids;
  };
  EXPECT_THAT(listed(alice), ::testing::ElementsAre(id));
  EXPECT_THAT(listed(bob), ::testing::ElementsAre(bobs->id()));
  EXPECT_THAT(listed(root), ::testing::ElementsAre(id, bobs->id()));
  EXPECT_THAT(listed(Principal::Anonymous()),
              ::testing::ElementsAre(id, bobs->id()));
  EXPECT_EQ(manager_->ListSessions(root)->sessions(0).owner(), "alice");

  // The owner and admins act on it; the owner survives a restart.
  EXPECT_TRUE(manager_->GetUnit(root, Ref(id, "a")).ok());
  EXPECT_TRUE(manager_->GetUnit(alice, Ref(id, "a")).ok());
  Reopen();
  EXPECT_EQ(manager_->GetSession(alice, id)->session().owner(), "alice");
  EXPECT_TRUE(manager_->DeleteSession(root, id).ok());
  EXPECT_EQ(manager_->GetSession(alice, id).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SessionManagerTest, AddUnitAppendsAndRefusesDuplicates) {
  const std::string id = Create({Layer("a")});
  v1::AddUnitRequest add;
  add.set_session_id(id);
  *add.mutable_unit() = Channel("b", 2);
  auto unit = manager_->AddUnit(Principal::Anonymous(), add);
  ASSERT_TRUE(unit.ok()) << unit.status();
  EXPECT_EQ(unit->config().channels(), 2);
  EXPECT_EQ(unit->version(), 1);

  const std::string before = Snapshot(id);
  *add.mutable_unit() = Layer("a");
  auto dup = manager_->AddUnit(Principal::Anonymous(), add);
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.status().message(),
            absl::StrCat("unit 'a' already exists in session '", id, "'"));
  add.mutable_unit()->set_momentum(2);
  EXPECT_EQ(manager_->AddUnit(Principal::Anonymous(), add).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Snapshot(id), before);

  auto session = manager_->GetSession(Principal::Anonymous(), id);
  ASSERT_TRUE(session.ok());
  EXPECT_THAT(session->session().unit_names(),
              ::testing::ElementsAre("a", "b"));
}

TEST_F(SessionManagerTest, DeleteSessionIsDurable) {
  const std::string keep = Create({Layer("a")});
  const std::string gone = Create({Layer("a")});
  ASSERT_TRUE(manager_->DeleteSession(Principal::Anonymous(), gone).ok());
  EXPECT_EQ(manager_->GetSession(Principal::Anonymous(), gone).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->DeleteSession(Principal::Anonymous(), gone).code(),
            absl::StatusCode::kNotFound);
  Reopen();
  EXPECT_EQ(manager_->GetSession(Principal::Anonymous(), gone).status().code(),
            absl::StatusCode::kNotFound);
  auto list = manager_->ListSessions(Principal::Anonymous());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->sessions_size(), 1);
  EXPECT_EQ(list->sessions(0).id(), keep);
}

TEST_F(SessionManagerTest, ObserveOutputIsTheExactInitialShape) {
  v1::UnitConfig c = Layer("g");
  c.set_init_activation("gelu");
  const std::string id = Create({c});
  const std::vector<float> x = Ramp(1000, -5, 0.01f);
  std::vector<float> y(x.size()), expected(x.size());
  TensorView view{{10, 100}, x.data(), 1000};
  auto stats =
      manager_->Observe(Principal::Anonymous(), Ref(id, "g"), view, y.data());
  ASSERT_TRUE(stats.ok()) << stats.status();
  auto gelu = engine_.Resolve("gelu", {});
  ASSERT_TRUE(gelu.ok());
  ASSERT_TRUE(engine_.Forward(*gelu, {1000}, x.data(), expected.data()).ok());
  EXPECT_EQ(y, expected);
  EXPECT_EQ(stats->batches(), 1);
}

TEST_F(SessionManagerTest, ObserveErrorsLeaveStateUnchanged) {
  v1::UnitConfig fixed = Layer("fixed");
  fixed.set_fixed_bounds(true);
  const std::string id = Create({Channel("c", 4), fixed});
  ASSERT_TRUE(Observe(id, "c", {2, 4}, Ramp(8, 0, 1)).ok());
  const std::string before = Snapshot(id);

  auto s = Observe(id, "fixed", {2}, {1, 2}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("phase TRAINING"));
  EXPECT_THAT(s.message(), HasSubstr("Evaluate serves phase II"));

  s = Observe(id, "c", {2, 3}, Ramp(6, 0, 1)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("has 3 channels along axis 1"));
  EXPECT_THAT(s.message(), HasSubstr("has 4"));

  std::vector<float> x = Ramp(8, 0, 1);
  x[5] = NAN;
  s = Observe(id, "c", {2, 4}, x).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input: element 5 is nan"));
  x[5] = -INFINITY;
  s = Observe(id, "c", {2, 4}, x).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);

  s = Observe(id, "c", {0, 4}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Snapshot(id), before);
}

TEST_F(SessionManagerTest, RestartRestoresEverySessionIdentically) {
  v1::UnitConfig g = Channel("g", 3);
  g.set_init_activation("gelu");
  g.set_channel_axis(-1);
  v1::UnitConfig fixed = Layer("fixed");
  fixed.set_fixed_bounds(true);
  const std::string a = Create({Layer("l"), g, fixed});
  const std::string b = Create({Layer("only")});
  ASSERT_TRUE(Observe(a, "l", {4}, {1, 2, 3, 4}).ok());
  ASSERT_TRUE(Observe(a, "g", {2, 3}, Ramp(6, -1, 0.5f)).ok());
  ASSERT_TRUE(Observe(a, "g", {2, 3}, Ramp(6, -2, 0.75f)).ok());
  v1::FitBoundariesRequest fit;
  fit.set_session_id(a);
  fit.set_unit("l");
  ASSERT_TRUE(manager_->FitBoundaries(Principal::Anonymous(), fit).ok());
  v1::AddUnitRequest add;
  add.set_session_id(b);
  *add.mutable_unit() = Channel("added", 2);
  ASSERT_TRUE(manager_->AddUnit(Principal::Anonymous(), add).ok());

  const std::string list =
      manager_->ListSessions(Principal::Anonymous())->SerializeAsString();
  const std::string snap_a = Snapshot(a), snap_b = Snapshot(b);
  Reopen();
  EXPECT_EQ(manager_->ListSessions(Principal::Anonymous())->SerializeAsString(),
            list);
  EXPECT_EQ(Snapshot(a), snap_a);
  EXPECT_EQ(Snapshot(b), snap_b);
  // Still usable after the restart, continuing where it stopped.
  auto stats = Observe(a, "g", {1, 3}, {1, 2, 3});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->batches(), 3);
  EXPECT_EQ(Get(a, "g").version(), 4);
}

TEST_F(SessionManagerTest, SampleCurveDefaultGridFollowsTheShape) {
  const std::string id = Create({Layer("r")});
  v1::SampleCurveRequest request;
  *request.mutable_unit() = Ref(id, "r");
  auto curve = manager_->SampleCurve(Principal::Anonymous(), request);
  ASSERT_TRUE(curve.ok()) << curve.status();
  ASSERT_EQ(curve->x_size(), 256);
  EXPECT_FLOAT_EQ(curve->x(0), -4.5f);  // [-3, 3] widened by 6 / 4
  EXPECT_FLOAT_EQ(curve->x(255), 4.5f);
  ASSERT_EQ(curve->curves_size(), 1);
  EXPECT_EQ(curve->curves(0).left_bound(), -3.0f);
  EXPECT_EQ(curve->curves(0).right_bound(), 3.0f);
  for (int i = 0; i < 256; ++i) {
    // A breakpoint sits on 0, so the PWLU of relu is relu everywhere.
    EXPECT_NEAR(curve->curves(0).y(i), std::max(0.0f, curve->x(i)), 1e-6);
  }
}

TEST_F(SessionManagerTest, SampleCurveSelectsChannelsAndValidates) {
  const std::string id = Create({Channel("c", 3)});
  ASSERT_TRUE(Observe(id, "c", {2, 3}, {0, 10, -4, 2, 14, -2}).ok());
  v1::FitBoundariesRequest fit;
  fit.set_session_id(id);
  ASSERT_TRUE(manager_->FitBoundaries(Principal::Anonymous(), fit).ok());
  const v1::Unit unit = Get(id, "c");

  v1::SampleCurveRequest request;
  *request.mutable_unit() = Ref(id, "c");
  request.add_channels(2);
  request.add_channels(0);
  request.set_points(11);
  auto curve = manager_->SampleCurve(Principal::Anonymous(), request);
  ASSERT_TRUE(curve.ok()) << curve.status();
  ASSERT_EQ(curve->curves_size(), 2);
  EXPECT_EQ(curve->curves(0).channel(), 2);
  EXPECT_EQ(curve->curves(1).channel(), 0);
  // Channel 0: mean 1, std 1 -> [-2, 4]; channel 2: mean -3, std 1 -> [-6, 0].
  EXPECT_EQ(curve->curves(1).left_bound(), unit.parameters().left_bound(0));
  const double lo = -6, hi = 4, margin = 2.5;
  EXPECT_FLOAT_EQ(curve->x(0), lo - margin);
  EXPECT_FLOAT_EQ(curve->x(10), hi + margin);
  // Outside [B_L, B_R] the tails of relu: 0 on the left, x on the right.
  EXPECT_FLOAT_EQ(curve->curves(1).y(0), 0);
  EXPECT_NEAR(curve->curves(1).y(10), hi + margin, 1e-5);

  request.set_x_min(1);
  request.set_x_max(2);
  curve = manager_->SampleCurve(Principal::Anonymous(), request);
  ASSERT_TRUE(curve.ok());
  EXPECT_EQ(curve->x(0), 1.0f);
  EXPECT_EQ(curve->x(10), 2.0f);

  request.set_x_min(3);
  EXPECT_EQ(
      manager_->SampleCurve(Principal::Anonymous(), request).status().code(),
      absl::StatusCode::kInvalidArgument);
  request.clear_x_min();
  request.clear_x_max();
  request.set_points(1);
  EXPECT_THAT(
      manager_->SampleCurve(Principal::Anonymous(), request).status().message(),
      HasSubstr("points: 1 is outside [2, 100000]"));
  request.set_points(100001);
  EXPECT_EQ(
      manager_->SampleCurve(Principal::Anonymous(), request).status().code(),
      absl::StatusCode::kInvalidArgument);
  request.set_points(5);
  request.add_channels(3);
  auto bad = manager_->SampleCurve(Principal::Anonymous(), request);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("channels[2]: 3 is outside"));
}

TEST_F(SessionManagerTest, ExportImportRoundTripGivesIdenticalParameters) {
  v1::UnitConfig c = Channel("c", 2);
  c.set_init_activation("swish");
  (*c.mutable_init_params())["beta"] = 1.5;
  const std::string from = Create({c});
  ASSERT_TRUE(Observe(from, "c", {3, 2}, {0, 1, 2, 5, -1, 9}).ok());
  v1::FitBoundariesRequest fit;
  fit.set_session_id(from);
  ASSERT_TRUE(manager_->FitBoundaries(Principal::Anonymous(), fit).ok());
  auto exported = manager_->ExportUnit(Principal::Anonymous(), Ref(from, "c"));
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(exported->format_version(), 1);

  const std::string to = Create({Layer("c")});
  v1::ImportUnitRequest request;
  request.set_session_id(to);
  *request.mutable_export_() = *exported;
  request.set_unit("copy");
  auto imported = manager_->ImportUnit(Principal::Anonymous(), request);
  ASSERT_TRUE(imported.ok()) << imported.status();
  const v1::Unit source = Get(from, "c");
  EXPECT_TRUE(
      MessageDifferencer::Equals(imported->parameters(), source.parameters()));
  EXPECT_TRUE(MessageDifferencer::Equals(imported->stats(), source.stats()));
  EXPECT_EQ(imported->phase(), v1::TRAINING);
  EXPECT_EQ(imported->config().name(), "copy");
  EXPECT_EQ(imported->version(), 1);

  // The exported name clashes with "c" in the target session.
  request.clear_unit();
  const std::string before = Snapshot(to);
  auto clash = manager_->ImportUnit(Principal::Anonymous(), request);
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Snapshot(to), before);
  request.set_replace(true);
  auto replaced = manager_->ImportUnit(Principal::Anonymous(), request);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_EQ(replaced->version(), 2);
  EXPECT_EQ(replaced->config().granularity(), v1::CHANNEL);
  auto session = manager_->GetSession(Principal::Anonymous(), to);
  ASSERT_TRUE(session.ok());
  EXPECT_THAT(session->session().unit_names(),
              ::testing::ElementsAre("c", "copy"));
  Reopen();
  EXPECT_TRUE(MessageDifferencer::Equals(Get(to, "c").parameters(),
                                         source.parameters()));
}

TEST_F(SessionManagerTest, ImportValidatesEverything) {
  const std::string from = Create({Channel("c", 2)});
  ASSERT_TRUE(Observe(from, "c", {1, 2}, {1, 2}).ok());
  auto good = manager_->ExportUnit(Principal::Anonymous(), Ref(from, "c"));
  ASSERT_TRUE(good.ok());
  const std::string to = Create({});
  const std::string before = Snapshot(to);

  struct Case {
    const char* what;
    std::function<void(v1::UnitExport*)> edit;
    const char* message;
  };
  const Case cases[] = {
      {"version", [](auto* e) { e->set_format_version(2); },
       "export.format_version: 2 is not supported"},
      {"config", [](auto* e) { e->mutable_config()->set_momentum(1); },
       "export.config.momentum"},
      {"phase", [](auto* e) { e->set_phase(v1::PHASE_UNSPECIFIED); },
       "export.phase"},
      {"fixed", [](auto* e) { e->mutable_config()->set_fixed_bounds(true); },
       "export.phase: STATISTICS contradicts"},
      {"bounds",
       [](auto* e) { e->mutable_parameters()->set_left_bound(1, 1e9f); },
       "export.parameters"},
      {"lengths",
       [](auto* e) { e->mutable_parameters()->mutable_values()->RemoveLast(); },
       "export.parameters"},
      {"units", [](auto* e) { e->mutable_config()->set_channels(3); },
       "export.parameters.left_bound: 2 units, but the config has 3"},
      {"intervals", [](auto* e) { e->mutable_parameters()->set_intervals(8); },
       "export.parameters.intervals"},
      {"nan slope",
       [](auto* e) { e->mutable_parameters()->set_right_slope(0, NAN); },
       "export.parameters"},
      {"stats size",
       [](auto* e) { e->mutable_stats()->mutable_mean()->RemoveLast(); },
       "export.stats"},
      {"stats std", [](auto* e) { e->mutable_stats()->set_std(0, -1); },
       "export.stats.std[0]"},
  };
  for (const Case& c : cases) {
    v1::ImportUnitRequest request;
    request.set_session_id(to);
    *request.mutable_export_() = *good;
    c.edit(request.mutable_export_());
    auto result = manager_->ImportUnit(Principal::Anonymous(), request);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << c.what;
    EXPECT_THAT(result.status().message(), HasSubstr(c.message)) << c.what;
  }
  EXPECT_EQ(Snapshot(to), before);
}

TEST_F(SessionManagerTest, OpenRefusesLimitsOutOfRange) {
  struct Case {
    SessionOptions options;
    const char* message;
  };
  SessionOptions no_sessions, no_units, short_ttl;
  no_sessions.max_sessions = 0;
  no_units.max_units_per_session = 0;
  short_ttl.session_ttl = absl::Seconds(1);
  for (const Case& c : {Case{no_sessions, "max_sessions: 0 must be"},
                        Case{no_units, "max_units_per_session: 0 must be"},
                        Case{short_ttl,
                             "session_ttl: 1s must be 0 (off) or "
                             "at least 2s"}}) {
    auto store = SqliteStore::Open(DbPath());
    ASSERT_TRUE(store.ok());
    auto manager = SessionManager::Open(*std::move(store), &engine_, c.options);
    EXPECT_EQ(manager.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(manager.status().message(), HasSubstr(c.message));
  }
}

TEST_F(SessionManagerTest, MaxSessionsRefusesOneMoreUntilOneIsDeleted) {
  SessionOptions options;
  options.max_sessions = 2;
  Reopen(options);
  const std::string first = Create({Layer("a")});
  Create({});
  v1::CreateSessionRequest request;
  request.set_display_name("third");
  auto refused = manager_->CreateSession(Principal::Anonymous(), request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("max_sessions (2) reached"));
  EXPECT_EQ(manager_->ListSessions(Principal::Anonymous())->sessions_size(), 2);
  ASSERT_TRUE(manager_->DeleteSession(Principal::Anonymous(), first).ok());
  EXPECT_TRUE(manager_->CreateSession(Principal::Anonymous(), request).ok());
}

TEST_F(SessionManagerTest, MaxUnitsPerSessionOnCreateAddAndImport) {
  SessionOptions options;
  options.max_units_per_session = 2;
  Reopen(options);
  v1::CreateSessionRequest create;
  for (const char* name : {"a", "b", "c"}) *create.add_units() = Layer(name);
  auto refused = manager_->CreateSession(Principal::Anonymous(), create);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "units: 3 units exceed max_units_per_session (2)");
  EXPECT_EQ(manager_->ListSessions(Principal::Anonymous())->sessions_size(), 0);

  const std::string id = Create({Layer("a")});
  v1::AddUnitRequest add;
  add.set_session_id(id);
  *add.mutable_unit() = Layer("b");
  ASSERT_TRUE(manager_->AddUnit(Principal::Anonymous(), add).ok());
  const std::string full = Snapshot(id);
  *add.mutable_unit() = Layer("c");
  auto added = manager_->AddUnit(Principal::Anonymous(), add);
  EXPECT_EQ(added.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(added.status().message(),
            absl::StrCat("session '", id,
                         "' holds max_units_per_session (2) units; create "
                         "another session"));

  auto exported = manager_->ExportUnit(Principal::Anonymous(), Ref(id, "a"));
  ASSERT_TRUE(exported.ok());
  v1::ImportUnitRequest import;
  import.set_session_id(id);
  *import.mutable_export_() = *exported;
  import.set_unit("c");
  EXPECT_EQ(
      manager_->ImportUnit(Principal::Anonymous(), import).status().code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Snapshot(id), full);
  // Replacing a unit adds none, so a full session takes it.
  import.set_unit("b");
  import.set_replace(true);
  EXPECT_TRUE(manager_->ImportUnit(Principal::Anonymous(), import).ok());
}

// Sets a session's stored update_time from another connection, as if
// nothing had changed it since `when`.
void Backdate(const std::string& db, const std::string& session,
              absl::Time when) {
  auto store = SqliteStore::Open(db);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)
                  ->Update(session,
                           [when](SessionTransaction& txn) {
                             return txn.SetUpdateTime(when);
                           })
                  .ok());
}

TEST_F(SessionManagerTest, ExpireIdleSessionsDeletesOnlyUnchangedOnes) {
  SessionOptions options;
  options.session_ttl = absl::Minutes(10);
  Reopen(options);
  const std::string fresh = Create({Layer("a")});
  const std::string read = Create({Layer("a")});
  const std::string observed = Create({Layer("a")});
  const absl::Time long_ago =
      absl::Now() - absl::Minutes(11) - kTouchResolution;
  for (const std::string& id : {read, observed})
    Backdate(DbPath(), id, long_ago);
  // A read does not count as activity; an Observe does.
  ASSERT_TRUE(manager_->GetSession(Principal::Anonymous(), read).ok());
  ASSERT_TRUE(manager_->GetUnit(Principal::Anonymous(), Ref(read, "a")).ok());
  ASSERT_TRUE(Observe(observed, "a", {2}, {1, -1}).ok());

  auto expired = manager_->ExpireIdleSessions();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1);
  EXPECT_EQ(manager_->GetSession(Principal::Anonymous(), read).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(manager_->GetSession(Principal::Anonymous(), fresh).ok());
  EXPECT_TRUE(manager_->GetSession(Principal::Anonymous(), observed).ok());
}

TEST_F(SessionManagerTest, WithoutTtlNothingExpires) {
  const std::string id = Create({Layer("a")});
  Backdate(DbPath(), id, absl::UnixEpoch());
  auto expired = manager_->ExpireIdleSessions();
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(*expired, 0);
  EXPECT_TRUE(manager_->GetSession(Principal::Anonymous(), id).ok());
}

}  // namespace
}  // namespace actlab
