// Copyright actlab authors.
//
// SessionStore persists sessions and their units. The SessionManager keeps
// the live state in memory and writes every change through a store before
// acknowledging it, so a store only needs to load everything at start-up
// and apply changes atomically and durably: when a mutating call returns OK
// the change survives a crash (kill -9, power loss within the backend's
// guarantees); when it fails nothing was changed.
//
// A store treats unit state and training runs as opaque blobs (the
// manager's UnitRecord and RunRecord protos), so backends need no knowledge
// of the PWLU. Runs are the one exception to "load everything": they grow
// without bound (one per Fit or TrainStep stretch, each with a loss
// history), so only the runs still marked running are loaded at start-up
// and the rest are read on demand. Implementations are thread-safe.

#ifndef ACTLAB_SERVER_SESSION_SESSION_STORE_H_
#define ACTLAB_SERVER_SESSION_SESSION_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace actlab {

struct SessionRow {
  std::string id;
  std::string display_name;
  absl::Time create_time;
  absl::Time update_time;
};

struct UnitRow {
  std::string name;
  int64_t position = 0;  // order of the unit within its session
  int64_t version = 0;   // mirrors the version inside `state`
  std::string state;     // serialized session::UnitRecord
};

struct RunRow {
  std::string id;
  int64_t sequence = 0;  // order of the run within its session, from 1
  std::string unit;
  bool running = false;  // mirrors the state inside `record`
  std::string record;    // serialized session::RunRecord
};

struct StoredSession {
  SessionRow session;
  std::vector<UnitRow> units;        // by position
  std::vector<RunRow> running_runs;  // by sequence
  int64_t last_run_sequence = 0;     // 0 when the session has no runs
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // Every session with its units, sessions ordered by (create_time, id).
  virtual absl::StatusOr<std::vector<StoredSession>> LoadAll() = 0;

  // Adds a new session and its units in one transaction.
  virtual absl::Status CreateSession(const SessionRow& session,
                                     absl::Span<const UnitRow> units) = 0;

  // Removes a session and its units in one transaction.
  virtual absl::Status DeleteSession(absl::string_view session_id) = 0;

  // Inserts or overwrites `units` and `runs` of an existing session, and
  // sets the session's update_time when given, in one transaction. Only the
  // rows passed are written.
  virtual absl::Status Put(absl::string_view session_id,
                           absl::Span<const UnitRow> units,
                           absl::Span<const RunRow> runs,
                           std::optional<absl::Time> session_update_time) = 0;

  // Put without runs.
  absl::Status PutUnits(absl::string_view session_id,
                        absl::Span<const UnitRow> units,
                        std::optional<absl::Time> session_update_time) {
    return Put(session_id, units, {}, session_update_time);
  }

  // The runs of a session by sequence, only those of `unit` unless it is
  // empty. An unknown session has no runs.
  virtual absl::StatusOr<std::vector<RunRow>> ListRuns(
      absl::string_view session_id, absl::string_view unit) = 0;

  // One run, or nullopt when the session has no run `run_id`.
  virtual absl::StatusOr<std::optional<RunRow>> GetRun(
      absl::string_view session_id, absl::string_view run_id) = 0;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_SESSION_STORE_H_
