// Copyright actlab authors.

#include "tests/e2e/server_process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace actlab {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kStopTimeout = std::chrono::seconds(20);
constexpr auto kPollInterval = std::chrono::milliseconds(5);

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// An account without privileges, for a server that file permissions must
// bind.
struct User {
  uid_t uid;
  gid_t gid;
};

std::optional<User> Nobody() {
  const passwd* entry = getpwnam("nobody");
  if (entry == nullptr) return std::nullopt;
  return User{entry->pw_uid, entry->pw_gid};
}

// fork + exec with stdin from /dev/null and stdout/stderr appended to the
// given files, as `user` if given (the files are opened before the switch).
// Everything the child touches is prepared before fork(): the parent has
// gRPC threads, so the child may only make async-signal-safe calls until
// exec. The child exits 125 if it cannot become `user`.
pid_t Spawn(const std::string& binary, const std::vector<std::string>& args,
            const std::string& out_path, const std::string& err_path,
            std::optional<User> user = std::nullopt) {
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int in = open("/dev/null", O_RDONLY);
  const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0 || err < 0 || dup2(in, STDIN_FILENO) < 0 ||
      dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
    _exit(126);
  }
  if (user.has_value() && (setgroups(0, nullptr) != 0 ||
                           setgid(user->gid) != 0 || setuid(user->uid) != 0)) {
    _exit(125);
  }
  execv(binary.c_str(), argv.data());
  _exit(127);
}

// waitpid until `deadline`; the raw wait status, or nullopt on timeout.
std::optional<int> WaitUntil(pid_t pid, Clock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

bool IsServing(const std::string& address) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(500));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  return stub->Check(&context, request, &response).ok() &&
         response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

}  // namespace

TempDir::TempDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "actlab_e2e_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(const std::string& name) const {
  return absl::StrCat(path_, "/", name);
}

bool ServerProcess::Serving() const { return IsServing(address_); }

ServerProcess::ServerProcess(std::string binary, std::string dir,
                             std::vector<std::string> extra_args)
    : binary_(std::move(binary)),
      dir_(std::move(dir)),
      extra_args_(std::move(extra_args)) {}

ServerProcess::~ServerProcess() {
  if (running()) Kill();
}

std::string ServerProcess::Log() const {
  return ReadWholeFile(dir_ + "/server.log");
}

absl::Status ServerProcess::Start() {
  if (running()) return absl::FailedPreconditionError("already running");
  const std::string port_file = dir_ + "/port";
  std::filesystem::remove(port_file);
  const std::string log = dir_ + "/server.log";
  std::vector<std::string> args = {"--listen=127.0.0.1:0",
                                   "--port_file=" + port_file};
  if (std::none_of(extra_args_.begin(), extra_args_.end(),
                   [](const std::string& arg) {
                     return absl::StartsWith(arg, "--store=");
                   })) {
    args.push_back("--store=" + store_path());
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::optional<User> user;
  if (unprivileged_ && geteuid() == 0) {
    user = Nobody();
    if (!user.has_value()) return absl::InternalError("no user nobody");
    if (chown(dir_.c_str(), user->uid, user->gid) != 0) {
      return absl::InternalError(
          absl::StrCat("chown ", dir_, ": ", std::strerror(errno)));
    }
  }
  pid_ = Spawn(binary_, args, log, log, user);
  if (pid_ < 0) return absl::InternalError("fork failed");

  const auto deadline = Clock::now() + kStartTimeout;
  auto fail = [&](absl::string_view why) {
    Kill();
    return absl::UnavailableError(
        absl::StrCat("actlab-server ", why, "; its log:\n", Log()));
  };
  while (true) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return fail(absl::StrCat("exited with ", ExitCode(status)));
    }
    int port = 0;
    // The server renames the file into place, so any content is complete.
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadWholeFile(port_file)),
                         &port) &&
        port > 0) {
      address_ = absl::StrCat("127.0.0.1:", port);
      if (IsServing(address_)) return absl::OkStatus();
    }
    if (Clock::now() >= deadline) {
      return fail("did not report SERVING within 20 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::StatusOr<int> ServerProcess::Stop() {
  if (!running()) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGTERM);
  const std::optional<int> status =
      WaitUntil(pid_, Clock::now() + kStopTimeout);
  if (!status.has_value()) {
    Kill();
    return absl::DeadlineExceededError("no exit within 20 s of SIGTERM");
  }
  pid_ = -1;
  if (!WIFEXITED(*status)) {
    return absl::InternalError(
        absl::StrCat("ended by signal ", WTERMSIG(*status)));
  }
  return WEXITSTATUS(*status);
}

void ServerProcess::Signal(int signal) {
  if (running()) kill(pid_, signal);
}

void ServerProcess::Kill() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void ServerProcess::RunUnprivileged() { unprivileged_ = true; }

ProcessResult RunProcess(const std::string& binary,
                         const std::vector<std::string>& args,
                         double timeout_seconds) {
  TempDir capture;
  const std::string out_path = capture.File("out");
  const std::string err_path = capture.File("err");
  ProcessResult result;
  const pid_t pid = StartProcess(binary, args, out_path, err_path);
  if (pid < 0) {
    result.err = absl::StrCat("fork failed: ", std::strerror(errno));
    return result;
  }
  result.exit_code = WaitProcess(pid, timeout_seconds);
  result.out = ReadWholeFile(out_path);
  result.err = ReadWholeFile(err_path);
  return result;
}

pid_t StartProcess(const std::string& binary,
                   const std::vector<std::string>& args,
                   const std::string& out_path, const std::string& err_path) {
  return Spawn(binary, args, out_path, err_path);
}

int WaitProcess(pid_t pid, double timeout_seconds) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(timeout_seconds));
  const std::optional<int> status = WaitUntil(pid, deadline);
  if (status.has_value()) return ExitCode(*status);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

}  // namespace actlab
