// Copyright actlab authors.
//
// TLS between the real CLI and server, with throwaway certificates made by
// openssl for this run: plain TLS, and mutual TLS where the server demands
// a client certificate.

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/tls_support.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

class TlsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.Make()); }

  TempDir dir_;
  Certificates certs_{dir_};
};

TEST_F(TlsE2eTest, ServerAuthenticatedTls) {
  TempDir server_dir;
  // Dashed flag names, on the server and the CLI alike.
  TlsServer server(server_dir, {"--tls-cert=" + certs_.cert("server"),
                                "--tls-key=" + certs_.key("server")});
  const std::string address = server.WaitForAddress();
  ASSERT_FALSE(address.empty());

  ProcessResult r = Cli(address, {"--tls-ca", certs_.ca(), "health"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("SERVING"));
  r = Cli(address, {"--tls_ca", certs_.ca(), "activations"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("gelu"));

  // Plaintext against a TLS port does not get through.
  r = Cli(address, {"--timeout", "3", "health"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  // Nor does TLS that trusts another CA (the server's own certificate is
  // not a CA).
  r = Cli(address,
          {"--timeout", "3", "--tls_ca", certs_.cert("client"), "health"});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
}

TEST_F(TlsE2eTest, MutualTlsRequiresAClientCertificate) {
  TempDir server_dir;
  TlsServer server(server_dir, {"--tls_cert=" + certs_.cert("server"),
                                "--tls_key=" + certs_.key("server"),
                                "--tls_client_ca=" + certs_.ca()});
  const std::string address = server.WaitForAddress();
  ASSERT_FALSE(address.empty());

  ProcessResult r =
      Cli(address, {"--timeout", "3", "--tls_ca", certs_.ca(), "health"});
  EXPECT_NE(r.exit_code, 0) << "no client certificate: " << Describe(r);
  r = Cli(address,
          {"--tls_ca", certs_.ca(), "--tls_cert", certs_.cert("client"),
           "--tls_key", certs_.key("client"), "health"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
}

TEST_F(TlsE2eTest, BadTlsFlagsAreRefused) {
  TempDir server_dir;
  const ProcessResult r =
      RunProcess(ACTLAB_SERVER_BINARY,
                 {"--listen=127.0.0.1:0", "--store=" + server_dir.File("a.db"),
                  "--tls_cert=" + certs_.cert("server")},
                 20);
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("--tls_cert and --tls_key go together"));

  const ProcessResult cli = Cli("127.0.0.1:1", {"--tls_cert", "x", "health"});
  EXPECT_EQ(cli.exit_code, 2) << Describe(cli);
}

}  // namespace
}  // namespace actlab
