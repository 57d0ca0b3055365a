// Copyright actlab authors.
//
// A fixture for end-to-end tests that call the gRPC API directly: one real
// server for the whole suite, a stub to it, and a check after every test
// that the server still answers, whatever the test sent.

#ifndef ACTLAB_TESTS_E2E_API_SERVER_TEST_H_
#define ACTLAB_TESTS_E2E_API_SERVER_TEST_H_

#include <string>
#include <vector>

#include "actlab/v1/actlab.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"

namespace actlab {

class ApiServerTest : public ::testing::Test {
 protected:
  // Call from SetUpTestSuite; `extra_args` go to the server.
  static void StartServer(std::vector<std::string> extra_args = {});
  static void TearDownTestSuite();
  void TearDown() override;

  // A session holding `units`; fails the test if it cannot be created.
  static std::string CreateSession(const std::vector<v1::UnitConfig>& units);
  static v1::Unit GetUnit(const std::string& session, const std::string& unit);

  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline v1::Actlab::Stub* stub_ = nullptr;
};

}  // namespace actlab

#endif  // ACTLAB_TESTS_E2E_API_SERVER_TEST_H_
