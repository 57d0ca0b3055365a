// Copyright actlab authors.
//
// SessionStore on one SQLite file through the libsqlite3 C API.
//
// Durability: WAL journal with synchronous=FULL, so every committed
// transaction is fsynced before the call returns; one transaction per
// mutating call. Schema version lives in PRAGMA user_version; a file written
// by a newer schema is refused rather than misread, an older one is migrated
// in place when opened (1 -> 2 adds the runs table, 2 -> 3 the session's
// run sequence counter, 3 -> 4 the session's owner, "" for sessions that
// predate it). Errors are ResourceExhausted when the file cannot grow (disk
// full, quota, file-size limit), Unavailable for other conditions that may
// pass (busy, I/O, cannot open) and Internal otherwise, all carrying
// SQLite's message.
//
// Locking: one connection shared under a mutex, and every Update a BEGIN
// IMMEDIATE transaction, which takes SQLite's database-wide write lock up
// front. Updates therefore serialise (in this process by the mutex, against
// other processes on the file by the lock), which is the row lock the
// interface asks for, taken coarsely; LockUnit is a plain read. An Update's
// body runs once. CreateSession counts the sessions inside its BEGIN
// IMMEDIATE transaction, so the count holds until its insert commits.

#ifndef ACTLAB_SERVER_SESSION_SQLITE_STORE_H_
#define ACTLAB_SERVER_SESSION_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/session/session_store.h"

struct sqlite3;

namespace actlab {

class SqliteStore final : public SessionStore {
 public:
  // Opens or creates the database at `path`, creating missing parent
  // directories and the schema. Unavailable if this process cannot write
  // the file: a store it could only read would fail every update.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(
      const std::string& path);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  absl::Status CreateSession(const SessionRow& session,
                             absl::Span<const UnitRow> units,
                             int64_t max_sessions) override;
  absl::Status DeleteSession(absl::string_view session_id) override;
  absl::StatusOr<int64_t> DeleteSessionsUpdatedBefore(
      absl::Time cutoff) override;
  absl::Status Update(
      absl::string_view session_id,
      absl::FunctionRef<absl::Status(SessionTransaction&)> body) override;
  absl::StatusOr<std::optional<StoredSession>> GetSession(
      absl::string_view session_id) override;
  absl::StatusOr<std::optional<SessionRow>> GetSessionRow(
      absl::string_view session_id) override;
  absl::StatusOr<std::vector<StoredSession>> ListSessions() override;
  absl::StatusOr<std::optional<UnitRow>> GetUnit(
      absl::string_view session_id, absl::string_view unit) override;
  absl::StatusOr<std::vector<RunRow>> ListRuns(absl::string_view session_id,
                                               absl::string_view unit) override;
  absl::StatusOr<std::optional<RunRow>> GetRun(
      absl::string_view session_id, absl::string_view run_id) override;
  absl::StatusOr<std::vector<SessionRun>> RunningRuns() override;

 private:
  explicit SqliteStore(sqlite3* db);

  absl::StatusOr<std::optional<SessionRow>> ReadSessionRow(
      absl::string_view session_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_SQLITE_STORE_H_
