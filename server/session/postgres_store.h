// Copyright actlab authors.
//
// SessionStore on PostgreSQL through libpq, for server replicas sharing one
// database.
//
// Locking (the scheme SessionStore::Update asks for): pessimistic row locks,
// chosen over optimistic version checks because every mutating unit call
// (Observe above all) is short and two replicas often hit the same unit at
// once; under an optimistic scheme those calls would mostly retry, under
// locks they simply queue. An Update runs in READ COMMITTED:
//   1. SELECT ... FOR KEY SHARE on the session row: the session cannot be
//      deleted under the transaction, and a delete that won waits for it.
//   2. LockUnit / LockUnits: SELECT ... FOR UPDATE on the unit rows (all of
//      a session's in position order).
//   3. NextPosition / NextRunSequence / SetUpdateTime: FOR NO KEY UPDATE on
//      the session row (which does not conflict with step 1).
// CreateSession takes a transaction-level advisory lock before it counts
// the sessions, so creators in all replicas serialise and max_sessions
// holds. Reads take no locks (MVCC), so they never wait for an Update;
// GetSession and ListSessions read in one REPEATABLE READ snapshot. Lock orders
// differ in one case only (an import that replaces a unit against a TrainStep
// opening a run on it); PostgreSQL detects that deadlock and the loser is
// retried.
//
// Failures: a transaction that fails with a serialization failure or
// deadlock (SQLSTATE 40001, 40P01), or on a lost connection before COMMIT
// was sent, is rolled back by the server and run again (body included) on
// a reset connection, after an exponential backoff, at most kMaxAttempts
// times; then Unavailable. A connection lost while COMMIT is in flight is
// not retried (the commit may have happened) and is Unavailable: the caller
// was never told OK, and the row is either fully written or untouched.
//
// Pool: at most `pool_size` connections, opened on demand; a call waits up
// to kAcquireTimeout for a free one, then fails Unavailable. Lock waits are
// bounded by lock_timeout (Unavailable when exceeded).
//
// Schema: the actlab_schema table holds the version; Open creates or
// migrates the schema under an advisory lock, so replicas starting together
// do it once, and refuses a newer version (1 -> 2 adds the session's owner,
// "" for sessions that predate it).

#ifndef ACTLAB_SERVER_SESSION_POSTGRES_STORE_H_
#define ACTLAB_SERVER_SESSION_POSTGRES_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/session/session_store.h"

namespace actlab {

namespace postgres_internal {
class Connection;
}  // namespace postgres_internal

class PostgresStore final : public SessionStore {
 public:
  static constexpr int kMaxAttempts = 6;
  static constexpr absl::Duration kAcquireTimeout = absl::Seconds(10);

  // Connects to `url` (postgres://... or postgresql://..., libpq's URI
  // syntax) and creates or migrates the schema. pool_size >= 1.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(
      const std::string& url, int pool_size);

  // True for the URLs Open accepts.
  static bool IsUrl(absl::string_view store);

  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

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
  using Connection = postgres_internal::Connection;

  PostgresStore(std::string url, int pool_size);

  // Runs `attempt` on a pooled connection, again after a retryable failure
  // (see the header comment).
  absl::Status WithRetry(absl::FunctionRef<absl::Status(Connection&)> attempt);
  // WithRetry for calls with a result: each attempt fills a fresh T, and the
  // successful attempt's is returned.
  template <class T>
  absl::StatusOr<T> WithRetryResult(
      absl::FunctionRef<absl::Status(Connection&, T&)> read) {
    T out;
    absl::Status status = WithRetry([&](Connection& c) {
      out = T();
      return read(c, out);
    });
    if (!status.ok()) return status;
    return out;
  }
  absl::StatusOr<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> connection);

  const std::string url_;
  const int pool_size_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle and lent out
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_POSTGRES_STORE_H_
