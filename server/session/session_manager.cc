// Copyright actlab authors.

#include "server/session/session_manager.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
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

struct SessionManager::StoredUnit {
  session::UnitRecord record;
  int64_t position = 0;
};

namespace {

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

// A store status with its missing-session NotFound in the manager's words.
absl::Status FromStore(const absl::Status& s, absl::string_view session) {
  return IsNoSuchSession(s) ? SessionNotFound(session) : s;
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

absl::StatusOr<session::UnitRecord> ParseUnit(const UnitRow& row,
                                              absl::string_view session) {
  session::UnitRecord record;
  if (!record.ParseFromString(row.state)) {
    return absl::InternalError(
        absl::StrCat("session store: ", UnitLabel(row.name, session),
                     " has a corrupt record"));
  }
  return record;
}

// Locks unit `unit` of `session` in `txn` and parses it, setting *position
// to the unit's; NotFound when the session has no such unit.
absl::StatusOr<session::UnitRecord> LockRecord(SessionTransaction& txn,
                                               absl::string_view session,
                                               absl::string_view unit,
                                               int64_t* position) {
  absl::StatusOr<std::optional<UnitRow>> row = txn.LockUnit(unit);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return UnitNotFound(unit, session);
  *position = (*row)->position;
  return ParseUnit(**row, session);
}

// The resolved initial shape of a stored config. Re-validating a stored
// config only resolves its shape again: it was filled and checked before it
// was written.
absl::StatusOr<ResolvedActivation> StoredShape(BaselineEngine& engine,
                                               const v1::UnitConfig& config,
                                               absl::string_view label) {
  absl::StatusOr<ValidatedUnitConfig> validated =
      ValidateUnitConfig(config, "config", engine);
  if (!validated.ok()) {
    return absl::InternalError(absl::StrCat("session store: ", label, ": ",
                                            validated.status().message()));
  }
  return std::move(validated->shape);
}

bool SameConfig(const v1::UnitConfig& a, const v1::UnitConfig& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// The session as clients see it: update_time is the latest change to the
// session row or any unit.
v1::Session SessionProto(const SessionRow& session,
                         absl::Span<const session::UnitRecord> units) {
  v1::Session out;
  out.set_id(session.id);
  out.set_display_name(session.display_name);
  absl::Time updated = session.update_time;
  for (const session::UnitRecord& unit : units) {
    out.add_unit_names(unit.unit().config().name());
    updated = std::max(updated, FromTimestamp(unit.unit().update_time()));
  }
  SetTimestamp(session.create_time, out.mutable_create_time());
  SetTimestamp(updated, out.mutable_update_time());
  out.set_owner(session.owner);
  return out;
}

absl::StatusOr<std::vector<session::UnitRecord>> ParseUnits(
    const StoredSession& stored) {
  std::vector<session::UnitRecord> records;
  for (const UnitRow& row : stored.units) {
    absl::StatusOr<session::UnitRecord> record =
        ParseUnit(row, stored.session.id);
    if (!record.ok()) return record.status();
    records.push_back(*std::move(record));
  }
  return records;
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

// A RUNNING run numbered `sequence` in `session`, started at `now`.
session::RunRecord NewRun(int64_t sequence, absl::string_view session,
                          absl::string_view unit, v1::Run::Kind kind,
                          const v1::OptimizerSettings& optimizer,
                          const v1::TrainableParameters& trainable,
                          absl::Time now) {
  session::RunRecord record;
  record.set_sequence(sequence);
  record.set_write_unix_nanos(absl::ToUnixNanos(now));
  v1::Run& run = *record.mutable_run();
  run.set_id(RunId(sequence));
  run.set_session_id(std::string(session));
  run.set_unit(std::string(unit));
  run.set_kind(kind);
  run.set_state(v1::Run::RUNNING);
  *run.mutable_optimizer() = optimizer;
  *run.mutable_trainable() = trainable;
  SetTimestamp(now, run.mutable_start_time());
  return record;
}

// The unit's open TRAIN_STEPS run, if any.
absl::StatusOr<std::optional<session::RunRecord>> OpenTrainStepsRun(
    SessionTransaction& txn, absl::string_view session,
    absl::string_view unit) {
  absl::StatusOr<std::vector<RunRow>> rows = txn.RunningRuns(unit);
  if (!rows.ok()) return rows.status();
  for (const RunRow& row : *rows) {
    absl::StatusOr<session::RunRecord> record = ParseRun(row, session);
    if (!record.ok()) return record.status();
    if (record->run().kind() == v1::Run::TRAIN_STEPS) return *std::move(record);
  }
  return std::nullopt;
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
                                           const v1::Unit& state,
                                           std::optional<double> multiplier,
                                           absl::string_view label) {
  const v1::UnitConfig& config = state.config();
  if (state.stats().batches() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(label,
                     " has no batches observed; Observe it before "
                     "FitBoundaries"));
  }
  absl::StatusOr<FittedBounds> bounds =
      FitBounds(state.stats(), multiplier.value_or(config.sigma_multiplier()),
                config.min_width());
  if (!bounds.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, ": ", bounds.status().message()));
  }
  absl::StatusOr<ResolvedActivation> shape = StoredShape(engine, config, label);
  if (!shape.ok()) return shape.status();
  absl::StatusOr<PwluParams> params =
      InitialShapeParams(engine, *shape, config.intervals(),
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
  EncodePwluParams(*params, config.granularity(), &out);
  return out;
}

// Realigns one unit in STATISTICS in place, marking it changed at `now`.
absl::Status FitInPlace(BaselineEngine& engine,
                        std::optional<double> multiplier, absl::Time now,
                        absl::string_view label, v1::Unit* state) {
  absl::StatusOr<v1::PwluParameters> params =
      FitUnit(engine, *state, multiplier, label);
  if (!params.ok()) return params.status();
  *state->mutable_parameters() = *std::move(params);
  state->set_phase(v1::TRAINING);
  Touch(now, state);
  return absl::OkStatus();
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

// A Fit's checkpoint: in one transaction holding the unit's row lock, when
// the unit is still at *version, writes the trainer's parameters and the
// `new_steps` completed since the last checkpoint into it, and `run`, then
// advances *version. When another call changed the unit, ends `run` FAILED,
// writes only the run and returns Aborted (see the optimistic scheme in the
// header). `run` and *version change only when the transaction commits.
absl::Status CommitFit(SessionStore& store, absl::string_view session,
                       absl::string_view unit_name, const PwluParams& params,
                       int64_t new_steps, session::RunRecord* run,
                       int64_t* version) {
  const std::string label = UnitLabel(unit_name, session);
  session::RunRecord attempt;
  int64_t new_version = *version;
  bool changed = false;
  absl::Status status = store.Update(session, [&](SessionTransaction& txn) {
    attempt = *run;
    const absl::Time now = absl::Now();
    attempt.set_write_unix_nanos(absl::ToUnixNanos(now));
    // Units are never removed, only replaced, so the name still resolves.
    int64_t position = 0;
    absl::StatusOr<session::UnitRecord> record =
        LockRecord(txn, session, unit_name, &position);
    if (!record.ok()) return record.status();
    changed = record->unit().version() != *version;
    if (changed) {
      // The run keeps what reached the unit, and no summary of the rest.
      attempt.mutable_run()->set_steps(attempt.run().steps() - new_steps);
      attempt.mutable_run()->clear_summary();
      EndRun(v1::Run::FAILED, "unit changed during Fit", now, &attempt);
      absl::Status s = txn.PutRun(MakeRunRow(attempt));
      if (!s.ok()) return s;
      return txn.Touch(now);
    }
    if (new_steps > 0) {
      v1::Unit& state = *record->mutable_unit();
      EncodePwluParams(params, state.config().granularity(),
                       state.mutable_parameters());
      state.set_training_steps(state.training_steps() + new_steps);
      Touch(now, &state);
      absl::Status s = txn.PutUnit(MakeRow(*record, position));
      if (!s.ok()) return s;
      new_version = state.version();
    }
    // Every checkpoint counts as activity, so a running Fit keeps its
    // session from expiring.
    absl::Status s = txn.PutRun(MakeRunRow(attempt));
    if (!s.ok()) return s;
    return txn.Touch(now);
  });
  if (!status.ok()) return FromStore(status, session);
  *run = std::move(attempt);
  *version = new_version;
  if (!changed) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat(
      label,
      " changed during Fit (by a TrainStep, another Fit or an import); "
      "the Fit stopped and its steps after step ",
      run->run().steps(), " were dropped"));
}

bool MaySee(const Principal& caller, absl::string_view owner) {
  return caller.admin || caller.name == owner;
}

}  // namespace

SessionManager::SessionManager(std::unique_ptr<SessionStore> store,
                               BaselineEngine* engine,
                               const SessionOptions& options)
    : store_(std::move(store)), engine_(engine), options_(options) {}

SessionManager::~SessionManager() = default;

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Open(
    std::unique_ptr<SessionStore> store, BaselineEngine* engine,
    const SessionOptions& options) {
  if (options.max_sessions < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_sessions: ", options.max_sessions, " must be at least 1"));
  }
  if (options.max_units_per_session < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_units_per_session: ", options.max_units_per_session,
                     " must be at least 1"));
  }
  if (options.session_ttl != absl::ZeroDuration() &&
      options.session_ttl < kMinSessionTtl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "session_ttl: ", absl::FormatDuration(options.session_ttl),
        " must be 0 (off) or at least ", absl::FormatDuration(kMinSessionTtl),
        ", so a running Fit's checkpoints keep its session"));
  }
  std::unique_ptr<SessionManager> manager(
      new SessionManager(std::move(store), engine, options));
  absl::Status s = manager->CloseInterruptedFits(options.fit_lease);
  if (!s.ok()) return s;
  return manager;
}

absl::Status SessionManager::CloseInterruptedFits(absl::Duration lease) {
  absl::StatusOr<std::vector<SessionRun>> running = store_->RunningRuns();
  if (!running.ok()) return running.status();
  for (const SessionRun& found : *running) {
    absl::StatusOr<session::RunRecord> record =
        ParseRun(found.run, found.session_id);
    if (!record.ok()) return record.status();
    // An open TRAIN_STEPS run resumes with its unit.
    if (record->run().kind() != v1::Run::FIT) continue;
    absl::Status status =
        store_->Update(found.session_id, [&](SessionTransaction& txn) {
          // Read again under the unit's lock: the owner may have written
          // since.
          absl::StatusOr<std::optional<UnitRow>> unit =
              txn.LockUnit(found.run.unit);
          if (!unit.ok()) return unit.status();
          absl::StatusOr<std::vector<RunRow>> rows =
              txn.RunningRuns(found.run.unit);
          if (!rows.ok()) return rows.status();
          const absl::Time now = absl::Now();
          for (const RunRow& row : *rows) {
            if (row.id != found.run.id) continue;
            absl::StatusOr<session::RunRecord> run =
                ParseRun(row, found.session_id);
            if (!run.ok()) return run.status();
            if (absl::FromUnixNanos(run->write_unix_nanos()) + lease > now) {
              return absl::OkStatus();
            }
            EndRun(v1::Run::FAILED, "the server stopped before the Fit ended",
                   now, &*run);
            return txn.PutRun(MakeRunRow(*run));
          }
          return absl::OkStatus();
        });
    // A session deleted meanwhile took its runs with it.
    if (!status.ok() && !IsNoSuchSession(status)) return status;
  }
  return absl::OkStatus();
}

absl::Status SessionManager::Authorize(const Principal& caller,
                                       absl::string_view session_id) {
  if (caller.admin) return absl::OkStatus();
  absl::StatusOr<std::optional<SessionRow>> row =
      store_->GetSessionRow(session_id);
  if (!row.ok()) return row.status();
  if (!row->has_value() || !MaySee(caller, (*row)->owner)) {
    return SessionNotFound(session_id);
  }
  return absl::OkStatus();
}

absl::Status SessionManager::UnitMissing(absl::string_view session,
                                         absl::string_view unit) {
  absl::StatusOr<std::optional<StoredSession>> stored =
      store_->GetSession(session);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return SessionNotFound(session);
  return UnitNotFound(unit, session);
}

absl::StatusOr<SessionManager::StoredUnit> SessionManager::ReadUnit(
    const v1::UnitRef& ref) {
  absl::StatusOr<std::optional<UnitRow>> row =
      store_->GetUnit(ref.session_id(), ref.unit());
  if (!row.ok()) return row.status();
  if (!row->has_value()) return UnitMissing(ref.session_id(), ref.unit());
  absl::StatusOr<session::UnitRecord> record =
      ParseUnit(**row, ref.session_id());
  if (!record.ok()) return record.status();
  return StoredUnit{*std::move(record), (*row)->position};
}

absl::StatusOr<v1::Session> SessionManager::CreateSession(
    const Principal& caller, const v1::CreateSessionRequest& request) {
  if (request.display_name().size() > kMaxDisplayNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("display_name: ", request.display_name().size(),
                     " bytes exceeds the limit of ", kMaxDisplayNameLength));
  }
  if (request.units_size() > options_.max_units_per_session) {
    return absl::InvalidArgumentError(
        absl::StrCat("units: ", request.units_size(),
                     " units exceed max_units_per_session (",
                     options_.max_units_per_session, ")"));
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
  const SessionRow session{*id, request.display_name(), now, now, caller.name};
  absl::Status s = store_->CreateSession(session, rows, options_.max_sessions);
  if (!s.ok()) return s;
  return SessionProto(session, records);
}

absl::StatusOr<v1::GetSessionResponse> SessionManager::GetSession(
    const Principal& caller, absl::string_view session_id) {
  absl::Status allowed = Authorize(caller, session_id);
  if (!allowed.ok()) return allowed;
  absl::StatusOr<std::optional<StoredSession>> stored =
      store_->GetSession(session_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return SessionNotFound(session_id);
  absl::StatusOr<std::vector<session::UnitRecord>> records =
      ParseUnits(**stored);
  if (!records.ok()) return records.status();
  v1::GetSessionResponse out;
  *out.mutable_session() = SessionProto((*stored)->session, *records);
  for (session::UnitRecord& record : *records) {
    out.add_units()->Swap(record.mutable_unit());
  }
  return out;
}

absl::StatusOr<v1::ListSessionsResponse> SessionManager::ListSessions(
    const Principal& caller) {
  absl::StatusOr<std::vector<StoredSession>> stored = store_->ListSessions();
  if (!stored.ok()) return stored.status();
  v1::ListSessionsResponse out;
  for (const StoredSession& s : *stored) {
    if (!MaySee(caller, s.session.owner)) continue;
    absl::StatusOr<std::vector<session::UnitRecord>> records = ParseUnits(s);
    if (!records.ok()) return records.status();
    *out.add_sessions() = SessionProto(s.session, *records);
  }
  return out;
}

absl::Status SessionManager::DeleteSession(const Principal& caller,
                                           absl::string_view session_id) {
  absl::Status allowed = Authorize(caller, session_id);
  if (!allowed.ok()) return allowed;
  return FromStore(store_->DeleteSession(session_id), session_id);
}

absl::Status SessionManager::CheckRoomForUnit(absl::string_view session,
                                              int64_t next_position) const {
  // Units are never removed and positions are dense from 0, so the next
  // position is the session's unit count.
  if (next_position < options_.max_units_per_session) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "session ", Quote(session), " holds max_units_per_session (",
      options_.max_units_per_session, ") units; create another session"));
}

absl::StatusOr<int64_t> SessionManager::ExpireIdleSessions() {
  if (options_.session_ttl == absl::ZeroDuration()) return 0;
  return store_->DeleteSessionsUpdatedBefore(
      absl::Now() - options_.session_ttl - kTouchResolution);
}

absl::StatusOr<v1::Unit> SessionManager::AddUnit(
    const Principal& caller, const v1::AddUnitRequest& request) {
  absl::Status allowed = Authorize(caller, request.session_id());
  if (!allowed.ok()) return allowed;
  absl::StatusOr<ValidatedUnitConfig> validated =
      ValidateUnitConfig(request.unit(), "unit", *engine_);
  if (!validated.ok()) return validated.status();
  const std::string& session = request.session_id();
  const std::string name = validated->config.name();
  const absl::Time now = absl::Now();
  absl::StatusOr<session::UnitRecord> record =
      NewUnitRecord(*engine_, *validated, now, "unit");
  if (!record.ok()) return record.status();
  absl::Status status = store_->Update(session, [&](SessionTransaction& txn) {
    // The position first: it serialises additions, so the check below sees
    // a unit of this name that a concurrent call added.
    absl::StatusOr<int64_t> position = txn.NextPosition();
    if (!position.ok()) return position.status();
    absl::StatusOr<std::optional<UnitRow>> existing = txn.LockUnit(name);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "unit ", Quote(name), " already exists in session ", Quote(session)));
    }
    absl::Status s = CheckRoomForUnit(session, *position);
    if (!s.ok()) return s;
    s = txn.PutUnit(MakeRow(*record, *position));
    if (!s.ok()) return s;
    return txn.SetUpdateTime(now);
  });
  if (!status.ok()) return FromStore(status, session);
  return record->unit();
}

absl::StatusOr<v1::UnitConfig> SessionManager::ObservableConfig(
    const v1::UnitRef& ref, absl::string_view label, const TensorView& input) {
  // Read first so a call in the wrong phase is told so, whatever its input;
  // checked again under the lock when the batch is folded.
  absl::StatusOr<StoredUnit> read = ReadUnit(ref);
  if (!read.ok()) return read.status();
  absl::Status status = CheckPhase(read->record.unit(), label);
  if (!status.ok()) return status;
  if (input.elements == 0) {
    return absl::InvalidArgumentError("input: the tensor has no elements");
  }
  return read->record.unit().config();
}

absl::StatusOr<v1::RunningStats> SessionManager::Observe(
    const Principal& caller, const v1::UnitRef& ref, const TensorView& input,
    float* output, int64_t* kernel_ns) {
  absl::Status allowed = Authorize(caller, ref.session_id());
  if (!allowed.ok()) return allowed;
  const std::string label = UnitLabel(ref.unit(), ref.session_id());
  absl::StatusOr<v1::UnitConfig> read = ObservableConfig(ref, label, input);
  if (!read.ok()) return read.status();
  // The batch moments and the output depend only on the input and the
  // config, so they are computed before the unit is locked, and again under
  // the lock only if an import replaced the config meanwhile.
  v1::UnitConfig config;
  BatchMoments moments;
  auto prepare = [&](const v1::UnitConfig& c) -> absl::Status {
    const absl::Time start = absl::Now();
    auto timed = absl::MakeCleanup([&] {
      if (kernel_ns != nullptr) {
        *kernel_ns += absl::ToInt64Nanoseconds(absl::Now() - start);
      }
    });
    config = c;
    absl::StatusOr<ChannelLayout> layout = UnitLayout(config, input, label);
    if (!layout.ok()) return layout.status();
    absl::StatusOr<BatchMoments> m = ComputeBatchMoments(
        *layout, config.granularity() == v1::CHANNEL, input.data);
    if (!m.ok()) return WithField(m.status(), "input");
    moments = *std::move(m);
    absl::StatusOr<ResolvedActivation> shape =
        StoredShape(*engine_, config, label);
    if (!shape.ok()) return shape.status();
    return engine_->Forward(*shape, {input.elements}, input.data, output);
  };
  absl::Status status = prepare(*read);
  if (!status.ok()) return status;

  return FoldObserved(ref, label, config, moments, prepare);
}

absl::StatusOr<v1::RunningStats> SessionManager::FoldObserved(
    const v1::UnitRef& ref, absl::string_view label,
    const v1::UnitConfig& config, const BatchMoments& moments,
    absl::FunctionRef<absl::Status(const v1::UnitConfig&)> on_config_change) {
  v1::RunningStats stats;
  absl::Status status =
      store_->Update(ref.session_id(), [&](SessionTransaction& txn) {
        int64_t position = 0;
        absl::StatusOr<session::UnitRecord> record =
            LockRecord(txn, ref.session_id(), ref.unit(), &position);
        if (!record.ok()) return record.status();
        v1::Unit& state = *record->mutable_unit();
        absl::Status s = CheckPhase(state, label);
        if (!s.ok()) return s;
        if (!SameConfig(state.config(), config)) {
          s = on_config_change(state.config());
          if (!s.ok()) return s;
        }
        FoldBatch(moments, config.momentum(), state.mutable_stats());
        state.set_batches_observed(state.batches_observed() + 1);
        const absl::Time now = absl::Now();
        Touch(now, &state);
        s = txn.PutUnit(MakeRow(*record, position));
        if (!s.ok()) return s;
        stats = state.stats();
        return txn.Touch(now);
      });
  if (!status.ok()) return FromStore(status, ref.session_id());
  return stats;
}

absl::StatusOr<StreamedBatch> SessionManager::BeginObserveStream(
    const Principal& caller, const v1::UnitRef& ref,
    const TensorView& declared) {
  absl::Status allowed = Authorize(caller, ref.session_id());
  if (!allowed.ok()) return allowed;
  StreamedBatch batch;
  batch.label_ = UnitLabel(ref.unit(), ref.session_id());
  absl::StatusOr<v1::UnitConfig> config =
      ObservableConfig(ref, batch.label_, declared);
  if (!config.ok()) return config.status();
  batch.ref_ = ref;
  batch.config_ = *std::move(config);
  absl::StatusOr<ChannelLayout> layout =
      UnitLayout(batch.config_, declared, batch.label_);
  if (!layout.ok()) return layout.status();
  batch.layout_ = *layout;
  batch.elements_ = declared.elements;
  if (batch.config_.granularity() == v1::CHANNEL) {
    batch.row_elements_ = layout->channels * layout->inner;
  }
  absl::StatusOr<ResolvedActivation> shape =
      StoredShape(*engine_, batch.config_, batch.label_);
  if (!shape.ok()) return shape.status();
  batch.shape_ = *std::move(shape);
  return batch;
}

absl::Status SessionManager::ObserveStreamChunk(StreamedBatch* batch,
                                                const float* x, int64_t n,
                                                float* output) {
  if (n <= 0 || n % batch->row_elements_ != 0) {
    return absl::InternalError(absl::StrCat("observe stream: ", n,
                                            " elements are not whole rows of ",
                                            batch->row_elements_));
  }
  const bool per_channel = batch->config_.granularity() == v1::CHANNEL;
  const ChannelLayout layout =
      per_channel ? ChannelLayout{n / batch->row_elements_,
                                  batch->layout_.channels, batch->layout_.inner}
                  : FlatLayout(n);
  absl::Status status = batch->moments_.Add(layout, per_channel, x);
  if (!status.ok()) return WithField(status, "input");
  return engine_->Forward(batch->shape_, {n}, x, output);
}

absl::StatusOr<v1::RunningStats> SessionManager::FinishObserveStream(
    const StreamedBatch& batch) {
  absl::StatusOr<BatchMoments> moments = batch.moments_.Moments();
  if (!moments.ok()) return WithField(moments.status(), "input");
  // The chunks are gone, so a config an import changed meanwhile cannot be
  // applied to them: the batch is refused rather than folded under the
  // wrong config.
  return FoldObserved(batch.ref_, batch.label_, batch.config_, *moments,
                      [&batch](const v1::UnitConfig&) {
                        return absl::AbortedError(absl::StrCat(
                            batch.label_,
                            " was replaced while its batch streamed in; "
                            "nothing was folded, send the batch again"));
                      });
}

absl::StatusOr<v1::FitBoundariesResponse> SessionManager::FitBoundaries(
    const Principal& caller, const v1::FitBoundariesRequest& request) {
  absl::Status allowed = Authorize(caller, request.session_id());
  if (!allowed.ok()) return allowed;
  std::optional<double> multiplier;
  if (request.has_sigma_multiplier()) {
    multiplier = request.sigma_multiplier();
    if (!std::isfinite(*multiplier) || *multiplier <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sigma_multiplier: ", *multiplier, " must be finite and > 0"));
    }
  }
  const std::string& session = request.session_id();
  const absl::Time now = absl::Now();
  v1::FitBoundariesResponse out;
  absl::Status status = store_->Update(session, [&](SessionTransaction& txn) {
    out.Clear();
    std::vector<UnitRow> rows;
    if (!request.unit().empty()) {
      absl::StatusOr<std::optional<UnitRow>> row = txn.LockUnit(request.unit());
      if (!row.ok()) return row.status();
      if (!row->has_value()) return UnitNotFound(request.unit(), session);
      rows.push_back(**std::move(row));
    } else {
      // Every unit at once: all their locks are held while the batch is
      // computed and committed, so it applies atomically.
      absl::StatusOr<std::vector<UnitRow>> all = txn.LockUnits();
      if (!all.ok()) return all.status();
      rows = *std::move(all);
    }
    std::vector<UnitRow> fitted;
    for (const UnitRow& row : rows) {
      absl::StatusOr<session::UnitRecord> record = ParseUnit(row, session);
      if (!record.ok()) return record.status();
      v1::Unit& state = *record->mutable_unit();
      const std::string label = UnitLabel(row.name, session);
      if (state.phase() != v1::STATISTICS) {
        if (request.unit().empty()) continue;
        return absl::FailedPreconditionError(absl::StrCat(
            label, " is already in phase ", v1::Phase_Name(state.phase()),
            "; FitBoundaries realigns units in phase STATISTICS"));
      }
      absl::Status s = FitInPlace(*engine_, multiplier, now, label, &state);
      if (!s.ok()) return s;
      fitted.push_back(MakeRow(*record, row.position));
      *out.add_units() = FittedProto(state);
    }
    for (const UnitRow& row : fitted) {
      absl::Status s = txn.PutUnit(row);
      if (!s.ok()) return s;
    }
    return fitted.empty() ? absl::OkStatus() : txn.Touch(now);
  });
  if (!status.ok()) return FromStore(status, session);
  return out;
}

absl::StatusOr<v1::Unit> SessionManager::GetUnit(const Principal& caller,
                                                 const v1::UnitRef& ref) {
  absl::Status allowed = Authorize(caller, ref.session_id());
  if (!allowed.ok()) return allowed;
  absl::StatusOr<StoredUnit> unit = ReadUnit(ref);
  if (!unit.ok()) return unit.status();
  return std::move(*unit->record.mutable_unit());
}

absl::StatusOr<SessionUnitParams> SessionManager::GetUnitParameters(
    const Principal& caller, const v1::UnitRef& ref) {
  absl::StatusOr<v1::Unit> unit = GetUnit(caller, ref);
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
    const Principal& caller, const v1::SampleCurveRequest& request) {
  const int points =
      request.points() == 0 ? kDefaultCurvePoints : request.points();
  if (points < 2 || points > kMaxCurvePoints) {
    return absl::InvalidArgumentError(absl::StrCat(
        "points: ", points, " is outside [2, ", kMaxCurvePoints, "]"));
  }
  absl::StatusOr<v1::Unit> unit = GetUnit(caller, request.unit());
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
    const Principal& caller, const v1::UnitRef& ref) {
  absl::StatusOr<v1::Unit> unit = GetUnit(caller, ref);
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
    const Principal& caller, const v1::ImportUnitRequest& request) {
  absl::Status allowed = Authorize(caller, request.session_id());
  if (!allowed.ok()) return allowed;
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

  const std::string& session = request.session_id();
  const std::string name = filled.name();
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
  status = store_->Update(session, [&](SessionTransaction& txn) {
    // The position first: it serialises additions (see AddUnit).
    absl::StatusOr<int64_t> position = txn.NextPosition();
    if (!position.ok()) return position.status();
    absl::StatusOr<std::optional<UnitRow>> existing = txn.LockUnit(name);
    if (!existing.ok()) return existing.status();
    unit.set_version(1);
    if (existing->has_value()) {
      if (!request.replace()) {
        return absl::AlreadyExistsError(
            absl::StrCat("unit ", Quote(name), " already exists in session ",
                         Quote(session), "; set replace to overwrite it"));
      }
      *position = (*existing)->position;
      unit.set_version((*existing)->version + 1);
      absl::StatusOr<std::optional<session::RunRecord>> open =
          OpenTrainStepsRun(txn, session, name);
      if (!open.ok()) return open.status();
      if (open->has_value()) {
        EndRun(v1::Run::COMPLETED, "", now, &**open);
        absl::Status s = txn.PutRun(MakeRunRow(**open));
        if (!s.ok()) return s;
      }
    } else {
      absl::Status s = CheckRoomForUnit(session, *position);
      if (!s.ok()) return s;
    }
    absl::Status s = txn.PutUnit(MakeRow(record, *position));
    if (!s.ok()) return s;
    return txn.SetUpdateTime(now);
  });
  if (!status.ok()) return FromStore(status, session);
  return unit;
}

absl::Status SessionManager::TrainStep(const Principal& caller,
                                       const v1::TrainStepRequest& request,
                                       v1::TrainStepResponse* response) {
  const v1::UnitRef& ref = request.unit();
  absl::Status allowed = Authorize(caller, ref.session_id());
  if (!allowed.ok()) return allowed;
  const std::string label = UnitLabel(ref.unit(), ref.session_id());
  // Read first so a call in the wrong phase is told so, whatever its input;
  // checked again under the lock below.
  absl::StatusOr<StoredUnit> read = ReadUnit(ref);
  if (!read.ok()) return read.status();
  absl::Status status = CheckTrainingPhase(read->record.unit(), label);
  if (!status.ok()) return status;
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
  status = CheckFinite(input->data, input->elements);
  if (!status.ok()) return WithField(status, "input");
  status = CheckFinite(grad_output->data, grad_output->elements);
  if (!status.ok()) return WithField(status, "grad_output");
  if (request.has_loss() && !std::isfinite(request.loss())) {
    return absl::InvalidArgumentError(
        absl::StrCat("loss: ", request.loss(), " is not finite"));
  }
  absl::StatusOr<ChannelLayout> layout =
      UnitLayout(read->record.unit().config(), *input, label);
  if (!layout.ok()) return layout.status();
  float* grad_input =
      PrepareTensor(input->shape, response->mutable_grad_input());

  PwluParams grad;
  int64_t training_steps = 0;
  std::string run_id;
  status = store_->Update(ref.session_id(), [&](SessionTransaction& txn) {
    int64_t position = 0;
    absl::StatusOr<session::UnitRecord> record =
        LockRecord(txn, ref.session_id(), ref.unit(), &position);
    if (!record.ok()) return record.status();
    absl::Status s = CheckTrainingPhase(record->unit(), label);
    if (!s.ok()) return s;
    const v1::UnitConfig& config = record->unit().config();
    if (!SameConfig(config, read->record.unit().config())) {
      // An import replaced the unit since the read.
      absl::StatusOr<ChannelLayout> replaced =
          UnitLayout(config, *input, label);
      if (!replaced.ok()) return replaced.status();
      layout = *std::move(replaced);
    }
    // Filled before mutable_training() marks the record as having one.
    session::TrainingState filled = UnitTraining(*record);
    session::TrainingState& training = *record->mutable_training();
    training = std::move(filled);
    absl::StatusOr<v1::OptimizerSettings> optimizer = MergeOptimizerSettings(
        training.optimizer(), request.optimizer(), "optimizer");
    if (!optimizer.ok()) return optimizer.status();
    const v1::TrainableParameters trainable =
        MergeTrainable(training.trainable(), request.trainable());
    if (optimizer->kind() != training.optimizer().kind()) {
      training.clear_state();
    }

    PwluParams params = PwluParamsFromProto(record->unit().parameters());
    const absl::Time kernel_start = absl::Now();
    s = PwluBackward(params, *layout, input->data, grad_output->data,
                     grad_input, &grad);
    response->set_kernel_ns(
        absl::ToInt64Nanoseconds(absl::Now() - kernel_start));
    if (!s.ok()) return s;
    OptimizerState state = OptimizerStateFromProto(training.state());
    s = ApplyOptimizerStep(ToOptimizerConfig(*optimizer),
                           ToTrainableGroups(trainable), config.min_width(),
                           grad, &params, &state);
    if (!s.ok()) return s;

    const absl::Time now = absl::Now();
    *training.mutable_optimizer() = *optimizer;
    *training.mutable_trainable() = trainable;
    OptimizerStateToProto(state, training.mutable_state());
    v1::Unit& updated = *record->mutable_unit();
    EncodePwluParams(params, config.granularity(),
                     updated.mutable_parameters());
    updated.set_training_steps(updated.training_steps() + 1);
    Touch(now, &updated);

    absl::StatusOr<std::optional<session::RunRecord>> run =
        OpenTrainStepsRun(txn, ref.session_id(), ref.unit());
    if (!run.ok()) return run.status();
    using ::google::protobuf::util::MessageDifferencer;
    if (run->has_value() &&
        !(MessageDifferencer::Equals((*run)->run().optimizer(), *optimizer) &&
          MessageDifferencer::Equals((*run)->run().trainable(), trainable))) {
      EndRun(v1::Run::COMPLETED, "", now, &**run);
      s = txn.PutRun(MakeRunRow(**run));
      if (!s.ok()) return s;
      run->reset();
    }
    if (!run->has_value()) {
      absl::StatusOr<int64_t> sequence = txn.NextRunSequence();
      if (!sequence.ok()) return sequence.status();
      *run = NewRun(*sequence, ref.session_id(), ref.unit(),
                    v1::Run::TRAIN_STEPS, *optimizer, trainable, now);
    }
    v1::Run& current = *(*run)->mutable_run();
    current.set_steps(current.steps() + 1);
    if (request.has_loss()) {
      OfferHistoryPoint(
          current.steps(), request.loss(),
          absl::ToDoubleSeconds(now - FromTimestamp(current.start_time())),
          &**run);
    }
    s = txn.PutRun(MakeRunRow(**run));
    if (!s.ok()) return s;
    s = txn.PutUnit(MakeRow(*record, position));
    if (!s.ok()) return s;
    training_steps = updated.training_steps();
    run_id = current.id();
    return txn.Touch(now);
  });
  if (!status.ok()) return FromStore(status, ref.session_id());
  *response->mutable_grad_norms() = ComputeGradientNorms(grad);
  response->set_training_steps(training_steps);
  response->set_run_id(run_id);
  return absl::OkStatus();
}

absl::StatusOr<v1::FitSummary> SessionManager::Fit(
    const Principal& caller, const v1::FitRequest& request,
    absl::FunctionRef<bool()> cancelled,
    absl::FunctionRef<bool(const v1::FitProgress&)> progress) {
  const v1::UnitRef& ref = request.unit();
  absl::Status allowed = Authorize(caller, ref.session_id());
  if (!allowed.ok()) return allowed;
  const absl::Time start = absl::Now();
  std::unique_ptr<FitTrainer> trainer;
  session::RunRecord run;
  int64_t version = 0;
  absl::Status status =
      store_->Update(ref.session_id(), [&](SessionTransaction& txn) {
        int64_t position = 0;
        absl::StatusOr<session::UnitRecord> record =
            LockRecord(txn, ref.session_id(), ref.unit(), &position);
        if (!record.ok()) return record.status();
        absl::Status s = CheckTrainingPhase(
            record->unit(), UnitLabel(ref.unit(), ref.session_id()));
        if (!s.ok()) return s;
        absl::StatusOr<std::unique_ptr<FitTrainer>> created =
            FitTrainer::Create(request, record->unit(),
                               UnitTraining(*record).trainable(), engine_);
        if (!created.ok()) return created.status();
        trainer = *std::move(created);
        version = record->unit().version();
        absl::StatusOr<std::optional<session::RunRecord>> open =
            OpenTrainStepsRun(txn, ref.session_id(), ref.unit());
        if (!open.ok()) return open.status();
        if (open->has_value()) {
          EndRun(v1::Run::COMPLETED, "", start, &**open);
          s = txn.PutRun(MakeRunRow(**open));
          if (!s.ok()) return s;
        }
        absl::StatusOr<int64_t> sequence = txn.NextRunSequence();
        if (!sequence.ok()) return sequence.status();
        run = NewRun(*sequence, ref.session_id(), ref.unit(), v1::Run::FIT,
                     trainer->settings().optimizer(),
                     trainer->settings().trainable(), start);
        *run.mutable_run()->mutable_fit() = trainer->settings();
        s = txn.PutRun(MakeRunRow(run));
        if (!s.ok()) return s;
        return txn.Touch(start);
      });
  if (!status.ok()) return FromStore(status, ref.session_id());

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
          CommitFit(*store_, ref.session_id(), ref.unit(), trainer->params(),
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
  status = CommitFit(*store_, ref.session_id(), ref.unit(), trainer->params(),
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
    const Principal& caller, const v1::ListRunsRequest& request) {
  const std::string& session = request.session_id();
  absl::Status allowed = Authorize(caller, session);
  if (!allowed.ok()) return allowed;
  if (!request.unit().empty()) {
    absl::StatusOr<std::optional<UnitRow>> unit =
        store_->GetUnit(session, request.unit());
    if (!unit.ok()) return unit.status();
    if (!unit->has_value()) return UnitMissing(session, request.unit());
  }
  absl::StatusOr<std::vector<RunRow>> rows =
      store_->ListRuns(session, request.unit());
  if (!rows.ok()) return rows.status();
  if (rows->empty() && request.unit().empty()) {
    // No runs, or no session.
    absl::StatusOr<std::optional<StoredSession>> stored =
        store_->GetSession(session);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return SessionNotFound(session);
  }
  v1::ListRunsResponse out;
  for (const RunRow& row : *rows) {
    absl::StatusOr<session::RunRecord> record = ParseRun(row, session);
    if (!record.ok()) return record.status();
    v1::Run* run = out.add_runs();
    run->Swap(record->mutable_run());
    run->clear_history();
  }
  return out;
}

absl::StatusOr<v1::Run> SessionManager::GetRun(
    const Principal& caller, const v1::GetRunRequest& request) {
  const std::string& session = request.session_id();
  absl::Status allowed = Authorize(caller, session);
  if (!allowed.ok()) return allowed;
  absl::StatusOr<std::optional<RunRow>> row =
      store_->GetRun(session, request.run_id());
  if (!row.ok()) return row.status();
  if (!row->has_value()) {
    absl::StatusOr<std::optional<StoredSession>> stored =
        store_->GetSession(session);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) return SessionNotFound(session);
    return absl::NotFoundError(absl::StrCat("run ", Quote(request.run_id()),
                                            " not found in session ",
                                            Quote(session)));
  }
  absl::StatusOr<session::RunRecord> record = ParseRun(**row, session);
  if (!record.ok()) return record.status();
  return std::move(*record->mutable_run());
}

}  // namespace actlab
