// Copyright actlab authors.

#include "server/session/sqlite_store.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace actlab {
namespace {

constexpr int kSchemaVersion = 4;
constexpr int kBusyTimeoutMs = 5000;

// Version 1. Timestamps are Unix nanoseconds so they round-trip exactly.
// Units keep a rowid so that rewriting one large state blob does not move
// the others (WITHOUT ROWID tables store rows inline in the key's B-tree).
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY NOT NULL,
  display_name TEXT NOT NULL,
  create_time_ns INTEGER NOT NULL,
  update_time_ns INTEGER NOT NULL
);
CREATE TABLE units (
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  version INTEGER NOT NULL,
  state BLOB NOT NULL,
  PRIMARY KEY (session_id, name)
);
PRAGMA user_version = 1;
)sql";

// Version 2 adds training runs. A new file is created as version 1 and
// migrated, so there is one way to reach the current schema. `running` is
// kept outside the blob so start-up loads only the runs still open.
constexpr char kMigrateV1ToV2[] = R"sql(
CREATE TABLE runs (
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  run_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  unit TEXT NOT NULL,
  running INTEGER NOT NULL,
  record BLOB NOT NULL,
  PRIMARY KEY (session_id, run_id)
);
CREATE UNIQUE INDEX runs_by_sequence ON runs (session_id, sequence);
CREATE INDEX runs_running ON runs (running) WHERE running;
PRAGMA user_version = 2;
)sql";

// Version 3 keeps each session's last run sequence in its row, so that
// processes sharing the file draw run ids from one counter.
constexpr char kMigrateV2ToV3[] = R"sql(
ALTER TABLE sessions ADD COLUMN last_run_sequence INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_run_sequence =
  (SELECT COALESCE(MAX(sequence), 0) FROM runs
   WHERE runs.session_id = sessions.id);
PRAGMA user_version = 3;
)sql";

// Version 4 records who created each session; sessions from before had no
// owner and belong to the anonymous principal.
constexpr char kMigrateV3ToV4[] = R"sql(
ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
PRAGMA user_version = 4;
)sql";

constexpr char kSessionColumns[] =
    "id, display_name, create_time_ns, update_time_ns, owner";

constexpr char kUnitColumns[] = "name, position, version, state";
constexpr char kRunColumns[] = "run_id, sequence, unit, running, record";

// The errno of the last failed system call on the database file or its
// WAL. SQLite maps only ENOSPC to SQLITE_FULL; EFBIG and EDQUOT come out as
// a bare write error, and sqlite3_system_errno() may already hold a later
// call's errno by then, while each file keeps its own last one. (A stale
// one can only make a later I/O error read as "full".)
int LastFileErrno(sqlite3* db) {
  int error = 0;
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) ==
          SQLITE_OK &&
      wal != nullptr && wal->pMethods != nullptr) {
    wal->pMethods->xFileControl(wal, SQLITE_FCNTL_LAST_ERRNO, &error);
  }
  if (error == 0) {
    sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO, &error);
  }
  return error;
}

// A full store is ResourceExhausted, as gRPC prescribes for a full file
// system, so clients can tell it from a server they cannot reach: SQLite's
// own SQLITE_FULL (ENOSPC), or an I/O error because a file may not grow
// (EFBIG past RLIMIT_FSIZE, EDQUOT past a quota). Other conditions a retry
// or an operator can clear are Unavailable; the rest (corruption,
// constraint violations, misuse) are Internal. `db` is null when there is
// no connection yet.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what,
                         const char* message) {
  const int error =
      db != nullptr && (rc & 0xff) == SQLITE_IOERR ? LastFileErrno(db) : 0;
  if ((rc & 0xff) == SQLITE_FULL || error == ENOSPC || error == EFBIG ||
      error == EDQUOT) {
    return absl::ResourceExhaustedError(
        absl::StrCat("session store: ", what, ": the store is full: ", message,
                     error == 0 ? "" : absl::StrCat(", ", std::strerror(error)),
                     " (SQLite code ", rc, ")"));
  }
  const std::string text = absl::StrCat("session store: ", what, ": ", message,
                                        " (SQLite code ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
      return absl::UnavailableError(text);
    default:
      return absl::InternalError(text);
  }
}

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  return SqliteError(db, rc, what, sqlite3_errmsg(db));
}

absl::Status Exec(sqlite3* db, const char* sql, absl::string_view what) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return absl::OkStatus();
  absl::Status status =
      SqliteError(db, rc, what, message ? message : sqlite3_errstr(rc));
  sqlite3_free(message);
  return status;
}

// A prepared statement, finalized on destruction. Bind errors surface from
// Step, which reports the first failure.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void Bind(int i, absl::string_view text) {
    Check(sqlite3_bind_text(stmt_, i, text.data(),
                            static_cast<int>(text.size()), SQLITE_TRANSIENT));
  }
  void BindBlob(int i, absl::string_view blob) {
    Check(sqlite3_bind_blob(stmt_, i, blob.data(),
                            static_cast<int>(blob.size()), SQLITE_TRANSIENT));
  }
  void Bind(int i, int64_t value) {
    Check(sqlite3_bind_int64(stmt_, i, value));
  }

  // True when a row is available, false when done.
  absl::StatusOr<bool> Step(absl::string_view what) {
    if (rc_ != SQLITE_OK) return SqliteError(db_, rc_, what);
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, what);
  }
  absl::Status Run(absl::string_view what) {
    absl::StatusOr<bool> row = Step(what);
    if (!row.ok()) return row.status();
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return absl::OkStatus();
  }

  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
  }

 private:
  void Check(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
// fails half-way on a lock upgrade. Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  absl::Status Begin() { return Start("BEGIN IMMEDIATE"); }
  // A read snapshot; takes no write lock.
  absl::Status BeginRead() { return Start("BEGIN DEFERRED"); }
  absl::Status Commit() {
    absl::Status s = Exec(db_, "COMMIT", "commit");
    // A failed COMMIT can leave the transaction open; the destructor's
    // ROLLBACK then restores a clean state.
    open_ = !s.ok() && !sqlite3_get_autocommit(db_);
    return s;
  }

 private:
  absl::Status Start(const char* sql) {
    absl::Status s = Exec(db_, sql, "begin transaction");
    open_ = s.ok();
    return s;
  }

  sqlite3* db_;
  bool open_ = false;
};

// Reads the kRunColumns of the current row, starting at column `first`.
RunRow ReadRun(Statement& select, int first) {
  RunRow run;
  run.id = select.Text(first);
  run.sequence = select.Int(first + 1);
  run.unit = select.Text(first + 2);
  run.running = select.Int(first + 3) != 0;
  run.record = select.Text(first + 4);
  return run;
}

SessionRow ReadSession(Statement& select) {
  SessionRow session;
  session.id = select.Text(0);
  session.display_name = select.Text(1);
  session.create_time = absl::FromUnixNanos(select.Int(2));
  session.update_time = absl::FromUnixNanos(select.Int(3));
  session.owner = select.Text(4);
  return session;
}

// Reads the kUnitColumns of the current row.
UnitRow ReadUnit(Statement& select) {
  UnitRow unit;
  unit.name = select.Text(0);
  unit.position = select.Int(1);
  unit.version = select.Int(2);
  unit.state = select.Text(3);
  return unit;
}

// Every row `select` yields, read by `read`.
template <typename Row, typename Read>
absl::StatusOr<std::vector<Row>> ReadAll(Statement& select,
                                         absl::string_view what, Read read) {
  std::vector<Row> rows;
  for (;;) {
    absl::StatusOr<bool> row = select.Step(what);
    if (!row.ok()) return row.status();
    if (!*row) return rows;
    rows.push_back(read(select));
  }
}

absl::StatusOr<std::vector<UnitRow>> SessionUnits(
    sqlite3* db, absl::string_view session_id) {
  Statement select(db, absl::StrCat("SELECT ", kUnitColumns,
                                    " FROM units WHERE session_id = ?1 "
                                    "ORDER BY position")
                           .c_str());
  select.Bind(1, session_id);
  return ReadAll<UnitRow>(select, "read units", ReadUnit);
}

absl::StatusOr<bool> SessionExists(sqlite3* db, absl::string_view session_id) {
  Statement select(db, "SELECT 1 FROM sessions WHERE id = ?1");
  select.Bind(1, session_id);
  return select.Step("read session");
}

absl::Status WriteUnit(sqlite3* db, absl::string_view session_id,
                       const UnitRow& unit) {
  Statement upsert(db,
                   "INSERT INTO units (session_id, name, position, version, "
                   "state) VALUES (?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT (session_id, name) DO UPDATE SET "
                   "position = excluded.position, version = excluded.version, "
                   "state = excluded.state");
  upsert.Bind(1, session_id);
  upsert.Bind(2, unit.name);
  upsert.Bind(3, unit.position);
  upsert.Bind(4, unit.version);
  upsert.BindBlob(5, unit.state);
  return upsert.Run(absl::StrCat("write unit '", unit.name, "'"));
}

// Inside a BEGIN IMMEDIATE transaction the whole database is locked, so the
// reads here need no row locks of their own.
class SqliteTransaction final : public SessionTransaction {
 public:
  SqliteTransaction(sqlite3* db, absl::string_view session_id)
      : db_(db), session_id_(session_id) {}

  absl::StatusOr<std::optional<UnitRow>> LockUnit(
      absl::string_view name) override {
    Statement select(db_, absl::StrCat("SELECT ", kUnitColumns,
                                       " FROM units WHERE session_id = ?1 "
                                       "AND name = ?2")
                              .c_str());
    select.Bind(1, session_id_);
    select.Bind(2, name);
    absl::StatusOr<bool> row = select.Step("read unit");
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return ReadUnit(select);
  }

  absl::StatusOr<std::vector<UnitRow>> LockUnits() override {
    return SessionUnits(db_, session_id_);
  }

  absl::StatusOr<int64_t> NextPosition() override {
    Statement select(db_,
                     "SELECT COALESCE(MAX(position) + 1, 0) FROM units "
                     "WHERE session_id = ?1");
    select.Bind(1, session_id_);
    absl::StatusOr<bool> row = select.Step("read unit positions");
    if (!row.ok()) return row.status();
    return select.Int(0);
  }

  absl::StatusOr<int64_t> NextRunSequence() override {
    Statement update(db_,
                     "UPDATE sessions SET last_run_sequence = "
                     "last_run_sequence + 1 WHERE id = ?1 "
                     "RETURNING last_run_sequence");
    update.Bind(1, session_id_);
    absl::StatusOr<bool> row = update.Step("draw run sequence");
    if (!row.ok()) return row.status();
    if (!*row) return NoSuchSession(session_id_);
    const int64_t sequence = update.Int(0);
    // RETURNING rows come before the statement completes.
    absl::StatusOr<bool> done = update.Step("draw run sequence");
    if (!done.ok()) return done.status();
    return sequence;
  }

  absl::StatusOr<std::vector<RunRow>> RunningRuns(
      absl::string_view unit) override {
    Statement select(db_, absl::StrCat("SELECT ", kRunColumns,
                                       " FROM runs WHERE session_id = ?1 AND "
                                       "unit = ?2 AND running "
                                       "ORDER BY sequence")
                              .c_str());
    select.Bind(1, session_id_);
    select.Bind(2, unit);
    return ReadAll<RunRow>(select, "read running runs",
                           [](Statement& s) { return ReadRun(s, 0); });
  }

  absl::Status PutUnit(const UnitRow& unit) override {
    return WriteUnit(db_, session_id_, unit);
  }

  absl::Status PutRun(const RunRow& run) override {
    Statement upsert(db_,
                     "INSERT INTO runs (session_id, run_id, sequence, unit, "
                     "running, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                     "ON CONFLICT (session_id, run_id) DO UPDATE SET "
                     "running = excluded.running, record = excluded.record");
    upsert.Bind(1, session_id_);
    upsert.Bind(2, run.id);
    upsert.Bind(3, run.sequence);
    upsert.Bind(4, run.unit);
    upsert.Bind(5, int64_t{run.running});
    upsert.BindBlob(6, run.record);
    return upsert.Run(absl::StrCat("write run '", run.id, "'"));
  }

  absl::Status SetUpdateTime(absl::Time update_time) override {
    Statement touch(db_,
                    "UPDATE sessions SET update_time_ns = ?1 WHERE id = ?2");
    touch.Bind(1, absl::ToUnixNanos(update_time));
    touch.Bind(2, session_id_);
    return touch.Run("update session");
  }

  absl::Status Touch(absl::Time now) override {
    Statement touch(db_,
                    "UPDATE sessions SET update_time_ns = ?1 WHERE id = ?2 "
                    "AND update_time_ns < ?3");
    touch.Bind(1, absl::ToUnixNanos(now));
    touch.Bind(2, session_id_);
    touch.Bind(3, absl::ToUnixNanos(now - kTouchResolution));
    return touch.Run("touch session");
  }

 private:
  sqlite3* const db_;
  const std::string session_id_;
};

absl::Status Configure(sqlite3* db) {
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  {
    Statement wal(db, "PRAGMA journal_mode = WAL");
    absl::StatusOr<bool> row = wal.Step("enable WAL");
    if (!row.ok()) return row.status();
    if (!*row || wal.Text(0) != "wal") {
      return absl::UnavailableError(
          "session store: the database refused WAL journal mode");
    }
  }
  absl::Status s = Exec(db, "PRAGMA synchronous = FULL", "set synchronous");
  if (!s.ok()) return s;
  s = Exec(db, "PRAGMA foreign_keys = ON", "enable foreign keys");
  if (!s.ok()) return s;

  Transaction txn(db);
  s = txn.Begin();
  if (!s.ok()) return s;
  Statement version_query(db, "PRAGMA user_version");
  absl::StatusOr<bool> row = version_query.Step("read schema version");
  if (!row.ok()) return row.status();
  const int64_t version = *row ? version_query.Int(0) : 0;
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("session store: schema version ", version,
                     " is newer than this server's ", kSchemaVersion,
                     "; run a newer server"));
  }
  if (version == 0) {
    s = Exec(db, kSchemaV1, "create schema");
    if (!s.ok()) return s;
  }
  if (version <= 1) {
    s = Exec(db, kMigrateV1ToV2, "migrate schema to version 2");
    if (!s.ok()) return s;
  }
  if (version <= 2) {
    s = Exec(db, kMigrateV2ToV3, "migrate schema to version 3");
    if (!s.ok()) return s;
  }
  if (version <= 3) {
    s = Exec(db, kMigrateV3ToV4, "migrate schema to version 4");
    if (!s.ok()) return s;
  }
  return txn.Commit();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    const std::string& path) {
  const std::filesystem::path parent =
      std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("session store: cannot create directory '",
                       parent.string(), "': ", ec.message()));
    }
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    absl::Status s = SqliteError(db, rc, absl::StrCat("open '", path, "'"),
                                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return s;
  }
  // SQLite quietly opens a file it may not write read-only, and the server
  // would then fail every update; refuse it up front instead.
  if (sqlite3_db_readonly(db, "main") == 1) {
    sqlite3_close(db);
    return absl::UnavailableError(
        absl::StrCat("session store: '", path,
                     "' is read-only to this process; the server needs to "
                     "write it"));
  }
  absl::Status s = Configure(db);
  if (!s.ok()) {
    sqlite3_close(db);
    return s;
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(db));
}

SqliteStore::SqliteStore(sqlite3* db) : db_(db) {}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

absl::Status SqliteStore::CreateSession(const SessionRow& session,
                                        absl::Span<const UnitRow> units,
                                        int64_t max_sessions) {
  absl::MutexLock lock(&mu_);
  Transaction txn(db_);
  absl::Status s = txn.Begin();
  if (!s.ok()) return s;
  {
    Statement count(db_, "SELECT COUNT(*) FROM sessions");
    absl::StatusOr<bool> row = count.Step("count sessions");
    if (!row.ok()) return row.status();
    if (count.Int(0) >= max_sessions) return TooManySessions(max_sessions);
  }
  {
    Statement insert(db_,
                     "INSERT INTO sessions (id, display_name, create_time_ns, "
                     "update_time_ns, owner) VALUES (?1, ?2, ?3, ?4, ?5)");
    insert.Bind(1, session.id);
    insert.Bind(2, session.display_name);
    insert.Bind(3, absl::ToUnixNanos(session.create_time));
    insert.Bind(4, absl::ToUnixNanos(session.update_time));
    insert.Bind(5, session.owner);
    s = insert.Run("insert session");
    if (!s.ok()) return s;
  }
  for (const UnitRow& unit : units) {
    s = WriteUnit(db_, session.id, unit);
    if (!s.ok()) return s;
  }
  return txn.Commit();
}

absl::Status SqliteStore::DeleteSession(absl::string_view session_id) {
  absl::MutexLock lock(&mu_);
  Transaction txn(db_);
  absl::Status s = txn.Begin();
  if (!s.ok()) return s;
  // Explicit rather than relying on ON DELETE CASCADE, which only acts
  // when foreign keys are enabled on the connection.
  Statement delete_runs(db_, "DELETE FROM runs WHERE session_id = ?1");
  delete_runs.Bind(1, session_id);
  s = delete_runs.Run("delete runs");
  if (!s.ok()) return s;
  Statement delete_units(db_, "DELETE FROM units WHERE session_id = ?1");
  delete_units.Bind(1, session_id);
  s = delete_units.Run("delete units");
  if (!s.ok()) return s;
  Statement delete_session(db_, "DELETE FROM sessions WHERE id = ?1");
  delete_session.Bind(1, session_id);
  s = delete_session.Run("delete session");
  if (!s.ok()) return s;
  if (sqlite3_changes(db_) == 0) return NoSuchSession(session_id);
  return txn.Commit();
}

absl::StatusOr<int64_t> SqliteStore::DeleteSessionsUpdatedBefore(
    absl::Time cutoff) {
  absl::MutexLock lock(&mu_);
  Transaction txn(db_);
  absl::Status s = txn.Begin();
  if (!s.ok()) return s;
  // Children first, as in DeleteSession.
  for (const char* table : {"runs", "units"}) {
    Statement delete_children(
        db_, absl::StrCat("DELETE FROM ", table,
                          " WHERE session_id IN (SELECT id FROM sessions "
                          "WHERE update_time_ns < ?1)")
                 .c_str());
    delete_children.Bind(1, absl::ToUnixNanos(cutoff));
    s = delete_children.Run(absl::StrCat("delete idle sessions' ", table));
    if (!s.ok()) return s;
  }
  Statement delete_sessions(db_,
                            "DELETE FROM sessions WHERE update_time_ns < ?1");
  delete_sessions.Bind(1, absl::ToUnixNanos(cutoff));
  s = delete_sessions.Run("delete idle sessions");
  if (!s.ok()) return s;
  const int64_t deleted = sqlite3_changes(db_);
  s = txn.Commit();
  if (!s.ok()) return s;
  return deleted;
}

absl::Status SqliteStore::Update(
    absl::string_view session_id,
    absl::FunctionRef<absl::Status(SessionTransaction&)> body) {
  absl::MutexLock lock(&mu_);
  Transaction txn(db_);
  absl::Status s = txn.Begin();
  if (!s.ok()) return s;
  absl::StatusOr<bool> exists = SessionExists(db_, session_id);
  if (!exists.ok()) return exists.status();
  if (!*exists) return NoSuchSession(session_id);
  SqliteTransaction transaction(db_, session_id);
  s = body(transaction);
  if (!s.ok()) return s;
  return txn.Commit();
}

absl::StatusOr<std::optional<StoredSession>> SqliteStore::GetSession(
    absl::string_view session_id) {
  absl::MutexLock lock(&mu_);
  // One read transaction, so the units belong to the session row read.
  Transaction txn(db_);
  absl::Status s = txn.BeginRead();
  if (!s.ok()) return s;
  absl::StatusOr<std::optional<SessionRow>> row = ReadSessionRow(session_id);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return std::nullopt;
  StoredSession out;
  out.session = **std::move(row);
  absl::StatusOr<std::vector<UnitRow>> units = SessionUnits(db_, session_id);
  if (!units.ok()) return units.status();
  out.units = *std::move(units);
  return out;
}

absl::StatusOr<std::optional<SessionRow>> SqliteStore::GetSessionRow(
    absl::string_view session_id) {
  absl::MutexLock lock(&mu_);
  return ReadSessionRow(session_id);
}

absl::StatusOr<std::optional<SessionRow>> SqliteStore::ReadSessionRow(
    absl::string_view session_id) {
  Statement select(db_, absl::StrCat("SELECT ", kSessionColumns,
                                     " FROM sessions WHERE id = ?1")
                            .c_str());
  select.Bind(1, session_id);
  absl::StatusOr<bool> row = select.Step("read session");
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  return ReadSession(select);
}

absl::StatusOr<std::vector<StoredSession>> SqliteStore::ListSessions() {
  absl::MutexLock lock(&mu_);
  Transaction txn(db_);
  absl::Status s = txn.BeginRead();
  if (!s.ok()) return s;
  Statement select_sessions(
      db_, absl::StrCat("SELECT ", kSessionColumns,
                        " FROM sessions ORDER BY create_time_ns, id")
               .c_str());
  absl::StatusOr<std::vector<SessionRow>> sessions =
      ReadAll<SessionRow>(select_sessions, "list sessions", ReadSession);
  if (!sessions.ok()) return sessions.status();
  std::vector<StoredSession> out;
  absl::flat_hash_map<std::string, size_t> index;
  for (SessionRow& session : *sessions) {
    index[session.id] = out.size();
    out.push_back({std::move(session), {}});
  }
  Statement select_units(db_, absl::StrCat("SELECT ", kUnitColumns,
                                           ", session_id FROM units "
                                           "ORDER BY session_id, position")
                                  .c_str());
  for (;;) {
    absl::StatusOr<bool> row = select_units.Step("list units");
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto it = index.find(select_units.Text(4));
    if (it != index.end())
      out[it->second].units.push_back(ReadUnit(select_units));
  }
  return out;
}

absl::StatusOr<std::optional<UnitRow>> SqliteStore::GetUnit(
    absl::string_view session_id, absl::string_view unit) {
  absl::MutexLock lock(&mu_);
  // The transaction's LockUnit is a plain read here; no transaction needed.
  return SqliteTransaction(db_, session_id).LockUnit(unit);
}

absl::StatusOr<std::vector<SessionRun>> SqliteStore::RunningRuns() {
  absl::MutexLock lock(&mu_);
  Statement select(db_, absl::StrCat("SELECT ", kRunColumns,
                                     ", session_id FROM runs WHERE running "
                                     "ORDER BY session_id, sequence")
                            .c_str());
  return ReadAll<SessionRun>(select, "read running runs", [](Statement& s) {
    return SessionRun{s.Text(5), ReadRun(s, 0)};
  });
}

absl::StatusOr<std::vector<RunRow>> SqliteStore::ListRuns(
    absl::string_view session_id, absl::string_view unit) {
  absl::MutexLock lock(&mu_);
  Statement select(db_, absl::StrCat("SELECT ", kRunColumns,
                                     " FROM runs WHERE session_id = ?1 AND "
                                     "(?2 = '' OR unit = ?2) ORDER BY sequence")
                            .c_str());
  select.Bind(1, session_id);
  select.Bind(2, unit);
  return ReadAll<RunRow>(select, "list runs",
                         [](Statement& s) { return ReadRun(s, 0); });
}

absl::StatusOr<std::optional<RunRow>> SqliteStore::GetRun(
    absl::string_view session_id, absl::string_view run_id) {
  absl::MutexLock lock(&mu_);
  Statement select(db_, absl::StrCat("SELECT ", kRunColumns,
                                     " FROM runs WHERE session_id = ?1 AND "
                                     "run_id = ?2")
                            .c_str());
  select.Bind(1, session_id);
  select.Bind(2, run_id);
  absl::StatusOr<bool> row = select.Step("get run");
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  return ReadRun(select, 0);
}

}  // namespace actlab
