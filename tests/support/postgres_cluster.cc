// Copyright actlab authors.

#include "tests/support/postgres_cluster.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

constexpr char kUser[] = "actlab";
constexpr char kServerUser[] = "postgres";

// A port no one listens on right now. Another process may take it before
// the server binds it; Start then tries another.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Runs a PostgreSQL program, as the postgres user when we are root.
ProcessResult RunServerTool(const std::string& tool,
                            std::vector<std::string> args) {
  const std::string binary = absl::StrCat(PostgresCluster::kBinDir, "/", tool);
  if (geteuid() != 0) return RunProcess(binary, args, 60);
  args.insert(args.begin(), {"-u", kServerUser, "--", binary});
  return RunProcess("/usr/sbin/runuser", args, 60);
}

absl::Status Failed(const std::string& what, const ProcessResult& r) {
  return absl::InternalError(
      absl::StrCat(what, " exited ", r.exit_code, ": ", r.out, r.err));
}

}  // namespace

bool PostgresCluster::Installed() {
  return std::filesystem::exists(absl::StrCat(kBinDir, "/initdb"));
}

bool PostgresCluster::Required() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start() {
  if (!Installed()) {
    return absl::FailedPreconditionError("PostgreSQL 15 is not installed");
  }
  // Under /tmp whatever $TMPDIR says: the postgres user must reach it, and
  // the socket path must stay short.
  std::string dir = "/tmp/actlab-pg-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  if (geteuid() == 0) {
    const passwd* pw = getpwnam(kServerUser);
    if (pw == nullptr || chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      std::filesystem::remove_all(dir);
      return absl::InternalError("cannot hand the cluster to user postgres");
    }
  }
  const std::string data = dir + "/data";
  ProcessResult r = RunServerTool(
      "initdb", {"-D", data, "-A", "trust", "-U", kUser, "--no-sync"});
  if (r.exit_code != 0) {
    std::filesystem::remove_all(dir);
    return Failed("initdb", r);
  }
  std::unique_ptr<PostgresCluster> cluster;
  absl::Status status;
  for (int attempt = 0; attempt < 3 && cluster == nullptr; ++attempt) {
    const int port = FreePort();
    r = RunServerTool(
        "pg_ctl",
        {"-D", data, "-l", dir + "/server.log", "-w", "-t", "20", "-o",
         absl::StrCat("-p ", port, " -k ", dir,
                      " -c listen_addresses=127.0.0.1 -c fsync=off"),
         "start"});
    if (r.exit_code == 0) {
      cluster.reset(new PostgresCluster(dir, port));
    } else {
      status = Failed("pg_ctl start", r);
    }
  }
  if (cluster == nullptr) {
    std::filesystem::remove_all(dir);
    return status;
  }
  return cluster;
}

absl::StatusOr<PostgresCluster*> PostgresCluster::Shared() {
  // Started once, even from several threads, and destroyed (so stopped)
  // with the process's other statics.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> shared = Start();
  if (!shared.ok()) return shared.status();
  return shared->get();
}

PostgresCluster::~PostgresCluster() {
  RunServerTool("pg_ctl", {"-D", dir_ + "/data", "-m", "immediate", "stop"});
  std::filesystem::remove_all(dir_);
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase(
    const std::string& name) {
  // PostgreSQL would silently truncate a longer name, and the URL miss it.
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("database name '", name, "' is not 1 to 63 bytes"));
  }
  absl::StatusOr<std::string> created =
      Query("postgres", absl::StrCat("CREATE DATABASE \"", name, "\""));
  if (!created.ok()) return created.status();
  return absl::StrCat("postgresql://", kUser, "@127.0.0.1:", port_, "/", name);
}

absl::StatusOr<std::string> PostgresCluster::Query(const std::string& db,
                                                   const std::string& sql) {
  const std::string conninfo = absl::StrCat("host=127.0.0.1 port=", port_,
                                            " user=", kUser, " dbname=", db);
  PGconn* conn = PQconnectdb(conninfo.c_str());
  absl::StatusOr<std::string> out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = absl::UnavailableError(PQerrorMessage(conn));
  } else {
    PGresult* result = PQexec(conn, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK) {
      out = PQntuples(result) > 0 ? PQgetvalue(result, 0, 0) : "";
    } else if (status == PGRES_COMMAND_OK) {
      out = "";
    } else {
      out = absl::InternalError(PQerrorMessage(conn));
    }
    PQclear(result);
  }
  PQfinish(conn);
  return out;
}

}  // namespace actlab
