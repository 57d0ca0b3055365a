// Copyright actlab authors.

#include "server/session/session_manager.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/message_differencer.h"
#include "kernels/channel_layout.h"
#include "kernels/optimizer.h"
#include "kernels/running_moments.h"
#include "server/pwlu_codec.h"
#include "server/session/initial_shape.h"
#include "server/session/realignment.h"
#include "server/session/session_id.h"
#include "server/session/trainer.h"
#include "server/session/training_settings.h"
#include "server/session/unit_config.h"
#include "server/session/unit_parameters.h"
#include "server/session/unit_record.pb.h"

namespace actlab {
namespace session_internal {

// The configuration and resolved shape never change for the life of a
// UnitState (an import that replaces a unit installs a new UnitState), so
// they are read without the unit's mutex.
struct UnitState {
  UnitState(ValidatedUnitConfig validated, int64_t position,
            session::UnitRecord initial)
      : config(std::move(validated.config)),
        shape(std::move(validated.shape)),
        position(position),
        record(std::move(initial)) {}

  const v1::UnitConfig config;
  const ResolvedActivation shape;
  const int64_t position;

  absl::Mutex mu;
  session::UnitRecord record ABSL_GUARDED_BY(mu);
  // The unit's TRAIN_STEPS run while it is open, as stored.
  std::optional<session::RunRecord> open_run ABSL_GUARDED_BY(mu);
};

struct SessionState {
  SessionState(std::string id, std::string display_name, absl::Time created)
      : id(std::move(id)),
        display_name(std::move(display_name)),
        create_time(created),
        update_time(created) {}

  const std::string id;
  const std::string display_name;
  const absl::Time create_time;

  // Shared by calls on one unit, exclusive for membership changes and
  // FitBoundaries over all units.
  absl::Mutex mu;
  // Set by DeleteSession; callers that found the session before the delete
  // see it here and answer NotFound.
  bool deleted ABSL_GUARDED_BY(mu) = false;
  // Last change to the set of units; Session.update_time also counts unit
  // updates, which do not rewrite the session's row.
  absl::Time update_time ABSL_GUARDED_BY(mu);
  int64_t next_position ABSL_GUARDED_BY(mu) = 0;
  // Run sequence numbers are drawn under the shared lock (TrainStep, Fit).
  // A failed commit leaves a gap, so ids increase but need not be dense.
  std::atomic<int64_t> last_run_sequence{0};
  absl::flat_hash_map<std::string, std::unique_ptr<UnitState>> units
      ABSL_GUARDED_BY(mu);
};

}  // namespace session_internal

namespace {

using session_internal::SessionState;
using session_internal::UnitState;

std::string Quote(absl::string_view s) {
  return absl::StrCat("'", absl::CHexEscape(s), "'");
}

absl::Status SessionNotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("session ", Quote(id), " not found"));
}

absl::Status UnitNotFound(absl::string_view unit, absl::string_view session) {
  return absl::NotFoundError(absl::StrCat(
      "unit ", Quote(unit), " not found in session ", Quote(session)));
}

std::string UnitLabel(absl::string_view unit, absl::string_view session) {
  return absl::StrCat("unit ", Quote(unit), " in session ", Quote(session));
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

UnitRow MakeRow(const session::UnitRecord& record, int64_t position) {
  UnitRow row;
  row.name = record.unit().config().name();
  row.position = position;
  row.version = record.unit().version();
  row.state = record.SerializeAsString();
  return row;
}

// Prefixes InvalidArgument messages with `field`; other codes (engine
// failures) pass through unchanged.
absl::Status WithField(const absl::Status& s, absl::string_view field) {
  if (s.code() != absl::StatusCode::kInvalidArgument) return s;
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", s.message()));
}

// A unit fresh from its config: the initial shape on
// [-init_bound, init_bound] for every channel.
absl::StatusOr<session::UnitRecord> NewUnitRecord(
    BaselineEngine& engine, const ValidatedUnitConfig& validated,
    absl::Time now, absl::string_view field) {
  const v1::UnitConfig& config = validated.config;
  const float bound = static_cast<float>(config.init_bound());
  absl::StatusOr<PwluParams> params =
      InitialShapeParams(engine, validated.shape, config.intervals(),
                         std::vector<float>(config.channels(), -bound),
                         std::vector<float>(config.channels(), bound));
  if (!params.ok()) {
    return WithField(params.status(),
                     absl::StrCat(field, ": initial parameters"));
  }
  session::UnitRecord record;
  v1::Unit& unit = *record.mutable_unit();
  *unit.mutable_config() = config;
  unit.set_phase(config.fixed_bounds() ? v1::TRAINING : v1::STATISTICS);
  unit.mutable_stats();
  EncodePwluParams(*params, config.granularity(), unit.mutable_parameters());
  SetTimestamp(now, unit.mutable_create_time());
  SetTimestamp(now, unit.mutable_update_time());
  unit.set_version(1);
  return record;
}

// Marks `unit` changed at `now`.
void Touch(absl::Time now, v1::Unit* unit) {
  SetTimestamp(now, unit->mutable_update_time());
  unit->set_version(unit->version() + 1);
}

std::vector<UnitState*> OrderedUnits(const SessionState& session)
    ABSL_SHARED_LOCKS_REQUIRED(session.mu) {
  std::vector<UnitState*> units;
  units.reserve(session.units.size());
  for (const auto& [name, unit] : session.units) units.push_back(unit.get());
  std::sort(units.begin(), units.end(), [](UnitState* a, UnitState* b) {
    return a->position < b->position;
  });
  return units;
}

UnitState* FindUnit(const SessionState& session, absl::string_view name)
    ABSL_SHARED_LOCKS_REQUIRED(session.mu) {
  auto it = session.units.find(name);
  return it == session.units.end() ? nullptr : it->second.get();
}

v1::Session SessionProto(const SessionState& session)
    ABSL_SHARED_LOCKS_REQUIRED(session.mu) {
  v1::Session out;
  out.set_id(session.id);
  out.set_display_name(session.display_name);
  absl::Time updated = session.update_time;
  for (UnitState* unit : OrderedUnits(session)) {
    out.add_unit_names(unit->config.name());
    absl::ReaderMutexLock lock(&unit->mu);
    updated =
        std::max(updated, FromTimestamp(unit->record.unit().update_time()));
  }
  SetTimestamp(session.create_time, out.mutable_create_time());
  SetTimestamp(updated, out.mutable_update_time());
  return out;
}

absl::Status CheckPhase(const v1::Unit& unit, absl::string_view label) {
  if (unit.phase() == v1::STATISTICS) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      label, " is in phase ", v1::Phase_Name(unit.phase()),
      "; Observe gathers statistics only in phase STATISTICS (Evaluate "
      "serves phase II)"));
}

absl::Status CheckTrainingPhase(const v1::Unit& unit, absl::string_view label) {
  if (unit.phase() == v1::TRAINING) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(label, " is in phase ", v1::Phase_Name(unit.phase()),
                   "; call FitBoundaries first"));
}

RunRow MakeRunRow(const session::RunRecord& record) {
  RunRow row;
  row.id = record.run().id();
  row.sequence = record.sequence();
  row.unit = record.run().unit();
  row.running = record.run().state() == v1::Run::RUNNING;
  row.record = record.SerializeAsString();
  return row;
}

absl::StatusOr<session::RunRecord> ParseRun(const RunRow& row,
                                            absl::string_view session) {
  session::RunRecord record;
  if (!record.ParseFromString(row.record)) {
    return absl::InternalError(
        absl::StrCat("session store: run ", Quote(row.id), " in session ",
                     Quote(session), " has a corrupt record"));
  }
  return record;
}

// A RUNNING run with the next id of `session`, started at `now`.
session::RunRecord NewRun(SessionState& session, absl::string_view unit,
                          v1::Run::Kind kind,
                          const v1::OptimizerSettings& optimizer,
                          const v1::TrainableParameters& trainable,
                          absl::Time now) {
  session::RunRecord record;
  record.set_sequence(session.last_run_sequence.fetch_add(1) + 1);
  v1::Run& run = *record.mutable_run();
  run.set_id(RunId(record.sequence()));
  run.set_session_id(session.id);
  run.set_unit(std::string(unit));
  run.set_kind(kind);
  run.set_state(v1::Run::RUNNING);
  *run.mutable_optimizer() = optimizer;
  *run.mutable_trainable() = trainable;
  SetTimestamp(now, run.mutable_start_time());
  return record;
}

void EndRun(v1::Run::State state, absl::string_view message, absl::Time now,
            session::RunRecord* record) {
  v1::Run& run = *record->mutable_run();
  run.set_state(state);
  run.set_message(std::string(message));
  SetTimestamp(now, run.mutable_end_time());
}

// The layout the unit sees `shape` with: the whole tensor for LAYER, the
// configured (or default) channel axis for CHANNEL.
absl::StatusOr<ChannelLayout> UnitLayout(const v1::UnitConfig& config,
                                         const TensorView& input,
                                         absl::string_view label) {
  if (config.granularity() != v1::CHANNEL) return FlatLayout(input.elements);
  const int axis =
      config.has_channel_axis()
          ? config.channel_axis()
          : DefaultChannelAxis(static_cast<int>(input.shape.size()));
  absl::StatusOr<ChannelLayout> layout = MakeChannelLayout(input.shape, axis);
  if (!layout.ok()) return WithField(layout.status(), "input");
  if (layout->channels != config.channels()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input: shape ", ShapeString(input.shape), " has ",
                     layout->channels, " channels along axis ", axis, ", but ",
                     label, " has ", config.channels()));
  }
  return layout;
}

// Phase II parameters for one unit, or why it cannot be fitted.
absl::StatusOr<v1::PwluParameters> FitUnit(BaselineEngine& engine,
                                           const UnitState& unit,
                                           const v1::Unit& state,
                                           std::optional<double> multiplier,
                                           absl::string_view label) {
  if (state.stats().batches() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(label,
                     " has no batches observed; Observe it before "
                     "FitBoundaries"));
  }
  absl::StatusOr<FittedBounds> bounds = FitBounds(
      state.stats(), multiplier.value_or(unit.config.sigma_multiplier()),
      unit.config.min_width());
  if (!bounds.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, ": ", bounds.status().message()));
  }
  absl::StatusOr<PwluParams> params =
      InitialShapeParams(engine, unit.shape, unit.config.intervals(),
                         std::move(bounds->left), std::move(bounds->right));
  if (!params.ok()) {
    if (params.status().code() != absl::StatusCode::kInvalidArgument) {
      return params.status();
    }
    return absl::FailedPreconditionError(
        absl::StrCat(label,
                     ": the initial shape on the fitted boundaries is "
                     "not a valid PWLU: ",
                     params.status().message()));
  }
  v1::PwluParameters out;
  EncodePwluParams(*params, unit.config.granularity(), &out);
  return out;
}

v1::FittedBoundaries FittedProto(const v1::Unit& unit) {
  v1::FittedBoundaries out;
  out.set_unit(unit.config().name());
  *out.mutable_left_bound() = unit.parameters().left_bound();
  *out.mutable_right_bound() = unit.parameters().right_bound();
  return out;
}

absl::Status ValidateStats(const v1::RunningStats& stats, int channels,
                           absl::string_view field) {
  if (stats.batches() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".batches: ", stats.batches(), " is negative"));
  }
  const int expected = stats.batches() == 0 ? 0 : channels;
  if (stats.mean_size() != expected || stats.std_size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": mean and std have ", stats.mean_size(), " and ",
                     stats.std_size(), " entries; ", stats.batches(),
                     " batches of a unit "
                     "with ",
                     channels, " channels need ", expected));
  }
  for (int u = 0; u < expected; ++u) {
    if (!std::isfinite(stats.mean(u))) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".mean[", u, "]: ", stats.mean(u), " is not finite"));
    }
    if (!std::isfinite(stats.std(u)) || stats.std(u) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".std[", u, "]: ", stats.std(u),
                       " is not a finite value >= 0"));
    }
  }
  return absl::OkStatus();
}

// A Fit's checkpoint: when the unit is still at *version, writes the
// trainer's parameters and the `new_steps` completed since the last
// checkpoint into it, and `run`, in one transaction, then advances
// *version. When another call changed the unit, ends `run` FAILED, writes
// only the run and returns Aborted (see the optimistic scheme in the
// header).
absl::Status CommitFit(SessionStore& store, SessionState& s,
                       absl::string_view unit_name, const PwluParams& params,
                       int64_t new_steps, session::RunRecord* run,
                       int64_t* version) {
  absl::ReaderMutexLock session_lock(&s.mu);
  if (s.deleted) return SessionNotFound(s.id);
  // Units are never removed, only replaced, so the name still resolves.
  UnitState* unit = FindUnit(s, unit_name);
  absl::MutexLock lock(&unit->mu);
  const absl::Time now = absl::Now();
  if (unit->record.unit().version() != *version) {
    // The run keeps what reached the unit, and no summary of the rest.
    const int64_t committed = run->run().steps() - new_steps;
    run->mutable_run()->set_steps(committed);
    run->mutable_run()->clear_summary();
    EndRun(v1::Run::FAILED, "unit changed during Fit", now, run);
    absl::Status status = store.Put(s.id, {}, {MakeRunRow(*run)}, std::nullopt);
    if (!status.ok()) return status;
    return absl::AbortedError(absl::StrCat(
        UnitLabel(unit_name, s.id),
        " changed during Fit (by a TrainStep, another Fit or an import); "
        "the Fit stopped and its steps after step ",
        committed, " were dropped"));
  }
  if (new_steps == 0) {
    return store.Put(s.id, {}, {MakeRunRow(*run)}, std::nullopt);
  }
  session::UnitRecord record = unit->record;
  v1::Unit& state = *record.mutable_unit();
  EncodePwluParams(params, unit->config.granularity(),
                   state.mutable_parameters());
  state.set_training_steps(state.training_steps() + new_steps);
  Touch(now, &state);
  absl::Status status = store.Put(s.id, {MakeRow(record, unit->position)},
                                  {MakeRunRow(*run)}, std::nullopt);
  if (!status.ok()) return status;
  unit->record = std::move(record);
  *version = unit->record.unit().version();
  return absl::OkStatus();
}

}  // namespace

SessionManager::SessionManager(std::unique_ptr<SessionStore> store,
                               BaselineEngine* engine)
    : store_(std::move(store)), engine_(engine) {}

SessionManager::~SessionManager() = default;

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Open(
    std::unique_ptr<SessionStore> store, BaselineEngine* engine) {
  std::unique_ptr<SessionManager> manager(
      new SessionManager(std::move(store), engine));
  absl::Status s = manager->Load();
  if (!s.ok()) return s;
  return manager;
}

absl::Status SessionManager::Load() {
  absl::StatusOr<std::vector<StoredSession>> stored = store_->LoadAll();
  if (!stored.ok()) return stored.status();
  absl::MutexLock lock(&mu_);
  for (StoredSession& s : *stored) {
    auto session = std::make_shared<SessionState>(
        s.session.id, s.session.display_name, s.session.create_time);
    absl::MutexLock session_lock(&session->mu);
    session->update_time = s.session.update_time;
    for (UnitRow& row : s.units) {
      const std::string label = UnitLabel(row.name, s.session.id);
      session::UnitRecord record;
      if (!record.ParseFromString(row.state)) {
        return absl::InternalError(
            absl::StrCat("session store: ", label, " has a corrupt record"));
      }
      // Re-validating a stored config only resolves its shape again: the
      // config was filled and checked before it was written.
      absl::StatusOr<ValidatedUnitConfig> validated =
          ValidateUnitConfig(record.unit().config(), "config", *engine_);
      if (!validated.ok()) {
        return absl::InternalError(absl::StrCat("session store: ", label, ": ",
                                                validated.status().message()));
      }
      session->next_position =
          std::max(session->next_position, row.position + 1);
      session->units[row.name] = std::make_unique<UnitState>(
          *std::move(validated), row.position, std::move(record));
    }
    session->last_run_sequence = s.last_run_sequence;
    // An open TRAIN_STEPS run resumes with its unit; any other run still
    // RUNNING belonged to a Fit that the server's end interrupted.
    const absl::Time now = absl::Now();
    std::vector<RunRow> closed;
    for (const RunRow& row : s.running_runs) {
      absl::StatusOr<session::RunRecord> run = ParseRun(row, s.session.id);
      if (!run.ok()) return run.status();
      if (run->run().kind() == v1::Run::FIT) {
        EndRun(v1::Run::FAILED, "the server stopped before the Fit ended", now,
               &*run);
        closed.push_back(MakeRunRow(*run));
        continue;
      }
      UnitState* unit = FindUnit(*session, row.unit);
      if (unit == nullptr) {
        return absl::InternalError(absl::StrCat(
            "session store: run ", Quote(row.id), " belongs to missing ",
            UnitLabel(row.unit, s.session.id)));
      }
      absl::MutexLock unit_lock(&unit->mu);
      unit->open_run = *std::move(run);
    }
    if (!closed.empty()) {
      absl::Status status = store_->Put(session->id, {}, closed, std::nullopt);
      if (!status.ok()) return status;
    }
    sessions_[session->id] = std::move(session);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SessionState>> SessionManager::FindSession(
    absl::string_view id) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return SessionNotFound(id);
  return it->second;
}

absl::StatusOr<v1::Session> SessionManager::CreateSession(
    const v1::CreateSessionRequest& request) {
  if (request.display_name().size() > kMaxDisplayNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("display_name: ", request.display_name().size(),
                     " bytes exceeds the limit of ", kMaxDisplayNameLength));
  }
  const absl::Time now = absl::Now();
  std::vector<ValidatedUnitConfig> configs;
  std::map<std::string, int> seen;
  for (int i = 0; i < request.units_size(); ++i) {
    const std::string field = absl::StrCat("units[", i, "]");
    absl::StatusOr<ValidatedUnitConfig> v =
        ValidateUnitConfig(request.units(i), field, *engine_);
    if (!v.ok()) return v.status();
    auto [it, inserted] = seen.emplace(v->config.name(), i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".name: ", Quote(v->config.name()),
                       " duplicates units[", it->second, "]"));
    }
    configs.push_back(*std::move(v));
  }
  std::vector<session::UnitRecord> records;
  std::vector<UnitRow> rows;
  for (size_t i = 0; i < configs.size(); ++i) {
    absl::StatusOr<session::UnitRecord> record = NewUnitRecord(
        *engine_, configs[i], now, absl::StrCat("units[", i, "]"));
    if (!record.ok()) return record.status();
    rows.push_back(MakeRow(*record, static_cast<int64_t>(i)));
    records.push_back(*std::move(record));
  }
  absl::StatusOr<std::string> id = NewSessionId();
  if (!id.ok()) return id.status();

  auto session =
      std::make_shared<SessionState>(*id, request.display_name(), now);
  absl::MutexLock session_lock(&session->mu);
  absl::Status s = store_->CreateSession(
      {session->id, session->display_name, now, now}, rows);
  if (!s.ok()) return s;
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string name = configs[i].config.name();
    session->units[name] = std::make_unique<UnitState>(
        std::move(configs[i]), static_cast<int64_t>(i), std::move(records[i]));
  }
  session->next_position = static_cast<int64_t>(configs.size());
  v1::Session out = SessionProto(*session);
  absl::MutexLock lock(&mu_);
  sessions_[session->id] = session;
  return out;
}

absl::StatusOr<v1::GetSessionResponse> SessionManager::GetSession(
    absl::string_view session_id) {
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(session_id);
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  absl::ReaderMutexLock lock(&s.mu);
  if (s.deleted) return SessionNotFound(session_id);
  v1::GetSessionResponse out;
  *out.mutable_session() = SessionProto(s);
  for (UnitState* unit : OrderedUnits(s)) {
    absl::ReaderMutexLock unit_lock(&unit->mu);
    *out.add_units() = unit->record.unit();
  }
  return out;
}

v1::ListSessionsResponse SessionManager::ListSessions() {
  std::vector<std::shared_ptr<SessionState>> sessions;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, session] : sessions_) sessions.push_back(session);
  }
  std::sort(sessions.begin(), sessions.end(), [](const auto& a, const auto& b) {
    return std::tie(a->create_time, a->id) < std::tie(b->create_time, b->id);
  });
  v1::ListSessionsResponse out;
  for (const auto& session : sessions) {
    absl::ReaderMutexLock lock(&session->mu);
    if (!session->deleted) *out.add_sessions() = SessionProto(*session);
  }
  return out;
}

absl::Status SessionManager::DeleteSession(absl::string_view session_id) {
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(session_id);
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  {
    absl::MutexLock lock(&s.mu);
    if (s.deleted) return SessionNotFound(session_id);
    absl::Status status = store_->DeleteSession(s.id);
    if (!status.ok()) return status;
    s.deleted = true;
  }
  absl::MutexLock lock(&mu_);
  sessions_.erase(s.id);
  return absl::OkStatus();
}

absl::StatusOr<v1::Unit> SessionManager::AddUnit(
    const v1::AddUnitRequest& request) {
  absl::StatusOr<ValidatedUnitConfig> validated =
      ValidateUnitConfig(request.unit(), "unit", *engine_);
  if (!validated.ok()) return validated.status();
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(request.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  absl::MutexLock lock(&s.mu);
  if (s.deleted) return SessionNotFound(request.session_id());
  const std::string name = validated->config.name();
  if (FindUnit(s, name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat(
        "unit ", Quote(name), " already exists in session ", Quote(s.id)));
  }
  const absl::Time now = absl::Now();
  absl::StatusOr<session::UnitRecord> record =
      NewUnitRecord(*engine_, *validated, now, "unit");
  if (!record.ok()) return record.status();
  const UnitRow row = MakeRow(*record, s.next_position);
  absl::Status status = store_->PutUnits(s.id, {row}, now);
  if (!status.ok()) return status;
  v1::Unit out = record->unit();
  s.units[name] = std::make_unique<UnitState>(
      *std::move(validated), s.next_position, *std::move(record));
  ++s.next_position;
  s.update_time = now;
  return out;
}

absl::StatusOr<v1::RunningStats> SessionManager::Observe(
    const v1::UnitRef& ref, const TensorView& input, float* output) {
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(ref.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  absl::ReaderMutexLock session_lock(&s.mu);
  if (s.deleted) return SessionNotFound(ref.session_id());
  UnitState* unit = FindUnit(s, ref.unit());
  if (unit == nullptr) return UnitNotFound(ref.unit(), ref.session_id());
  const std::string label = UnitLabel(ref.unit(), ref.session_id());
  {
    // Checked first so a call in the wrong phase is told so, whatever its
    // input; checked again below against concurrent FitBoundaries.
    absl::ReaderMutexLock lock(&unit->mu);
    absl::Status phase = CheckPhase(unit->record.unit(), label);
    if (!phase.ok()) return phase;
  }
  if (input.elements == 0) {
    return absl::InvalidArgumentError("input: the tensor has no elements");
  }
  absl::StatusOr<ChannelLayout> layout = UnitLayout(unit->config, input, label);
  if (!layout.ok()) return layout.status();
  // The batch moments and the output depend only on the input and the
  // immutable config, so they are computed before taking the unit's lock.
  absl::StatusOr<BatchMoments> moments = ComputeBatchMoments(
      *layout, unit->config.granularity() == v1::CHANNEL, input.data);
  if (!moments.ok()) return WithField(moments.status(), "input");
  absl::Status status =
      engine_->Forward(unit->shape, {input.elements}, input.data, output);
  if (!status.ok()) return status;

  absl::MutexLock lock(&unit->mu);
  status = CheckPhase(unit->record.unit(), label);
  if (!status.ok()) return status;
  session::UnitRecord record = unit->record;
  v1::Unit& state = *record.mutable_unit();
  FoldBatch(*moments, unit->config.momentum(), state.mutable_stats());
  state.set_batches_observed(state.batches_observed() + 1);
  Touch(absl::Now(), &state);
  status =
      store_->PutUnits(s.id, {MakeRow(record, unit->position)}, std::nullopt);
  if (!status.ok()) return status;
  unit->record = std::move(record);
  return unit->record.unit().stats();
}

absl::StatusOr<v1::FitBoundariesResponse> SessionManager::FitBoundaries(
    const v1::FitBoundariesRequest& request) {
  std::optional<double> multiplier;
  if (request.has_sigma_multiplier()) {
    multiplier = request.sigma_multiplier();
    if (!std::isfinite(*multiplier) || *multiplier <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sigma_multiplier: ", *multiplier, " must be finite and > 0"));
    }
  }
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(request.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  const absl::Time now = absl::Now();
  v1::FitBoundariesResponse out;

  if (!request.unit().empty()) {
    absl::ReaderMutexLock session_lock(&s.mu);
    if (s.deleted) return SessionNotFound(request.session_id());
    UnitState* unit = FindUnit(s, request.unit());
    if (unit == nullptr) return UnitNotFound(request.unit(), s.id);
    const std::string label = UnitLabel(request.unit(), s.id);
    absl::MutexLock lock(&unit->mu);
    session::UnitRecord record = unit->record;
    v1::Unit& state = *record.mutable_unit();
    if (state.phase() != v1::STATISTICS) {
      return absl::FailedPreconditionError(absl::StrCat(
          label, " is already in phase ", v1::Phase_Name(state.phase()),
          "; FitBoundaries realigns units in phase STATISTICS"));
    }
    absl::StatusOr<v1::PwluParameters> params =
        FitUnit(*engine_, *unit, state, multiplier, label);
    if (!params.ok()) return params.status();
    *state.mutable_parameters() = *std::move(params);
    state.set_phase(v1::TRAINING);
    Touch(now, &state);
    absl::Status status =
        store_->PutUnits(s.id, {MakeRow(record, unit->position)}, std::nullopt);
    if (!status.ok()) return status;
    unit->record = std::move(record);
    *out.add_units() = FittedProto(unit->record.unit());
    return out;
  }

  // Every unit at once: the exclusive session lock keeps other calls out
  // while the batch is computed and committed, so it applies atomically.
  absl::MutexLock session_lock(&s.mu);
  if (s.deleted) return SessionNotFound(request.session_id());
  std::vector<UnitState*> fitted;
  std::vector<session::UnitRecord> records;
  std::vector<UnitRow> rows;
  for (UnitState* unit : OrderedUnits(s)) {
    session::UnitRecord record;
    {
      absl::ReaderMutexLock lock(&unit->mu);
      if (unit->record.unit().phase() != v1::STATISTICS) continue;
      record = unit->record;
    }
    v1::Unit& state = *record.mutable_unit();
    absl::StatusOr<v1::PwluParameters> params =
        FitUnit(*engine_, *unit, state, multiplier,
                UnitLabel(unit->config.name(), s.id));
    if (!params.ok()) return params.status();
    *state.mutable_parameters() = *std::move(params);
    state.set_phase(v1::TRAINING);
    Touch(now, &state);
    rows.push_back(MakeRow(record, unit->position));
    records.push_back(std::move(record));
    fitted.push_back(unit);
  }
  if (fitted.empty()) return out;
  absl::Status status = store_->PutUnits(s.id, rows, std::nullopt);
  if (!status.ok()) return status;
  for (size_t i = 0; i < fitted.size(); ++i) {
    absl::MutexLock lock(&fitted[i]->mu);
    fitted[i]->record = std::move(records[i]);
    *out.add_units() = FittedProto(fitted[i]->record.unit());
  }
  return out;
}

absl::StatusOr<v1::Unit> SessionManager::GetUnit(const v1::UnitRef& ref) {
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(ref.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  absl::ReaderMutexLock session_lock(&s.mu);
  if (s.deleted) return SessionNotFound(ref.session_id());
  UnitState* unit = FindUnit(s, ref.unit());
  if (unit == nullptr) return UnitNotFound(ref.unit(), ref.session_id());
  absl::ReaderMutexLock lock(&unit->mu);
  return unit->record.unit();
}

absl::StatusOr<SessionUnitParams> SessionManager::GetUnitParameters(
    const v1::UnitRef& ref) {
  absl::StatusOr<v1::Unit> unit = GetUnit(ref);
  if (!unit.ok()) return unit.status();
  SessionUnitParams out;
  out.params = PwluParamsFromProto(unit->parameters());
  out.granularity = unit->config().granularity();
  if (unit->config().has_channel_axis()) {
    out.channel_axis = unit->config().channel_axis();
  }
  return out;
}

absl::StatusOr<v1::SampleCurveResponse> SessionManager::SampleCurve(
    const v1::SampleCurveRequest& request) {
  const int points =
      request.points() == 0 ? kDefaultCurvePoints : request.points();
  if (points < 2 || points > kMaxCurvePoints) {
    return absl::InvalidArgumentError(absl::StrCat(
        "points: ", points, " is outside [2, ", kMaxCurvePoints, "]"));
  }
  absl::StatusOr<v1::Unit> unit = GetUnit(request.unit());
  if (!unit.ok()) return unit.status();
  const PwluParams all = PwluParamsFromProto(unit->parameters());

  std::vector<int> channels;
  if (unit->config().granularity() != v1::CHANNEL) {
    channels.push_back(0);
  } else if (request.channels().empty()) {
    for (int c = 0; c < unit->config().channels(); ++c) channels.push_back(c);
  } else {
    for (int i = 0; i < request.channels_size(); ++i) {
      const int c = request.channels(i);
      if (c < 0 || c >= unit->config().channels()) {
        return absl::InvalidArgumentError(
            absl::StrCat("channels[", i, "]: ", c, " is outside [0, ",
                         unit->config().channels(), ") for unit ",
                         Quote(unit->config().name())));
      }
      channels.push_back(c);
    }
  }
  const int64_t samples = static_cast<int64_t>(channels.size()) * points;
  if (samples > kMaxCurveSamples) {
    return absl::InvalidArgumentError(absl::StrCat(
        "channels/points: ", channels.size(), " curves of ", points,
        " points exceed the limit of ", kMaxCurveSamples, " samples"));
  }

  PwluParams selected;
  selected.intervals = all.intervals;
  double lo = INFINITY, hi = -INFINITY;
  for (int c : channels) {
    selected.left_bound.push_back(all.left_bound[c]);
    selected.right_bound.push_back(all.right_bound[c]);
    selected.left_slope.push_back(all.left_slope[c]);
    selected.right_slope.push_back(all.right_slope[c]);
    selected.values.insert(selected.values.end(), all.unit_values(c),
                           all.unit_values(c) + all.intervals + 1);
    lo = std::min(lo, double{all.left_bound[c]});
    hi = std::max(hi, double{all.right_bound[c]});
  }
  const double margin = (hi - lo) / 4;
  const double x_min = request.has_x_min() ? request.x_min() : lo - margin;
  const double x_max = request.has_x_max() ? request.x_max() : hi + margin;
  if (!std::isfinite(x_min) || !std::isfinite(x_max) || !(x_min < x_max)) {
    return absl::InvalidArgumentError(
        absl::StrCat("x_min/x_max: [", x_min, ", ", x_max,
                     "] is not a finite grid with x_min < x_max"));
  }

  v1::SampleCurveResponse out;
  std::vector<float> x(points);
  for (int i = 0; i < points; ++i) {
    x[i] = static_cast<float>(x_min + (x_max - x_min) * i / (points - 1));
  }
  x[points - 1] = static_cast<float>(x_max);
  out.mutable_x()->Assign(x.begin(), x.end());

  const int64_t curves = static_cast<int64_t>(channels.size());
  std::vector<float> xs;
  xs.reserve(samples);
  for (int64_t c = 0; c < curves; ++c) xs.insert(xs.end(), x.begin(), x.end());
  std::vector<float> ys(samples);
  absl::Status status =
      PwluForward(selected, {1, curves, points}, xs.data(), ys.data());
  if (!status.ok()) return status;
  for (int64_t i = 0; i < curves; ++i) {
    v1::Curve* curve = out.add_curves();
    curve->set_channel(channels[i]);
    curve->mutable_y()->Assign(ys.begin() + i * points,
                               ys.begin() + (i + 1) * points);
    curve->set_left_bound(selected.left_bound[i]);
    curve->set_right_bound(selected.right_bound[i]);
  }
  return out;
}

absl::StatusOr<v1::UnitExport> SessionManager::ExportUnit(
    const v1::UnitRef& ref) {
  absl::StatusOr<v1::Unit> unit = GetUnit(ref);
  if (!unit.ok()) return unit.status();
  v1::UnitExport out;
  out.set_format_version(kExportFormatVersion);
  *out.mutable_config() = unit->config();
  out.set_phase(unit->phase());
  *out.mutable_stats() = unit->stats();
  *out.mutable_parameters() = unit->parameters();
  return out;
}

absl::StatusOr<v1::Unit> SessionManager::ImportUnit(
    const v1::ImportUnitRequest& request) {
  const v1::UnitExport& in = request.export_();
  if (in.format_version() != kExportFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "export.format_version: ", in.format_version(),
        " is not supported; this server reads version ", kExportFormatVersion));
  }
  v1::UnitConfig config = in.config();
  if (!request.unit().empty()) {
    absl::Status s = ValidateUnitName(request.unit(), "unit");
    if (!s.ok()) return s;
    config.set_name(request.unit());
  }
  absl::StatusOr<ValidatedUnitConfig> validated =
      ValidateUnitConfig(config, "export.config", *engine_);
  if (!validated.ok()) return validated.status();
  const v1::UnitConfig& filled = validated->config;
  if (in.phase() != v1::STATISTICS && in.phase() != v1::TRAINING) {
    return absl::InvalidArgumentError(
        absl::StrCat("export.phase: ", v1::Phase_Name(in.phase()),
                     " is not STATISTICS or TRAINING"));
  }
  if (in.phase() == v1::STATISTICS && filled.fixed_bounds()) {
    return absl::InvalidArgumentError(
        "export.phase: STATISTICS contradicts config.fixed_bounds, which "
        "skips phase I");
  }
  absl::StatusOr<PwluParams> params =
      DecodeUnitParameters(in.parameters(), filled, "export.parameters");
  if (!params.ok()) return params.status();
  absl::Status status =
      ValidateStats(in.stats(), filled.channels(), "export.stats");
  if (!status.ok()) return status;

  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(request.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  absl::MutexLock session_lock(&s.mu);
  if (s.deleted) return SessionNotFound(request.session_id());
  const std::string name = filled.name();
  UnitState* existing = FindUnit(s, name);
  if (existing != nullptr && !request.replace()) {
    return absl::AlreadyExistsError(
        absl::StrCat("unit ", Quote(name), " already exists in session ",
                     Quote(s.id), "; set replace to overwrite it"));
  }
  const absl::Time now = absl::Now();
  session::UnitRecord record;
  v1::Unit& unit = *record.mutable_unit();
  *unit.mutable_config() = filled;
  unit.set_phase(in.phase());
  *unit.mutable_stats() = in.stats();
  EncodePwluParams(*params, filled.granularity(), unit.mutable_parameters());
  unit.set_batches_observed(in.stats().batches());
  SetTimestamp(now, unit.mutable_create_time());
  SetTimestamp(now, unit.mutable_update_time());
  int64_t position = s.next_position;
  int64_t version = 1;
  std::vector<RunRow> closed;
  if (existing != nullptr) {
    position = existing->position;
    absl::ReaderMutexLock lock(&existing->mu);
    version = existing->record.unit().version() + 1;
    if (existing->open_run.has_value()) {
      session::RunRecord run = *existing->open_run;
      EndRun(v1::Run::COMPLETED, "", now, &run);
      closed.push_back(MakeRunRow(run));
    }
  }
  unit.set_version(version);
  status = store_->Put(s.id, {MakeRow(record, position)}, closed, now);
  if (!status.ok()) return status;
  v1::Unit out = unit;
  s.units[name] = std::make_unique<UnitState>(*std::move(validated), position,
                                              std::move(record));
  if (existing == nullptr) ++s.next_position;
  s.update_time = now;
  return out;
}

absl::Status SessionManager::TrainStep(const v1::TrainStepRequest& request,
                                       v1::TrainStepResponse* response) {
  const v1::UnitRef& ref = request.unit();
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(ref.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  absl::ReaderMutexLock session_lock(&s.mu);
  if (s.deleted) return SessionNotFound(ref.session_id());
  UnitState* unit = FindUnit(s, ref.unit());
  if (unit == nullptr) return UnitNotFound(ref.unit(), ref.session_id());
  const std::string label = UnitLabel(ref.unit(), ref.session_id());
  {
    // Checked first so a call in the wrong phase is told so, whatever its
    // input; checked again below against a concurrent import.
    absl::ReaderMutexLock lock(&unit->mu);
    absl::Status phase = CheckTrainingPhase(unit->record.unit(), label);
    if (!phase.ok()) return phase;
  }
  absl::StatusOr<TensorView> input = DecodeTensor(request.input(), "input");
  if (!input.ok()) return input.status();
  absl::StatusOr<TensorView> grad_output =
      DecodeTensor(request.grad_output(), "grad_output");
  if (!grad_output.ok()) return grad_output.status();
  if (grad_output->shape != input->shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("grad_output: shape ", ShapeString(grad_output->shape),
                     " differs from the input's ", ShapeString(input->shape)));
  }
  if (input->elements == 0) {
    return absl::InvalidArgumentError("input: the tensor has no elements");
  }
  absl::Status status = CheckFinite(input->data, input->elements);
  if (!status.ok()) return WithField(status, "input");
  status = CheckFinite(grad_output->data, grad_output->elements);
  if (!status.ok()) return WithField(status, "grad_output");
  if (request.has_loss() && !std::isfinite(request.loss())) {
    return absl::InvalidArgumentError(
        absl::StrCat("loss: ", request.loss(), " is not finite"));
  }
  absl::StatusOr<ChannelLayout> layout =
      UnitLayout(unit->config, *input, label);
  if (!layout.ok()) return layout.status();
  float* grad_input =
      PrepareTensor(input->shape, response->mutable_grad_input());

  absl::MutexLock lock(&unit->mu);
  status = CheckTrainingPhase(unit->record.unit(), label);
  if (!status.ok()) return status;
  session::UnitRecord record = unit->record;
  session::TrainingState& training = *record.mutable_training();
  training = UnitTraining(unit->record);
  absl::StatusOr<v1::OptimizerSettings> optimizer = MergeOptimizerSettings(
      training.optimizer(), request.optimizer(), "optimizer");
  if (!optimizer.ok()) return optimizer.status();
  const v1::TrainableParameters trainable =
      MergeTrainable(training.trainable(), request.trainable());
  if (optimizer->kind() != training.optimizer().kind()) {
    training.clear_state();
  }

  PwluParams params = PwluParamsFromProto(record.unit().parameters());
  PwluParams grad;
  const absl::Time kernel_start = absl::Now();
  status = PwluBackward(params, *layout, input->data, grad_output->data,
                        grad_input, &grad);
  response->set_kernel_ns(absl::ToInt64Nanoseconds(absl::Now() - kernel_start));
  if (!status.ok()) return status;
  OptimizerState state = OptimizerStateFromProto(training.state());
  status = ApplyOptimizerStep(ToOptimizerConfig(*optimizer),
                              ToTrainableGroups(trainable),
                              unit->config.min_width(), grad, &params, &state);
  if (!status.ok()) return status;

  const absl::Time now = absl::Now();
  *training.mutable_optimizer() = *optimizer;
  *training.mutable_trainable() = trainable;
  OptimizerStateToProto(state, training.mutable_state());
  v1::Unit& updated = *record.mutable_unit();
  EncodePwluParams(params, unit->config.granularity(),
                   updated.mutable_parameters());
  updated.set_training_steps(updated.training_steps() + 1);
  Touch(now, &updated);

  std::vector<RunRow> runs;
  std::optional<session::RunRecord> run = unit->open_run;
  using ::google::protobuf::util::MessageDifferencer;
  if (run.has_value() &&
      !(MessageDifferencer::Equals(run->run().optimizer(), *optimizer) &&
        MessageDifferencer::Equals(run->run().trainable(), trainable))) {
    EndRun(v1::Run::COMPLETED, "", now, &*run);
    runs.push_back(MakeRunRow(*run));
    run.reset();
  }
  if (!run.has_value()) {
    run =
        NewRun(s, ref.unit(), v1::Run::TRAIN_STEPS, *optimizer, trainable, now);
  }
  v1::Run& current = *run->mutable_run();
  current.set_steps(current.steps() + 1);
  if (request.has_loss()) {
    OfferHistoryPoint(
        current.steps(), request.loss(),
        absl::ToDoubleSeconds(now - FromTimestamp(current.start_time())),
        &*run);
  }
  runs.push_back(MakeRunRow(*run));
  status =
      store_->Put(s.id, {MakeRow(record, unit->position)}, runs, std::nullopt);
  if (!status.ok()) return status;
  unit->record = std::move(record);
  unit->open_run = std::move(run);

  *response->mutable_grad_norms() = ComputeGradientNorms(grad);
  response->set_training_steps(unit->record.unit().training_steps());
  response->set_run_id(unit->open_run->run().id());
  return absl::OkStatus();
}

absl::StatusOr<v1::FitSummary> SessionManager::Fit(
    const v1::FitRequest& request, absl::FunctionRef<bool()> cancelled,
    absl::FunctionRef<bool(const v1::FitProgress&)> progress) {
  const v1::UnitRef& ref = request.unit();
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(ref.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  const absl::Time start = absl::Now();
  std::unique_ptr<FitTrainer> trainer;
  session::RunRecord run;
  int64_t version = 0;
  {
    absl::ReaderMutexLock session_lock(&s.mu);
    if (s.deleted) return SessionNotFound(ref.session_id());
    UnitState* unit = FindUnit(s, ref.unit());
    if (unit == nullptr) return UnitNotFound(ref.unit(), ref.session_id());
    absl::MutexLock lock(&unit->mu);
    absl::Status status = CheckTrainingPhase(
        unit->record.unit(), UnitLabel(ref.unit(), ref.session_id()));
    if (!status.ok()) return status;
    absl::StatusOr<std::unique_ptr<FitTrainer>> created =
        FitTrainer::Create(request, unit->record.unit(),
                           UnitTraining(unit->record).trainable(), engine_);
    if (!created.ok()) return created.status();
    trainer = *std::move(created);
    version = unit->record.unit().version();
    run = NewRun(s, ref.unit(), v1::Run::FIT, trainer->settings().optimizer(),
                 trainer->settings().trainable(), start);
    *run.mutable_run()->mutable_fit() = trainer->settings();
    std::vector<RunRow> rows;
    if (unit->open_run.has_value()) {
      session::RunRecord closed = *unit->open_run;
      EndRun(v1::Run::COMPLETED, "", start, &closed);
      rows.push_back(MakeRunRow(closed));
    }
    rows.push_back(MakeRunRow(run));
    status = store_->Put(s.id, {}, rows, std::nullopt);
    if (!status.ok()) return status;
    unit->open_run.reset();
  }

  const int64_t steps = trainer->settings().steps();
  const absl::Duration progress_interval =
      absl::Milliseconds(trainer->settings().progress_interval_ms());
  absl::Time last_progress = start;
  absl::Time last_checkpoint = start;
  int64_t committed = 0;
  v1::Run::State end_state = v1::Run::COMPLETED;
  absl::Status failure;
  while (trainer->steps_done() < steps) {
    if (cancelled()) {
      end_state = v1::Run::CANCELLED;
      break;
    }
    absl::StatusOr<double> loss = trainer->Step();
    if (!loss.ok()) {
      end_state = v1::Run::FAILED;
      failure = loss.status();
      break;
    }
    const absl::Time now = absl::Now();
    const double elapsed = absl::ToDoubleSeconds(now - start);
    OfferHistoryPoint(trainer->steps_done(), *loss, elapsed, &run);
    if (now - last_progress >= progress_interval) {
      last_progress = now;
      v1::FitProgress message;
      message.set_step(trainer->steps_done());
      message.set_steps(steps);
      message.set_loss(*loss);
      message.set_elapsed_seconds(elapsed);
      if (!progress(message)) {
        end_state = v1::Run::CANCELLED;
        break;
      }
    }
    if (now - last_checkpoint >= kFitCheckpointInterval) {
      run.mutable_run()->set_steps(trainer->steps_done());
      absl::Status status =
          CommitFit(*store_, s, ref.unit(), trainer->params(),
                    trainer->steps_done() - committed, &run, &version);
      if (!status.ok()) return status;
      committed = trainer->steps_done();
      last_checkpoint = now;
    }
  }

  v1::FitSummary summary;
  if (end_state != v1::Run::FAILED) {
    absl::StatusOr<FitErrors> errors = trainer->Evaluate();
    if (errors.ok()) {
      summary.set_run_id(run.run().id());
      summary.set_steps_completed(trainer->steps_done());
      summary.set_final_loss(errors->mse);
      summary.set_max_abs_error(errors->max_abs);
      summary.set_rms_error(errors->rms);
      *summary.mutable_fitted_range() = errors->range;
      summary.set_elapsed_seconds(absl::ToDoubleSeconds(absl::Now() - start));
      *run.mutable_run()->mutable_summary() = summary;
    } else {
      end_state = v1::Run::FAILED;
      failure = errors.status();
    }
  }
  const std::string message =
      end_state == v1::Run::CANCELLED
          ? absl::StrCat("cancelled after ", trainer->steps_done(), " of ",
                         steps, " steps")
          : std::string(failure.message());
  run.mutable_run()->set_steps(trainer->steps_done());
  EndRun(end_state, message, absl::Now(), &run);
  absl::Status status =
      CommitFit(*store_, s, ref.unit(), trainer->params(),
                trainer->steps_done() - committed, &run, &version);
  if (!status.ok()) return status;
  if (end_state == v1::Run::CANCELLED) {
    return absl::CancelledError(absl::StrCat(
        "Fit ", message, "; the unit keeps its last completed step"));
  }
  if (end_state == v1::Run::FAILED) return failure;
  return summary;
}

absl::StatusOr<v1::ListRunsResponse> SessionManager::ListRuns(
    const v1::ListRunsRequest& request) {
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(request.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  // Held across the store read so a concurrent DeleteSession cannot answer
  // between the check and the read.
  absl::ReaderMutexLock session_lock(&s.mu);
  if (s.deleted) return SessionNotFound(request.session_id());
  if (!request.unit().empty() && FindUnit(s, request.unit()) == nullptr) {
    return UnitNotFound(request.unit(), s.id);
  }
  absl::StatusOr<std::vector<RunRow>> rows =
      store_->ListRuns(s.id, request.unit());
  if (!rows.ok()) return rows.status();
  v1::ListRunsResponse out;
  for (const RunRow& row : *rows) {
    absl::StatusOr<session::RunRecord> record = ParseRun(row, s.id);
    if (!record.ok()) return record.status();
    v1::Run* run = out.add_runs();
    run->Swap(record->mutable_run());
    run->clear_history();
  }
  return out;
}

absl::StatusOr<v1::Run> SessionManager::GetRun(
    const v1::GetRunRequest& request) {
  absl::StatusOr<std::shared_ptr<SessionState>> session =
      FindSession(request.session_id());
  if (!session.ok()) return session.status();
  SessionState& s = **session;
  absl::ReaderMutexLock session_lock(&s.mu);
  if (s.deleted) return SessionNotFound(request.session_id());
  absl::StatusOr<std::optional<RunRow>> row =
      store_->GetRun(s.id, request.run_id());
  if (!row.ok()) return row.status();
  if (!row->has_value()) {
    return absl::NotFoundError(absl::StrCat("run ", Quote(request.run_id()),
                                            " not found in session ",
                                            Quote(s.id)));
  }
  absl::StatusOr<session::RunRecord> record = ParseRun(**row, s.id);
  if (!record.ok()) return record.status();
  return std::move(*record->mutable_run());
}

}  // namespace actlab
