// Copyright actlab authors.
//
// TLS between the real CLI and server, with throwaway certificates made by
// openssl for this run: plain TLS, and mutual TLS where the server demands
// a client certificate.

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

constexpr char kOpenssl[] = "/usr/bin/openssl";

// A CA, a server certificate for 127.0.0.1 and a client certificate, both
// signed by the CA, in `dir`.
class Certificates {
 public:
  explicit Certificates(const TempDir& dir) : dir_(dir) {}

  ::testing::AssertionResult Make() {
    const std::string ca_key = dir_.File("ca.key");
    if (auto r = Openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes",
                          "-keyout", ca_key, "-out", ca(), "-days", "1",
                          "-subj", "/CN=actlab test CA"});
        !r) {
      return r;
    }
    if (auto r = Sign("server", "IP:127.0.0.1,DNS:localhost"); !r) return r;
    return Sign("client", "DNS:client");
  }

  std::string ca() const { return dir_.File("ca.crt"); }
  std::string cert(const std::string& who) const {
    return dir_.File(who + ".crt");
  }
  std::string key(const std::string& who) const {
    return dir_.File(who + ".key");
  }

 private:
  ::testing::AssertionResult Openssl(const std::vector<std::string>& args) {
    const ProcessResult r = RunProcess(kOpenssl, args, 30);
    if (r.exit_code == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "openssl: " << Describe(r);
  }

  ::testing::AssertionResult Sign(const std::string& who,
                                  const std::string& san) {
    const std::string csr = dir_.File(who + ".csr");
    const std::string ext = dir_.File(who + ".ext");
    std::ofstream(ext) << "subjectAltName=" << san << "\n";
    if (auto r = Openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                          key(who), "-out", csr, "-subj", "/CN=" + who});
        !r) {
      return r;
    }
    return Openssl({"x509", "-req", "-in", csr, "-CA", ca(), "-CAkey",
                    dir_.File("ca.key"), "-CAcreateserial", "-out", cert(who),
                    "-days", "1", "-extfile", ext});
  }

  const TempDir& dir_;
};

// actlab-server with TLS flags. The harness's readiness probe speaks
// plaintext, so this waits for the port file and probes with the CLI.
class TlsServer {
 public:
  TlsServer(const TempDir& dir, std::vector<std::string> tls_flags)
      : dir_(dir) {
    std::vector<std::string> args = {"--listen=127.0.0.1:0",
                                     "--port_file=" + dir_.File("port"),
                                     "--store=" + dir_.File("actlab.db")};
    args.insert(args.end(), tls_flags.begin(), tls_flags.end());
    pid_ = StartProcess(ACTLAB_SERVER_BINARY, args, dir_.File("log"),
                        dir_.File("log"));
  }
  ~TlsServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      WaitProcess(pid_, 20);
    }
  }

  // The address once the port file appears, or "" after 20 s.
  std::string WaitForAddress() {
    for (int i = 0; i < 400; ++i) {
      std::ifstream in(dir_.File("port"));
      int port = 0;
      if (in >> port && port > 0) return absl::StrCat("127.0.0.1:", port);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
  }

 private:
  const TempDir& dir_;
  pid_t pid_ = -1;
};

class TlsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(certs_.Make()); }

  TempDir dir_;
  Certificates certs_{dir_};
};

TEST_F(TlsE2eTest, ServerAuthenticatedTls) {
  TempDir server_dir;
  TlsServer server(server_dir, {"--tls_cert=" + certs_.cert("server"),
                                "--tls_key=" + certs_.key("server")});
  const std::string address = server.WaitForAddress();
  ASSERT_FALSE(address.empty());

  ProcessResult r = Cli(address, {"--tls_ca", certs_.ca(), "health"});
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
