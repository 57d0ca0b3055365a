// Copyright actlab authors.
//
// TLS for end-to-end tests: throwaway certificates made by openssl for one
// run, and an actlab-server that serves TLS.

#ifndef ACTLAB_TESTS_E2E_TLS_SUPPORT_H_
#define ACTLAB_TESTS_E2E_TLS_SUPPORT_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"

namespace actlab {

// A CA, a server certificate for 127.0.0.1 and a client certificate, both
// signed by the CA, in `dir`.
class Certificates {
 public:
  explicit Certificates(const TempDir& dir) : dir_(dir) {}

  ::testing::AssertionResult Make();

  std::string ca() const { return dir_.File("ca.crt"); }
  std::string cert(const std::string& who) const {
    return dir_.File(who + ".crt");
  }
  std::string key(const std::string& who) const {
    return dir_.File(who + ".key");
  }

 private:
  ::testing::AssertionResult Openssl(const std::vector<std::string>& args);
  ::testing::AssertionResult Sign(const std::string& who,
                                  const std::string& san);

  const TempDir& dir_;
};

// actlab-server with TLS flags (and any others) in `dir`, stopped with
// SIGTERM on destruction. The harness's readiness probe speaks plaintext,
// so this waits for the port file and callers probe with the CLI.
class TlsServer {
 public:
  TlsServer(const TempDir& dir, std::vector<std::string> tls_flags);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // The address once the port file appears, or "" after 20 s.
  std::string WaitForAddress();

 private:
  const TempDir& dir_;
  pid_t pid_ = -1;
};

}  // namespace actlab

#endif  // ACTLAB_TESTS_E2E_TLS_SUPPORT_H_
