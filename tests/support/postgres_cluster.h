// Copyright actlab authors.
//
// A throwaway PostgreSQL 15 cluster for tests: initdb in a fresh directory
// under /tmp, a server on a free loopback port with its socket in that
// directory, trust authentication for the superuser "actlab". As root the
// cluster runs as the "postgres" user (PostgreSQL refuses root), through
// runuser. Destruction stops it (immediate mode) and removes the directory.

#ifndef ACTLAB_TESTS_SUPPORT_POSTGRES_CLUSTER_H_
#define ACTLAB_TESTS_SUPPORT_POSTGRES_CLUSTER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace actlab {

class PostgresCluster {
 public:
  static constexpr char kBinDir[] = "/usr/lib/postgresql/15/bin";

  // Whether the PostgreSQL server binaries are installed.
  static bool Installed();
  // Whether a test that needs a cluster must fail rather than skip when
  // none is installed: in CI (CI=true).
  static bool Required();

  // Creates and starts a cluster, ready for connections; at most ~30 s.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start();
  // One cluster for the whole test binary, started on first use and stopped
  // when the process exits; tests keep apart by creating databases.
  static absl::StatusOr<PostgresCluster*> Shared();
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // Creates an empty database (a name of at most 63 bytes) and returns its
  // postgresql:// URL.
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  // Runs `sql` in database `db` and returns the first column of the first
  // row as text ("" when there is none).
  absl::StatusOr<std::string> Query(const std::string& db,
                                    const std::string& sql);
  int port() const { return port_; }

 private:
  PostgresCluster(std::string dir, int port) : dir_(dir), port_(port) {}

  std::string dir_;
  int port_;
};

}  // namespace actlab

// In a test body or SetUp: skips the test when PostgreSQL is not installed,
// or fails it when PostgresCluster::Required().
#define ACTLAB_SKIP_OR_FAIL_WITHOUT_POSTGRES()                           \
  do {                                                                   \
    if (!::actlab::PostgresCluster::Installed()) {                       \
      if (::actlab::PostgresCluster::Required()) {                       \
        FAIL() << "CI=true but PostgreSQL 15 is not installed (apt-get " \
                  "install postgresql; deploy/install-deps.sh does it)"; \
      }                                                                  \
      GTEST_SKIP() << "PostgreSQL 15 is not installed; the PostgreSQL "  \
                      "variants need /usr/lib/postgresql/15/bin/initdb"; \
    }                                                                    \
  } while (0)

#endif  // ACTLAB_TESTS_SUPPORT_POSTGRES_CLUSTER_H_
