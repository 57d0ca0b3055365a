// Copyright actlab authors.

#include "tests/e2e/cli_support.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace actlab {

::testing::AssertionResult Started(ServerProcess& server) {
  const absl::Status status = server.Start();
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status;
}

std::vector<std::string> CliArgs(const std::string& address,
                                 std::vector<std::string> args) {
  args.insert(args.begin(), {"--server", address, "--timeout", "20"});
  return args;
}

ProcessResult Cli(const std::string& address, std::vector<std::string> args) {
  return RunProcess(ACTLAB_CLI_BINARY, CliArgs(address, std::move(args)));
}

std::string Describe(const ProcessResult& result) {
  return absl::StrCat("exit ", result.exit_code, "\nstdout:\n", result.out,
                      "\nstderr:\n", result.err);
}

void SharedServerTest::SetUpTestSuite() {
  dir_ = new TempDir();
  server_ = new ServerProcess(ACTLAB_SERVER_BINARY, dir_->path());
  ASSERT_TRUE(Started(*server_));
}

void SharedServerTest::TearDownTestSuite() {
  delete server_;
  server_ = nullptr;
  delete dir_;
  dir_ = nullptr;
}

void SharedServerTest::SetUp() {
  ASSERT_TRUE(server_ != nullptr && server_->running())
      << "the shared server did not start";
}

}  // namespace actlab
