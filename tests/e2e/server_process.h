// Copyright actlab authors.
//
// End-to-end test harness: the real actlab-server and actlab binaries run as
// child processes on loopback, on ports the server picks itself (port 0,
// reported through --port_file), so tests can run in parallel.

#ifndef ACTLAB_TESTS_E2E_SERVER_PROCESS_H_
#define ACTLAB_TESTS_E2E_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace actlab {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(const std::string& name) const;

 private:
  std::string path_;
};

// One actlab-server process over a store that outlives it, so a test can
// stop or kill the server and start it again on the same data.
class ServerProcess {
 public:
  // `dir` holds the store (actlab.db), the port file and the server's log.
  // `extra_args` go to the server after the harness's own flags; one that
  // starts with "--store=" replaces the harness's store (e.g. a PostgreSQL
  // URL shared by several servers).
  ServerProcess(std::string binary, std::string dir,
                std::vector<std::string> extra_args = {});
  // Kills the server if it is still running.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Launches the server with --listen=127.0.0.1:0 and waits, at most 20 s,
  // for its port file and for grpc.health.v1 to report SERVING. On failure
  // the error includes the server's log and the process is killed.
  absl::Status Start();
  // SIGTERM, then waits (at most 20 s) for the exit; returns the exit code,
  // or an error if it died by a signal or did not exit in time.
  absl::StatusOr<int> Stop();
  // SIGKILL without warning, as a crash would; reaps the process.
  void Kill();
  // Sends `signal` (e.g. SIGHUP) to the running server and returns at once.
  void Signal(int signal);

  // From the next Start on, when the test runs as root (which file
  // permissions do not bind), runs the server as user nobody, so that a
  // file it may not write stays unwritable to it; `dir` is handed to nobody
  // for the port file. No effect for an ordinary user.
  void RunUnprivileged();

  bool running() const { return pid_ > 0; }
  // True when grpc.health.v1 answers SERVING within 500 ms.
  bool Serving() const;
  // The server's process id while running().
  pid_t pid() const { return pid_; }
  // "127.0.0.1:PORT" of the running server.
  const std::string& address() const { return address_; }
  // The SQLite file used unless `extra_args` name another store.
  std::string store_path() const { return dir_ + "/actlab.db"; }
  // Everything the server has written to stdout and stderr so far.
  std::string Log() const;

 private:
  std::string binary_;
  std::string dir_;
  std::vector<std::string> extra_args_;
  bool unprivileged_ = false;
  pid_t pid_ = -1;
  std::string address_;
};

struct ProcessResult {
  // The exit code; 128 + signal number if a signal ended it, -1 if it had
  // to be killed for overrunning its time.
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `binary` with `args`, stdin from /dev/null, capturing stdout and
// stderr; kills it after `timeout_seconds`. Safe to call from several
// threads at once.
ProcessResult RunProcess(const std::string& binary,
                         const std::vector<std::string>& args,
                         double timeout_seconds = 60);

// Starts `binary` like RunProcess but returns at once with its pid (-1 if
// fork failed), so a test can signal it; stdout and stderr are appended to
// `out_path` and `err_path`, which the test may read while it runs.
pid_t StartProcess(const std::string& binary,
                   const std::vector<std::string>& args,
                   const std::string& out_path, const std::string& err_path);

// Reaps a StartProcess child; its exit code as in ProcessResult, killing it
// (-1) if it runs past `timeout_seconds`.
int WaitProcess(pid_t pid, double timeout_seconds = 60);

}  // namespace actlab

#endif  // ACTLAB_TESTS_E2E_SERVER_PROCESS_H_
