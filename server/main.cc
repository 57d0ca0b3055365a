// Copyright actlab authors.
//
// actlab-server: serves actlab.v1.Actlab, grpc.health.v1 and reflection.
// SIGTERM or SIGINT flips health to NOT_SERVING, keeps serving for
// --drain_delay_seconds so probes see it, then stops taking calls, lets
// in-flight ones finish within --grace_seconds, and exits 0. SIGHUP
// reloads --auth_tokens.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "kernels/baseline.h"
#include "kernels/kernel_threads.h"
#include "kernels/pwlu.h"
#include "server/actlab_service.h"
#include "server/auth/authenticator.h"
#include "server/call_limiter.h"
#include "server/evaluator.h"
#include "server/observability/prometheus_metrics.h"
#include "server/observability/server_stats.h"
#include "server/observability/stats_interceptor.h"
#include "server/session/idle_session_sweeper.h"
#include "server/session/postgres_store.h"
#include "server/session/session_manager.h"
#include "server/session/sqlite_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "Address to serve on, HOST:PORT; port 0 picks a free port.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written here once the server listens "
          "(for scripts and tests that ask for port 0).");
ABSL_FLAG(std::string, store, "var/actlab.db",
          "Where sessions live: a SQLite file path (created with its folder "
          "if missing; one server process), or a postgres://... or "
          "postgresql://... URL shared by any number of replicas.");
ABSL_FLAG(int, store_pool_size, 4,
          "PostgreSQL only: connections per server process. Calls beyond "
          "it wait for a free connection.");
ABSL_FLAG(int, max_message_mb, 256,
          "Largest request or reply in MiB, both directions. gRPC's own "
          "default of 4 MiB is too small for activation tensors.");
ABSL_FLAG(int64_t, max_stream_elements,
          actlab::ActlabService::kDefaultMaxStreamElements,
          "Most elements a tensor streamed in chunks (EvaluateStream, "
          "ObserveStream) may declare; the server holds one chunk of it at a "
          "time, so this bounds the work of a call, not its memory.");
ABSL_FLAG(int64_t, max_sessions, actlab::SessionOptions().max_sessions,
          "Most sessions the store may hold, over all replicas sharing it; "
          "CreateSession beyond it fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_units_per_session,
          actlab::SessionOptions().max_units_per_session,
          "Most units one session may hold: a CreateSession with more is "
          "INVALID_ARGUMENT, an AddUnit or ImportUnit of a new unit into a "
          "full session RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_calls_in_flight, 256,
          "Most actlab.v1.Actlab calls (unary and streams) this process runs "
          "at once; more are refused at once with RESOURCE_EXHAUSTED. Health "
          "checks are not counted.");
ABSL_FLAG(absl::Duration, session_ttl, absl::ZeroDuration(),
          "Delete a session, with its units and runs, once nothing changed "
          "it for this long (e.g. 24h); reads do not count, a running Fit "
          "does. 0 keeps sessions until DeleteSession; else at least 2s.");
ABSL_FLAG(int, metrics_port, 0,
          "Serve Prometheus metrics over HTTP at /metrics on this port, on "
          "the host of --listen; 0 turns them off.");
ABSL_FLAG(std::string, tls_cert, "",
          "Serve TLS with this certificate chain (PEM); needs --tls_key.");
ABSL_FLAG(std::string, tls_key, "", "Private key (PEM) of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "With TLS, require client certificates signed by this CA (PEM).");
ABSL_FLAG(std::string, auth_tokens, "",
          "Require a bearer token on every actlab.v1 call: a file of "
          "'TOKEN PRINCIPAL [admin]' lines ('#' comments), reloaded on "
          "SIGHUP. Each session belongs to the principal that created it; "
          "admins see all. Empty: no authentication, every caller sees "
          "every session. Health and reflection never need a token.");
ABSL_FLAG(int, threads, 0,
          "Threads one kernel call may use for large tensors (64K elements "
          "and up; smaller ones use the calling thread); 0 means OpenMP's "
          "default, OMP_NUM_THREADS or the number of cores.");
ABSL_FLAG(int, drain_delay_seconds, 0,
          "On SIGTERM, how long health reports NOT_SERVING while calls are "
          "still taken, so load balancers and Kubernetes readiness probes "
          "see it and stop routing here before the server stops listening. "
          "Counts toward --grace_seconds.");
ABSL_FLAG(int, grace_seconds, 20,
          "On SIGTERM, how long in-flight calls may take to finish. Below "
          "Kubernetes' default 30 s termination grace period.");

namespace actlab {
namespace {

constexpr char kServiceName[] = "actlab.v1.Actlab";
// Well above SessionManager::kFitCheckpointInterval, so a live Fit on
// another replica is never taken for a dead one.
constexpr absl::Duration kSharedStoreFitLease = absl::Minutes(2);

void Log(const std::string& line) {
  std::fprintf(stderr, "actlab-server: %s\n", line.c_str());
}

bool WritePortFile(const std::string& path, int port) {
  // Write then rename, so a reader never sees a half-written number.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string contents((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": cannot read the file"));
  }
  if (contents.find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", path, ": not a PEM file"));
  }
  return contents;
}

// Plaintext unless --tls_cert is given; with --tls_client_ca, clients must
// present a certificate that CA signed.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>>
MakeServerCredentials() {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const std::string client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (cert.empty()) {
    if (!client_ca.empty()) {
      return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert");
    }
    return grpc::InsecureServerCredentials();
  }
  auto cert_pem = ReadPem("tls_cert", cert);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadPem("tls_key", key);
  if (!key_pem.ok()) return key_pem.status();
  grpc::SslServerCredentialsOptions options(
      client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_key_cert_pairs.push_back({*key_pem, *cert_pem});
  if (!client_ca.empty()) {
    auto ca_pem = ReadPem("tls_client_ca", client_ca);
    if (!ca_pem.ok()) return ca_pem.status();
    options.pem_root_certs = *ca_pem;
  }
  return grpc::SslServerCredentials(options);
}

// A file that does not parse leaves the tokens in force; the log names its
// line, never a token.
void ReloadTokens(Authenticator& authenticator) {
  if (!authenticator.enabled()) {
    Log("received SIGHUP; auth is off, nothing to reload");
    return;
  }
  absl::StatusOr<size_t> reloaded = authenticator.Reload();
  if (reloaded.ok()) {
    Log(absl::StrCat("auth: reloaded ", *reloaded, " tokens from ",
                     authenticator.path()));
  } else {
    Log(absl::StrCat("auth: reload failed, keeping the ",
                     authenticator.tokens(),
                     " tokens in force: ", reloaded.status().message()));
  }
}

int Run() {
  const int max_message_mb = absl::GetFlag(FLAGS_max_message_mb);
  if (max_message_mb < 1 || max_message_mb > 2047) {
    Log(absl::StrCat("--max_message_mb=", max_message_mb,
                     " is outside [1, 2047]"));
    return 2;
  }
  const int max_message_bytes = max_message_mb * 1024 * 1024;
  const int64_t max_stream_elements = absl::GetFlag(FLAGS_max_stream_elements);
  if (max_stream_elements < 1) {
    Log(absl::StrCat("--max_stream_elements=", max_stream_elements,
                     " must be at least 1"));
    return 2;
  }
  const int max_calls_in_flight = absl::GetFlag(FLAGS_max_calls_in_flight);
  if (max_calls_in_flight < 1) {
    Log(absl::StrCat("--max_calls_in_flight=", max_calls_in_flight,
                     " must be at least 1"));
    return 2;
  }

  // A write past RLIMIT_FSIZE then fails with EFBIG, which the store reports
  // as full, instead of SIGXFSZ killing the server with every call in it.
  signal(SIGXFSZ, SIG_IGN);

  // Handle termination signals in this thread alone: block them before any
  // other thread exists so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Authenticator> authenticator;
  if (const std::string tokens = absl::GetFlag(FLAGS_auth_tokens);
      tokens.empty()) {
    authenticator = std::make_unique<Authenticator>();
    Log("auth: off");
  } else {
    absl::StatusOr<std::unique_ptr<Authenticator>> loaded =
        Authenticator::Load(tokens);
    if (!loaded.ok()) {
      Log(absl::StrCat("--auth_tokens: ", loaded.status().message()));
      return 2;
    }
    authenticator = *std::move(loaded);
    Log(absl::StrCat("auth: ", authenticator->tokens(), " tokens from ",
                     tokens));
  }

  if (absl::GetFlag(FLAGS_threads) < 0) {
    Log("--threads must be >= 0");
    return 2;
  }
  SetKernelThreads(absl::GetFlag(FLAGS_threads));
  BaselineEngine baselines;
  const std::string store_flag = absl::GetFlag(FLAGS_store);
  const bool shared = PostgresStore::IsUrl(store_flag);
  // The log names the store without a password the URL may carry.
  const std::string store_name =
      shared ? "PostgreSQL " +
                   store_flag.substr(0, store_flag.find("://") + 3) + "..."
             : store_flag;
  absl::StatusOr<std::unique_ptr<SessionStore>> store;
  if (shared) {
    store =
        PostgresStore::Open(store_flag, absl::GetFlag(FLAGS_store_pool_size));
  } else {
    store = SqliteStore::Open(store_flag);
  }
  if (!store.ok()) {
    Log(absl::StrCat("cannot open --store ", store_name, ": ",
                     store.status().ToString()));
    return 1;
  }
  // A SQLite file has one server, so any Fit left RUNNING was its own;
  // replicas on PostgreSQL close only Fits that stopped checkpointing.
  SessionOptions options;
  options.fit_lease = shared ? kSharedStoreFitLease : absl::ZeroDuration();
  options.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  options.max_units_per_session = absl::GetFlag(FLAGS_max_units_per_session);
  options.session_ttl = absl::GetFlag(FLAGS_session_ttl);
  auto sessions = SessionManager::Open(*std::move(store), &baselines, options);
  if (!sessions.ok()) {
    // Options out of range are flags out of range.
    if (absl::IsInvalidArgument(sessions.status())) {
      Log(absl::StrCat("--", sessions.status().message()));
      return 2;
    }
    Log(absl::StrCat("cannot open sessions in ", store_name, ": ",
                     sessions.status().ToString()));
    return 1;
  }
  std::unique_ptr<IdleSessionSweeper> sweeper;
  if (options.session_ttl > absl::ZeroDuration()) {
    sweeper = std::make_unique<IdleSessionSweeper>(sessions->get(), Log);
  }
  // A request carries the input and the upstream gradient in one message.
  const int64_t max_elements = max_message_bytes / sizeof(float) / 2;
  Evaluator evaluator(&baselines, sessions->get(), max_elements);
  ServerStats stats;
  CallLimiter calls(max_calls_in_flight);
  ActlabService service(&evaluator, sessions->get(), &stats,
                        authenticator.get(), &calls, max_stream_elements);

  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::vector<CallSink*> sinks = {&stats};
  std::unique_ptr<PrometheusMetrics> metrics;
  if (const int metrics_port = absl::GetFlag(FLAGS_metrics_port);
      metrics_port != 0) {
    SessionManager* manager = sessions->get();
    auto started = PrometheusMetrics::Start(
        absl::StrCat(host, ":", metrics_port), [manager, &calls] {
          SessionCounts counts = CountSessions(*manager);
          counts.calls_in_flight = calls.in_flight();
          return counts;
        });
    if (!started.ok()) {
      Log(started.status().ToString());
      return 1;
    }
    metrics = *std::move(started);
    sinks.push_back(metrics.get());
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  auto credentials = MakeServerCredentials();
  if (!credentials.ok()) {
    Log(credentials.status().ToString());
    return 2;
  }
  builder.AddListeningPort(listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  builder.RegisterService(&service);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(MakeStatsInterceptorFactory(sinks));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    Log(absl::StrCat("cannot listen on ", listen));
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(kServiceName, true);

  Log(absl::StrCat(
      "version ", ACTLAB_VERSION, " listening on ", host, ":", port, "; ",
      BaselineEngine::Version(), "; pwlu kernel ", PwluKernelName(16),
      "; max message ", max_message_mb, " MiB; store ", store_name,
      "; session ttl ",
      options.session_ttl > absl::ZeroDuration()
          ? absl::FormatDuration(options.session_ttl)
          : "off",
      metrics ? absl::StrCat("; metrics on port ", metrics->port()) : ""));
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, port)) {
    Log(absl::StrCat("cannot write --port_file ", port_file));
    server->Shutdown();
    return 1;
  }

  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    ReloadTokens(*authenticator);
  }
  Log(absl::StrCat("received ", strsignal(signal_number),
                   "; draining for up to ", absl::GetFlag(FLAGS_grace_seconds),
                   " s"));
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::seconds(absl::GetFlag(FLAGS_grace_seconds));
  health->SetServingStatus(false);
  std::this_thread::sleep_for(
      std::chrono::seconds(absl::GetFlag(FLAGS_drain_delay_seconds)));
  server->Shutdown(deadline);
  server->Wait();
  Log("stopped");
  return 0;
}

// Lets flag names take '-' as well as '_' (--auth-tokens, --tls-cert), as
// the CLI does: Abseil matches names exactly, so "--a-b[=v]" becomes
// "--a_b[=v]" in place. Values and everything after "--" are untouched.
void AcceptDashedFlagNames(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    if (std::strcmp(arg, "--") == 0) return;
    if (arg[0] != '-') continue;
    char* name = arg + (arg[1] == '-' ? 2 : 1);
    for (char* c = name; *c != '\0' && *c != '='; ++c) {
      if (*c == '-') *c = '_';
    }
  }
}

}  // namespace
}  // namespace actlab

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves PWLU and baseline activations over gRPC.\n"
      "Usage: actlab-server [--listen=HOST:PORT] [--max_message_mb=N] ...");
  actlab::AcceptDashedFlagNames(argc, argv);
  absl::ParseCommandLine(argc, argv);
  return actlab::Run();
}
