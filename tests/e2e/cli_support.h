// Copyright actlab authors.
//
// What the CLI end-to-end tests share: running the real `actlab` binary
// against a server, reading its output, and one server per test suite.

#ifndef ACTLAB_TESTS_E2E_CLI_SUPPORT_H_
#define ACTLAB_TESTS_E2E_CLI_SUPPORT_H_

#include <string>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"

namespace actlab {

// Starts `server`; a failure carries the reason and the server's log.
::testing::AssertionResult Started(ServerProcess& server);

// `args` behind the flags that point the CLI at `address` with a deadline.
std::vector<std::string> CliArgs(const std::string& address,
                                 std::vector<std::string> args);

// Runs the actlab CLI against `address`.
ProcessResult Cli(const std::string& address, std::vector<std::string> args);

// Exit code and both streams, for failure messages.
std::string Describe(const ProcessResult& result);

// Parses the CLI's proto JSON output; a parse failure fails the test.
template <typename Message>
Message ParseJson(const std::string& json) {
  Message message;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &message).ok())
      << json;
  return message;
}

// A fixture with one real server for the whole suite, and a fresh folder
// for each test's files.
class SharedServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  static ProcessResult Run(std::vector<std::string> args) {
    return Cli(server_->address(), std::move(args));
  }

  TempDir files_;
  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
};

}  // namespace actlab

#endif  // ACTLAB_TESTS_E2E_CLI_SUPPORT_H_
