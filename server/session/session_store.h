// Copyright actlab authors.
//
// SessionStore persists sessions, their units and training runs, and is the
// only place they live: the SessionManager keeps no copy between calls, so
// any number of server processes on one store see the same state. Every
// mutating call is one transaction: when it returns OK the change is
// durable (kill -9, power loss within the backend's guarantees); when it
// fails nothing was changed.
//
// A store treats unit state and training runs as opaque blobs (the
// manager's UnitRecord and RunRecord protos), so backends need no knowledge
// of the PWLU.
//
// Consistency across processes comes from the database, not from the
// caller: Update runs a read-compute-write on a session inside one
// transaction that holds row locks on whatever it read through LockUnit or
// LockUnits until it commits, so two processes updating one unit at once
// serialise and neither update is lost. Plain reads (GetSession, GetUnit,
// ListSessions, ListRuns, GetRun) take no lock and never wait for an
// Update's computation on PostgreSQL (MVCC); on SQLite they wait for the
// one connection, i.e. for at most one transaction.
//
// Errors: ResourceExhausted when the store is full (no room left for a
// write), Unavailable for other conditions that may pass (lost connection,
// busy, I/O, pool exhausted), Internal otherwise, all prefixed "session
// store:".
// Implementations are thread-safe.

#ifndef ACTLAB_SERVER_SESSION_SESSION_STORE_H_
#define ACTLAB_SERVER_SESSION_SESSION_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
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
  // The principal that created the session ("" for anonymous); never
  // changes after creation.
  std::string owner;
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
  std::vector<UnitRow> units;  // by position
};

// A running run and the session it belongs to.
struct SessionRun {
  std::string session_id;
  RunRow run;
};

// What an Update's body may do, all inside its one transaction on one
// session. Locks are held until the transaction ends.
class SessionTransaction {
 public:
  virtual ~SessionTransaction() = default;

  // Locks unit `name` and reads it; nullopt when the session has none.
  virtual absl::StatusOr<std::optional<UnitRow>> LockUnit(
      absl::string_view name) = 0;
  // Locks every unit of the session, in position order (a stable order, so
  // two such transactions cannot deadlock), and reads them.
  virtual absl::StatusOr<std::vector<UnitRow>> LockUnits() = 0;
  // Locks the session's row and returns one past its largest unit position.
  // Taken before adding a unit so concurrent additions serialise: a unit
  // another transaction added is visible to reads made after this call.
  virtual absl::StatusOr<int64_t> NextPosition() = 0;
  // Reserves the session's next run sequence number (1, 2, ...). Each
  // number is handed out once across all processes, gaps allowed.
  virtual absl::StatusOr<int64_t> NextRunSequence() = 0;
  // The runs of `unit` marked running, by sequence.
  virtual absl::StatusOr<std::vector<RunRow>> RunningRuns(
      absl::string_view unit) = 0;

  // Insert or overwrite.
  virtual absl::Status PutUnit(const UnitRow& unit) = 0;
  virtual absl::Status PutRun(const RunRow& run) = 0;
  virtual absl::Status SetUpdateTime(absl::Time update_time) = 0;
  // Records a change at `now` for the idle-session TTL: sets the session's
  // update_time to `now` only when it is more than kTouchResolution older,
  // so that updates of different units of one session rarely write (and
  // lock) the session's row.
  virtual absl::Status Touch(absl::Time now) = 0;
};

// How far a session's stored update_time may lag the latest Touch.
inline constexpr absl::Duration kTouchResolution = absl::Seconds(1);

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // Adds a new session and its units in one transaction, unless the store
  // holds `max_sessions` or more already: then ResourceExhausted
  // (TooManySessions) and nothing changes. Creators are serialised (in
  // every process on the store) from the count to the commit, so the limit
  // holds across replicas.
  virtual absl::Status CreateSession(const SessionRow& session,
                                     absl::Span<const UnitRow> units,
                                     int64_t max_sessions) = 0;

  // Removes a session with its units and runs in one transaction; NotFound
  // (IsNoSuchSession) when there is no such session.
  virtual absl::Status DeleteSession(absl::string_view session_id) = 0;

  // Removes, in one transaction, every session whose update_time is before
  // `cutoff`, with its units and runs; returns how many. A session an
  // Update touches concurrently is either removed before the Update (which
  // then finds no session) or kept.
  virtual absl::StatusOr<int64_t> DeleteSessionsUpdatedBefore(
      absl::Time cutoff) = 0;

  // Runs `body` in one transaction on an existing session and commits when
  // it returns OK; when it fails the transaction is rolled back and its
  // status returned. NotFound (IsNoSuchSession) without calling `body` when
  // there is no such session. A backend may run `body` again after a
  // serialization failure, deadlock or lost connection, so `body` must
  // leave nothing behind but what it writes through the transaction and
  // what the next run overwrites.
  virtual absl::Status Update(
      absl::string_view session_id,
      absl::FunctionRef<absl::Status(SessionTransaction&)> body) = 0;

  // Reads without locks.
  virtual absl::StatusOr<std::optional<StoredSession>> GetSession(
      absl::string_view session_id) = 0;
  // The session's row without its units; nullopt when there is none.
  virtual absl::StatusOr<std::optional<SessionRow>> GetSessionRow(
      absl::string_view session_id) = 0;
  // Ordered by (create_time, id).
  virtual absl::StatusOr<std::vector<StoredSession>> ListSessions() = 0;
  // nullopt when the session or the unit does not exist.
  virtual absl::StatusOr<std::optional<UnitRow>> GetUnit(
      absl::string_view session_id, absl::string_view unit) = 0;
  // The runs of a session by sequence, only those of `unit` unless it is
  // empty. An unknown session has no runs.
  virtual absl::StatusOr<std::vector<RunRow>> ListRuns(
      absl::string_view session_id, absl::string_view unit) = 0;
  // One run, or nullopt when the session has no run `run_id`.
  virtual absl::StatusOr<std::optional<RunRow>> GetRun(
      absl::string_view session_id, absl::string_view run_id) = 0;
  // Every run marked running, in all sessions.
  virtual absl::StatusOr<std::vector<SessionRun>> RunningRuns() = 0;
};

// The NotFound a store returns for a missing session.
absl::Status NoSuchSession(absl::string_view session_id);
bool IsNoSuchSession(const absl::Status& status);
// The ResourceExhausted a store returns when it holds max_sessions.
absl::Status TooManySessions(int64_t max_sessions);

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_SESSION_STORE_H_
