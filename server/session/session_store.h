// Copyright actlab authors.
//
// SessionStore persists sessions and their units. The SessionManager keeps
// the live state in memory and writes every change through a store before
// acknowledging it, so a store only needs to load everything at start-up
// and apply changes atomically and durably: when a mutating call returns OK
// the change survives a crash (kill -9, power loss within the backend's
// guarantees); when it fails nothing was changed.
//
// A store treats unit state as an opaque blob (the manager's UnitRecord
// proto), so backends need no knowledge of the PWLU. Implementations are
// thread-safe.

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

struct StoredSession {
  SessionRow session;
  std::vector<UnitRow> units;  // by position
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

  // Inserts or overwrites `units` of an existing session, and sets the
  // session's update_time when given, in one transaction. Only the rows of
  // the units passed are written.
  virtual absl::Status PutUnits(
      absl::string_view session_id, absl::Span<const UnitRow> units,
      std::optional<absl::Time> session_update_time) = 0;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_SESSION_STORE_H_
