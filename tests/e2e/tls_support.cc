// Copyright actlab authors.

#include "tests/e2e/tls_support.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/e2e/cli_support.h"

namespace actlab {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";

}  // namespace

::testing::AssertionResult Certificates::Make() {
  const std::string ca_key = dir_.File("ca.key");
  if (auto r = Openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", ca_key, "-out", ca(), "-days", "1", "-subj",
                        "/CN=actlab test CA"});
      !r) {
    return r;
  }
  if (auto r = Sign("server", "IP:127.0.0.1,DNS:localhost"); !r) return r;
  return Sign("client", "DNS:client");
}

::testing::AssertionResult Certificates::Openssl(
    const std::vector<std::string>& args) {
  const ProcessResult r = RunProcess(kOpenssl, args, 30);
  if (r.exit_code == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "openssl: " << Describe(r);
}

::testing::AssertionResult Certificates::Sign(const std::string& who,
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

TlsServer::TlsServer(const TempDir& dir, std::vector<std::string> tls_flags)
    : dir_(dir) {
  std::vector<std::string> args = {"--listen=127.0.0.1:0",
                                   "--port_file=" + dir_.File("port"),
                                   "--store=" + dir_.File("actlab.db")};
  args.insert(args.end(), tls_flags.begin(), tls_flags.end());
  pid_ = StartProcess(ACTLAB_SERVER_BINARY, args, dir_.File("log"),
                      dir_.File("log"));
}

TlsServer::~TlsServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    WaitProcess(pid_, 20);
  }
}

std::string TlsServer::WaitForAddress() {
  for (int i = 0; i < 400; ++i) {
    std::ifstream in(dir_.File("port"));
    int port = 0;
    if (in >> port && port > 0) return absl::StrCat("127.0.0.1:", port);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

}  // namespace actlab
