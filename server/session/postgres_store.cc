// Copyright actlab authors.

#include "server/session/postgres_store.h"

#include <libpq-fe.h>

#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace actlab {
namespace postgres_internal {
namespace {

constexpr int64_t kSchemaVersion = 2;
// Any constant, the same in every replica: serialises schema set-up.
constexpr char kSchemaLockKey[] = "7253001";
// Likewise, serialises session creation so the max_sessions count holds.
constexpr char kCreateSessionLockKey[] = "7253002";

constexpr char kSchemaV1[] = R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  create_time_ns BIGINT NOT NULL,
  update_time_ns BIGINT NOT NULL,
  last_run_sequence BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE units (
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  position BIGINT NOT NULL,
  version BIGINT NOT NULL,
  state BYTEA NOT NULL,
  PRIMARY KEY (session_id, name)
);
CREATE TABLE runs (
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  run_id TEXT NOT NULL,
  sequence BIGINT NOT NULL,
  unit TEXT NOT NULL,
  running BOOLEAN NOT NULL,
  record BYTEA NOT NULL,
  PRIMARY KEY (session_id, run_id)
);
CREATE UNIQUE INDEX runs_by_sequence ON runs (session_id, sequence);
CREATE INDEX runs_running ON runs (session_id, unit) WHERE running;
INSERT INTO actlab_schema (version) VALUES (1);
)sql";

// Version 2 records who created each session; sessions from before had no
// owner and belong to the anonymous principal. A new database is created
// as version 1 and migrated, so there is one way to reach the current
// schema.
constexpr char kMigrateV1ToV2[] = R"sql(
ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
INSERT INTO actlab_schema (version) VALUES (2);
)sql";

constexpr char kSessionColumns[] =
    "id, display_name, create_time_ns, update_time_ns, owner";

constexpr char kUnitColumns[] = "name, position, version, state";
constexpr char kRunColumns[] = "run_id, sequence, unit, running, record";

// A parameter: text, or bytes sent in binary format (BYTEA).
struct Param {
  Param(absl::string_view text) : value(text) {}          // NOLINT: implicit
  Param(const std::string& text) : value(text) {}         // NOLINT: implicit
  Param(const char* text) : value(text) {}                // NOLINT: implicit
  Param(int64_t number) : value(absl::StrCat(number)) {}  // NOLINT: implicit
  static Param Bytes(absl::string_view bytes) {
    Param p(bytes);
    p.binary = true;
    return p;
  }
  std::string value;
  bool binary = false;
};

// A query's rows, in binary format. Integer columns are BIGINT (or INTEGER).
class Result {
 public:
  explicit Result(PGresult* result) : result_(result) {}
  ~Result() { PQclear(result_); }
  Result(Result&& other) : result_(std::exchange(other.result_, nullptr)) {}
  Result& operator=(Result&& other) {
    std::swap(result_, other.result_);
    return *this;
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  PGresult* raw() const { return result_; }
  int rows() const { return PQntuples(result_); }
  int64_t affected() const {
    int64_t n = 0;
    return absl::SimpleAtoi(PQcmdTuples(result_), &n) ? n : 0;
  }
  std::string Bytes(int row, int col) const {
    return std::string(PQgetvalue(result_, row, col),
                       PQgetlength(result_, row, col));
  }
  int64_t Int(int row, int col) const {
    const auto* p =
        reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, col));
    const int n = PQgetlength(result_, row, col);
    // Network byte order, sign-extended from the first byte.
    int64_t value = n > 0 && (p[0] & 0x80) ? -1 : 0;
    for (int i = 0; i < n; ++i) value = (value << 8) | p[i];
    return value;
  }
  bool Bool(int row, int col) const {
    return PQgetlength(result_, row, col) == 1 &&
           PQgetvalue(result_, row, col)[0] != 0;
  }

 private:
  PGresult* result_;
};

bool IsRetryableState(absl::string_view state) {
  return state == "40001" || state == "40P01";
}

}  // namespace

// One libpq connection. `retry` records whether the last failure may pass
// on a fresh transaction (PostgresStore::WithRetry reads it).
class Connection {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reconnects when the connection was lost; Unavailable if that fails.
  absl::Status Check() {
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    PQreset(conn_);
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    retry = true;
    return absl::UnavailableError(absl::StrCat(
        "session store: cannot reach PostgreSQL: ", PQerrorMessage(conn_)));
  }

  absl::StatusOr<Result> Query(absl::string_view what, const char* sql,
                               std::initializer_list<Param> params = {}) {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const Param& p : params) {
      values.push_back(p.value.data());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    // Text parameters must be NUL-terminated; std::string guarantees it.
    Result result(PQexecParams(conn_, sql, static_cast<int>(values.size()),
                               nullptr, values.data(), lengths.data(),
                               formats.data(), /*resultFormat=*/1));
    const ExecStatusType status = PQresultStatus(result.raw());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      return result;
    }
    const char* state = PQresultErrorField(result.raw(), PG_DIAG_SQLSTATE);
    const std::string message =
        absl::StrCat("session store: ", what, ": ", PQerrorMessage(conn_),
                     state ? absl::StrCat(" (SQLSTATE ", state, ")") : "");
    if (PQstatus(conn_) != CONNECTION_OK) {
      retry = true;
      return absl::UnavailableError(message);
    }
    const absl::string_view code = state ? state : "";
    if (IsRetryableState(code)) {
      retry = true;
      return absl::AbortedError(message);
    }
    // disk_full, like SQLite's full file.
    if (code == "53100") return absl::ResourceExhaustedError(message);
    // Connection exceptions (08), resources (53), operator intervention
    // (57), lock timeouts (55P03): conditions that may pass.
    if (absl::StartsWith(code, "08") || absl::StartsWith(code, "53") ||
        absl::StartsWith(code, "57") || code == "55P03") {
      return absl::UnavailableError(message);
    }
    return absl::InternalError(message);
  }

  absl::Status Exec(absl::string_view what, const char* sql,
                    std::initializer_list<Param> params = {}) {
    return Query(what, sql, params).status();
  }

  // Rolls back whatever transaction is open; harmless when none is.
  void Rollback() {
    if (PQstatus(conn_) == CONNECTION_OK &&
        PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PQclear(PQexec(conn_, "ROLLBACK"));
    }
  }

  PGconn* raw() const { return conn_; }

  bool retry = false;

 private:
  PGconn* const conn_;
};

namespace {

UnitRow ReadUnit(const Result& r, int row) {
  return {r.Bytes(row, 0), r.Int(row, 1), r.Int(row, 2), r.Bytes(row, 3)};
}

RunRow ReadRun(const Result& r, int row) {
  return {r.Bytes(row, 0), r.Int(row, 1), r.Bytes(row, 2), r.Bool(row, 3),
          r.Bytes(row, 4)};
}

SessionRow ReadSession(const Result& r, int row) {
  return {r.Bytes(row, 0), r.Bytes(row, 1), absl::FromUnixNanos(r.Int(row, 2)),
          absl::FromUnixNanos(r.Int(row, 3)), r.Bytes(row, 4)};
}

template <typename Row, typename Read>
std::vector<Row> ReadAll(const Result& r, Read read) {
  std::vector<Row> rows;
  for (int i = 0; i < r.rows(); ++i) rows.push_back(read(r, i));
  return rows;
}

absl::Status PutUnitRow(Connection& c, absl::string_view session_id,
                        const UnitRow& unit) {
  return c.Exec(absl::StrCat("write unit '", unit.name, "'"),
                "INSERT INTO units (session_id, name, position, version, "
                "state) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (session_id, name) DO UPDATE SET "
                "position = excluded.position, version = excluded.version, "
                "state = excluded.state",
                {session_id, unit.name, unit.position, unit.version,
                 Param::Bytes(unit.state)});
}

class PgTransaction final : public SessionTransaction {
 public:
  PgTransaction(Connection& c, absl::string_view session_id)
      : c_(c), session_id_(session_id) {}

  absl::StatusOr<std::optional<UnitRow>> LockUnit(
      absl::string_view name) override {
    absl::StatusOr<Result> r =
        c_.Query("lock unit",
                 absl::StrCat("SELECT ", kUnitColumns,
                              " FROM units WHERE session_id = $1 AND "
                              "name = $2 FOR UPDATE")
                     .c_str(),
                 {session_id_, name});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return std::nullopt;
    return ReadUnit(*r, 0);
  }

  absl::StatusOr<std::vector<UnitRow>> LockUnits() override {
    absl::StatusOr<Result> r =
        c_.Query("lock units",
                 absl::StrCat("SELECT ", kUnitColumns,
                              " FROM units WHERE session_id = $1 "
                              "ORDER BY position, name FOR UPDATE")
                     .c_str(),
                 {session_id_});
    if (!r.ok()) return r.status();
    return ReadAll<UnitRow>(*r, ReadUnit);
  }

  absl::StatusOr<int64_t> NextPosition() override {
    absl::Status s = c_.Exec("lock session",
                             "SELECT 1 FROM sessions WHERE id = $1 "
                             "FOR NO KEY UPDATE",
                             {session_id_});
    if (!s.ok()) return s;
    // A new statement, so a new snapshot: it sees units that transactions
    // which held the session's lock before us added.
    absl::StatusOr<Result> r =
        c_.Query("read unit positions",
                 "SELECT COALESCE(MAX(position) + 1, 0)::BIGINT FROM units "
                 "WHERE session_id = $1",
                 {session_id_});
    if (!r.ok()) return r.status();
    return r->Int(0, 0);
  }

  absl::StatusOr<int64_t> NextRunSequence() override {
    absl::StatusOr<Result> r =
        c_.Query("draw run sequence",
                 "UPDATE sessions SET last_run_sequence = last_run_sequence "
                 "+ 1 WHERE id = $1 RETURNING last_run_sequence",
                 {session_id_});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return NoSuchSession(session_id_);
    return r->Int(0, 0);
  }

  absl::StatusOr<std::vector<RunRow>> RunningRuns(
      absl::string_view unit) override {
    absl::StatusOr<Result> r =
        c_.Query("read running runs",
                 absl::StrCat("SELECT ", kRunColumns,
                              " FROM runs WHERE session_id = $1 AND "
                              "unit = $2 AND running ORDER BY sequence")
                     .c_str(),
                 {session_id_, unit});
    if (!r.ok()) return r.status();
    return ReadAll<RunRow>(*r, ReadRun);
  }

  absl::Status PutUnit(const UnitRow& unit) override {
    return PutUnitRow(c_, session_id_, unit);
  }

  absl::Status PutRun(const RunRow& run) override {
    return c_.Exec(absl::StrCat("write run '", run.id, "'"),
                   "INSERT INTO runs (session_id, run_id, sequence, unit, "
                   "running, record) VALUES ($1, $2, $3, $4, $5, $6) "
                   "ON CONFLICT (session_id, run_id) DO UPDATE SET "
                   "running = excluded.running, record = excluded.record",
                   {session_id_, run.id, run.sequence, run.unit,
                    run.running ? "true" : "false", Param::Bytes(run.record)});
  }

  absl::Status SetUpdateTime(absl::Time update_time) override {
    return c_.Exec("update session",
                   "UPDATE sessions SET update_time_ns = $1 WHERE id = $2",
                   {absl::ToUnixNanos(update_time), session_id_});
  }

  // A row the condition excludes is neither written nor locked.
  absl::Status Touch(absl::Time now) override {
    return c_.Exec("touch session",
                   "UPDATE sessions SET update_time_ns = $1 WHERE id = $2 "
                   "AND update_time_ns < $3",
                   {absl::ToUnixNanos(now), session_id_,
                    absl::ToUnixNanos(now - kTouchResolution)});
  }

 private:
  Connection& c_;
  const std::string session_id_;
};

absl::Status CreateOrMigrateSchema(Connection& c) {
  absl::Status s = c.Exec("begin", "BEGIN");
  if (!s.ok()) return s;
  s = c.Exec("lock schema",
             absl::StrCat("SELECT pg_advisory_xact_lock(", kSchemaLockKey, ")")
                 .c_str());
  if (!s.ok()) return s;
  s = c.Exec("create schema table",
             "CREATE TABLE IF NOT EXISTS actlab_schema "
             "(version BIGINT NOT NULL)");
  if (!s.ok()) return s;
  absl::StatusOr<Result> r =
      c.Query("read schema version", "SELECT MAX(version) FROM actlab_schema");
  if (!r.ok()) return r.status();
  const bool empty = PQgetisnull(r->raw(), 0, 0);
  const int64_t version = empty ? 0 : r->Int(0, 0);
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("session store: schema version ", version,
                     " is newer than this server's ", kSchemaVersion,
                     "; run a newer server"));
  }
  // Several statements each: the simple-query protocol, no parameters.
  const struct {
    int64_t reaches;
    const char* sql;
    const char* what;
  } steps[] = {{1, kSchemaV1, "create schema"},
               {2, kMigrateV1ToV2, "migrate schema to version 2"}};
  for (const auto& step : steps) {
    if (version >= step.reaches) continue;
    Result done(PQexec(c.raw(), step.sql));
    if (PQresultStatus(done.raw()) != PGRES_COMMAND_OK) {
      return absl::InternalError(absl::StrCat("session store: ", step.what,
                                              ": ", PQerrorMessage(c.raw())));
    }
  }
  return c.Exec("commit", "COMMIT");
}

}  // namespace
}  // namespace postgres_internal

using postgres_internal::Param;
using postgres_internal::PgTransaction;
using postgres_internal::Result;

bool PostgresStore::IsUrl(absl::string_view store) {
  return absl::StartsWith(store, "postgres://") ||
         absl::StartsWith(store, "postgresql://");
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    const std::string& url, int pool_size) {
  if (!IsUrl(url)) {
    return absl::InvalidArgumentError(
        "session store: not a postgres:// or postgresql:// URL");
  }
  if (pool_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("session store: pool size ", pool_size, " is below 1"));
  }
  std::unique_ptr<PostgresStore> store(new PostgresStore(url, pool_size));
  absl::Status s = store->WithRetry([](Connection& c) {
    absl::Status status = postgres_internal::CreateOrMigrateSchema(c);
    c.Rollback();
    return status;
  });
  if (!s.ok()) return s;
  return store;
}

PostgresStore::PostgresStore(std::string url, int pool_size)
    : url_(std::move(url)), pool_size_(pool_size) {}

PostgresStore::~PostgresStore() = default;

absl::StatusOr<std::unique_ptr<postgres_internal::Connection>>
PostgresStore::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < pool_size_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&available), kAcquireTimeout)) {
      return absl::UnavailableError(absl::StrCat(
          "session store: all ", pool_size_, " connections stayed busy for ",
          absl::FormatDuration(kAcquireTimeout)));
    }
    if (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
  }
  // Later keywords override earlier ones, so the URL's own settings win.
  const char* keywords[] = {"connect_timeout", "options", "dbname", nullptr};
  const char* values[] = {"5", "-c lock_timeout=10s", url_.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  // Server notices ("relation already exists, skipping") are not errors.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  auto c = std::make_unique<Connection>(conn);
  // A connection that failed to open is kept: Check() resets it, and the
  // pool's count stays right.
  return c;
}

void PostgresStore::Release(std::unique_ptr<Connection> connection) {
  connection->Rollback();
  connection->retry = false;
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(connection));
}

namespace {

// The session's row without its units; nullopt when there is none.
absl::StatusOr<std::optional<SessionRow>> ReadSessionRow(
    postgres_internal::Connection& c, absl::string_view session_id) {
  absl::StatusOr<postgres_internal::Result> r =
      c.Query("read session",
              absl::StrCat("SELECT ", postgres_internal::kSessionColumns,
                           " FROM sessions WHERE id = $1")
                  .c_str(),
              {session_id});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::nullopt;
  return postgres_internal::ReadSession(*r, 0);
}

}  // namespace

absl::Status PostgresStore::WithRetry(
    absl::FunctionRef<absl::Status(Connection&)> attempt) {
  absl::BitGen bits;
  absl::Duration backoff = absl::Milliseconds(50);
  absl::Status status;
  for (int i = 0; i < kMaxAttempts; ++i) {
    if (i > 0) {
      absl::SleepFor(backoff * absl::Uniform(bits, 0.5, 1.5));
      backoff = std::min(backoff * 2, absl::Seconds(1));
    }
    absl::StatusOr<std::unique_ptr<Connection>> c = Acquire();
    if (!c.ok()) return c.status();
    status = (*c)->Check();
    if (status.ok()) status = attempt(**c);
    const bool retry = (*c)->retry;
    Release(*std::move(c));
    if (status.ok() || !retry) return status;
  }
  return absl::UnavailableError(absl::StrCat(
      status.message(), " (gave up after ", kMaxAttempts, " attempts)"));
}

absl::Status PostgresStore::CreateSession(const SessionRow& session,
                                          absl::Span<const UnitRow> units,
                                          int64_t max_sessions) {
  return WithRetry([&](Connection& c) {
    absl::Status s = c.Exec("begin", "BEGIN");
    if (!s.ok()) return s;
    s = c.Exec("lock session creation",
               absl::StrCat("SELECT pg_advisory_xact_lock(",
                            postgres_internal::kCreateSessionLockKey, ")")
                   .c_str());
    if (!s.ok()) return s;
    // Read committed: this statement's snapshot, taken after the lock, sees
    // every session the previous holders committed.
    absl::StatusOr<Result> count =
        c.Query("count sessions", "SELECT COUNT(*) FROM sessions");
    if (!count.ok()) return count.status();
    if (count->Int(0, 0) >= max_sessions) return TooManySessions(max_sessions);
    s = c.Exec("insert session",
               "INSERT INTO sessions (id, display_name, create_time_ns, "
               "update_time_ns, owner) VALUES ($1, $2, $3, $4, $5)",
               {session.id, session.display_name,
                absl::ToUnixNanos(session.create_time),
                absl::ToUnixNanos(session.update_time), session.owner});
    if (!s.ok()) return s;
    for (const UnitRow& unit : units) {
      s = postgres_internal::PutUnitRow(c, session.id, unit);
      if (!s.ok()) return s;
    }
    // A lost connection during COMMIT leaves the outcome unknown: not
    // retried.
    s = c.Exec("commit", "COMMIT");
    c.retry = c.retry && !s.ok() && absl::IsAborted(s);
    return s;
  });
}

absl::Status PostgresStore::DeleteSession(absl::string_view session_id) {
  return WithRetry([&](Connection& c) -> absl::Status {
    absl::StatusOr<Result> r = c.Query(
        "delete session", "DELETE FROM sessions WHERE id = $1", {session_id});
    if (!r.ok()) return r.status();
    if (r->affected() == 0) return NoSuchSession(session_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PostgresStore::DeleteSessionsUpdatedBefore(
    absl::Time cutoff) {
  // One statement; the foreign keys cascade to units and runs. A row an
  // Update holds waits for it, and is re-checked against its new
  // update_time.
  return WithRetryResult<int64_t>(
      [&](Connection& c, int64_t& out) -> absl::Status {
        absl::StatusOr<Result> r =
            c.Query("delete idle sessions",
                    "DELETE FROM sessions WHERE update_time_ns < $1",
                    {absl::ToUnixNanos(cutoff)});
        if (!r.ok()) return r.status();
        out = r->affected();
        return absl::OkStatus();
      });
}

absl::Status PostgresStore::Update(
    absl::string_view session_id,
    absl::FunctionRef<absl::Status(SessionTransaction&)> body) {
  return WithRetry([&](Connection& c) -> absl::Status {
    absl::Status s = c.Exec("begin", "BEGIN");
    if (!s.ok()) return s;
    absl::StatusOr<Result> r = c.Query(
        "read session", "SELECT 1 FROM sessions WHERE id = $1 FOR KEY SHARE",
        {session_id});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return NoSuchSession(session_id);
    PgTransaction transaction(c, session_id);
    s = body(transaction);
    if (!s.ok()) return s;
    s = c.Exec("commit", "COMMIT");
    // See CreateSession: only a serialization failure at COMMIT is retried.
    c.retry = c.retry && !s.ok() && absl::IsAborted(s);
    return s;
  });
}

absl::StatusOr<std::optional<StoredSession>> PostgresStore::GetSession(
    absl::string_view session_id) {
  return WithRetryResult<std::optional<StoredSession>>(
      [&](Connection& c, std::optional<StoredSession>& out) -> absl::Status {
        absl::Status s =
            c.Exec("begin", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        if (!s.ok()) return s;
        absl::StatusOr<std::optional<SessionRow>> row =
            ReadSessionRow(c, session_id);
        if (!row.ok()) return row.status();
        if (!row->has_value()) return absl::OkStatus();
        StoredSession stored;
        stored.session = **std::move(row);
        absl::StatusOr<Result> r =
            c.Query("read units",
                    absl::StrCat("SELECT ", postgres_internal::kUnitColumns,
                                 " FROM units WHERE session_id = $1 "
                                 "ORDER BY position, name")
                        .c_str(),
                    {session_id});
        if (!r.ok()) return r.status();
        stored.units = postgres_internal::ReadAll<UnitRow>(
            *r, postgres_internal::ReadUnit);
        out = std::move(stored);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::optional<SessionRow>> PostgresStore::GetSessionRow(
    absl::string_view session_id) {
  return WithRetryResult<std::optional<SessionRow>>(
      [&](Connection& c, std::optional<SessionRow>& out) -> absl::Status {
        absl::StatusOr<std::optional<SessionRow>> row =
            ReadSessionRow(c, session_id);
        if (!row.ok()) return row.status();
        out = *std::move(row);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<StoredSession>> PostgresStore::ListSessions() {
  return WithRetryResult<std::vector<StoredSession>>(
      [&](Connection& c, std::vector<StoredSession>& out) -> absl::Status {
        absl::Status s =
            c.Exec("begin", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        if (!s.ok()) return s;
        absl::StatusOr<Result> r =
            c.Query("list sessions",
                    absl::StrCat("SELECT ", postgres_internal::kSessionColumns,
                                 " FROM sessions ORDER BY create_time_ns, id "
                                 "COLLATE \"C\"")
                        .c_str());
        if (!r.ok()) return r.status();
        absl::flat_hash_map<std::string, size_t> index;
        for (int i = 0; i < r->rows(); ++i) {
          index[r->Bytes(i, 0)] = out.size();
          out.push_back({postgres_internal::ReadSession(*r, i), {}});
        }
        r = c.Query("list units",
                    absl::StrCat("SELECT ", postgres_internal::kUnitColumns,
                                 ", session_id FROM units "
                                 "ORDER BY session_id, position, name")
                        .c_str());
        if (!r.ok()) return r.status();
        for (int i = 0; i < r->rows(); ++i) {
          auto it = index.find(r->Bytes(i, 4));
          if (it != index.end()) {
            out[it->second].units.push_back(postgres_internal::ReadUnit(*r, i));
          }
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::optional<UnitRow>> PostgresStore::GetUnit(
    absl::string_view session_id, absl::string_view unit) {
  return WithRetryResult<std::optional<UnitRow>>(
      [&](Connection& c, std::optional<UnitRow>& out) -> absl::Status {
        absl::StatusOr<Result> r =
            c.Query("read unit",
                    absl::StrCat("SELECT ", postgres_internal::kUnitColumns,
                                 " FROM units WHERE session_id = $1 AND "
                                 "name = $2")
                        .c_str(),
                    {session_id, unit});
        if (!r.ok()) return r.status();
        if (r->rows() > 0) out = postgres_internal::ReadUnit(*r, 0);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<RunRow>> PostgresStore::ListRuns(
    absl::string_view session_id, absl::string_view unit) {
  return WithRetryResult<std::vector<RunRow>>(
      [&](Connection& c, std::vector<RunRow>& out) -> absl::Status {
        absl::StatusOr<Result> r =
            c.Query("list runs",
                    absl::StrCat("SELECT ", postgres_internal::kRunColumns,
                                 " FROM runs WHERE session_id = $1 AND "
                                 "($2 = '' OR unit = $2) ORDER BY sequence")
                        .c_str(),
                    {session_id, unit});
        if (!r.ok()) return r.status();
        out =
            postgres_internal::ReadAll<RunRow>(*r, postgres_internal::ReadRun);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::optional<RunRow>> PostgresStore::GetRun(
    absl::string_view session_id, absl::string_view run_id) {
  return WithRetryResult<std::optional<RunRow>>(
      [&](Connection& c, std::optional<RunRow>& out) -> absl::Status {
        absl::StatusOr<Result> r =
            c.Query("get run",
                    absl::StrCat("SELECT ", postgres_internal::kRunColumns,
                                 " FROM runs WHERE session_id = $1 AND "
                                 "run_id = $2")
                        .c_str(),
                    {session_id, run_id});
        if (!r.ok()) return r.status();
        if (r->rows() > 0) out = postgres_internal::ReadRun(*r, 0);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<SessionRun>> PostgresStore::RunningRuns() {
  return WithRetryResult<std::vector<SessionRun>>(
      [&](Connection& c, std::vector<SessionRun>& out) -> absl::Status {
        absl::StatusOr<Result> r =
            c.Query("read running runs",
                    absl::StrCat("SELECT ", postgres_internal::kRunColumns,
                                 ", session_id FROM runs WHERE running "
                                 "ORDER BY session_id, sequence")
                        .c_str());
        if (!r.ok()) return r.status();
        for (int i = 0; i < r->rows(); ++i) {
          out.push_back({r->Bytes(i, 5), postgres_internal::ReadRun(*r, i)});
        }
        return absl::OkStatus();
      });
}

}  // namespace actlab
