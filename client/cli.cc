// Copyright actlab authors.

#include "client/cli.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/commands.h"
#include "client/io.h"

namespace actlab {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// The shell's code for a death by SIGINT, which an interrupted command
// mimics after cleaning up.
constexpr int kExitInterrupted = 130;
constexpr absl::string_view kInterruptedPayload = "type.actlab.dev/interrupted";
constexpr absl::string_view kDefaultServer = "127.0.0.1:50051";
// Message sizes are ints inside gRPC.
constexpr int64_t kMaxMessageMb = 2047;

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"server", "HOST:PORT",
       absl::StrCat("server address (default: $ACTLAB_SERVER, else ",
                    kDefaultServer, ")")},
      {"timeout", "SECONDS",
       "deadline of every call (default 30; for fit, 1 hour)"},
      {"max_message_mb", "MB",
       "largest message sent or received (default 256)"},
      {"tls_ca", "FILE",
       "use TLS, trusting the CA certificate in FILE (PEM; default: "
       "$ACTLAB_TLS_CA, else plaintext)"},
      {"tls_cert", "FILE",
       "client certificate (PEM) for servers that "
       "verify clients; needs --tls_key"},
      {"tls_key", "FILE", "private key (PEM) of --tls_cert"},
      {"token", "TOKEN",
       "bearer token for servers started with --auth_tokens (default: "
       "$ACTLAB_TOKEN, which keeps it out of the process list)"},
      {"help", "", "print usage"},
  };
  return *flags;
}

std::string FlagSynopsis(const FlagSpec& flag) {
  std::string text = absl::StrCat("--", flag.name);
  if (!flag.value_name.empty()) absl::StrAppend(&text, " ", flag.value_name);
  if (flag.repeated) absl::StrAppend(&text, "...");
  return flag.required ? text : absl::StrCat("[", text, "]");
}

std::string Synopsis(const Command& command) {
  std::string text = absl::StrCat("actlab ", command.name);
  if (!command.args.empty()) absl::StrAppend(&text, " ", command.args);
  for (const FlagSpec& flag : command.flags) {
    absl::StrAppend(&text, " ", FlagSynopsis(flag));
  }
  return text;
}

void PrintFlags(absl::Span<const FlagSpec> flags, std::ostream& out) {
  Table table({});
  for (const FlagSpec& flag : flags) {
    std::string name = absl::StrCat("  --", flag.name);
    if (!flag.value_name.empty()) absl::StrAppend(&name, " ", flag.value_name);
    table.AddRow({name, flag.help});
  }
  table.Print(out);
}

void PrintOverview(std::ostream& out) {
  out << "Usage: actlab [global flags] <command> [args]\n"
         "Calls an actlab server. 'actlab help <command>' describes one "
         "command.\n\nGlobal flags (also accepted after the command):\n";
  PrintFlags(GlobalFlags(), out);
  out << "\nCommands:\n";
  for (const Command& command : AllCommands()) {
    out << "  " << Synopsis(command) << "\n      " << command.summary << "\n";
  }
  out << "\nExit status: 0 success, 1 failure (\"actlab: <command>: "
         "<CODE>: <message>\" on stderr), 2 usage error.\n";
}

void PrintCommandHelp(const Command& command, std::ostream& out) {
  out << "Usage: " << Synopsis(command) << "\n\n" << command.summary << "\n";
  if (!command.flags.empty()) {
    out << "\nFlags:\n";
    PrintFlags(command.flags, out);
  }
  out << "\nGlobal flags --server, --timeout, --max_message_mb: see 'actlab "
         "--help'.\n";
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : AllCommands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

// The second words of the two-word commands whose first word is `group`
// ("session", "run"); empty when `group` names no group.
std::vector<std::string> Subcommands(absl::string_view group) {
  std::vector<std::string> names;
  const std::string prefix = absl::StrCat(group, " ");
  for (const Command& command : AllCommands()) {
    absl::string_view name = command.name;
    if (absl::ConsumePrefix(&name, prefix)) names.emplace_back(name);
  }
  return names;
}

// Resolves the command named by the first one or two words of `words`;
// `consumed` receives how many words named it.
absl::StatusOr<const Command*> ResolveCommand(
    const std::vector<std::string>& words, size_t* consumed) {
  if (const std::vector<std::string> subcommands = Subcommands(words[0]);
      !subcommands.empty()) {
    const std::string known = absl::StrJoin(subcommands, ", ");
    if (words.size() < 2) {
      return UsageError(absl::StrCat(words[0], " needs a subcommand: ", known));
    }
    *consumed = 2;
    const Command* command = FindCommand(absl::StrCat(words[0], " ", words[1]));
    if (command == nullptr) {
      return UsageError(absl::StrCat("unknown ", words[0], " subcommand '",
                                     words[1], "'; known: ", known));
    }
    return command;
  }
  *consumed = 1;
  const Command* command = FindCommand(words[0]);
  if (command == nullptr) {
    return UsageError(absl::StrCat("unknown command '", words[0], "'"));
  }
  return command;
}

absl::Status CheckArguments(const Command& command, const ParsedArgs& args) {
  for (const FlagSpec& flag : command.flags) {
    if (flag.required && !args.Has(flag.name)) {
      return UsageError(absl::StrCat("--", flag.name, " is required"));
    }
  }
  const size_t count = args.positional().size();
  if (count < command.min_positional || count > command.max_positional) {
    if (command.args.empty()) {
      return UsageError(absl::StrCat("takes no positional arguments, got '",
                                     args.positional()[0], "'"));
    }
    return UsageError(absl::StrCat("expects ", command.args, ", got ", count,
                                   " argument", count == 1 ? "" : "s"));
  }
  return absl::OkStatus();
}

// The connection options from the command's flags, else the global ones
// given before the command, else the environment and defaults.
absl::StatusOr<ConnectionOptions> MakeConnectionOptions(
    const ParsedArgs& global, const ParsedArgs& local,
    const std::string& env_server) {
  auto pick = [&](absl::string_view flag) -> const ParsedArgs& {
    return local.Has(flag) ? local : global;
  };
  ConnectionOptions options;
  options.server = pick("server").Get(
      "server", env_server.empty() ? kDefaultServer : env_server);
  if (options.server.empty()) return UsageError("--server is empty");
  absl::StatusOr<double> timeout = pick("timeout").GetDouble("timeout", 30);
  if (!timeout.ok()) return timeout.status();
  if (!(*timeout > 0) || !std::isfinite(*timeout)) {
    return UsageError("--timeout must be a positive number of seconds");
  }
  options.timeout = std::chrono::milliseconds(
      static_cast<int64_t>(std::ceil(*timeout * 1000)));
  options.timeout_given = pick("timeout").Has("timeout");
  absl::StatusOr<int64_t> mb =
      pick("max_message_mb").GetInt("max_message_mb", 256);
  if (!mb.ok()) return mb.status();
  if (*mb < 1 || *mb > kMaxMessageMb) {
    return UsageError(
        absl::StrCat("--max_message_mb must be in [1, ", kMaxMessageMb, "]"));
  }
  options.max_message_mb = static_cast<int>(*mb);

  const char* env_tls_ca = std::getenv("ACTLAB_TLS_CA");
  const std::string ca =
      pick("tls_ca").Get("tls_ca", env_tls_ca == nullptr ? "" : env_tls_ca);
  const std::string cert = pick("tls_cert").Get("tls_cert", "");
  const std::string key = pick("tls_key").Get("tls_key", "");
  if (cert.empty() != key.empty()) {
    return UsageError("--tls_cert and --tls_key go together");
  }
  if (ca.empty() && !cert.empty()) {
    return UsageError("--tls_cert needs --tls_ca (TLS) as well");
  }
  const char* env_token = std::getenv("ACTLAB_TOKEN");
  options.token =
      pick("token").Get("token", env_token == nullptr ? "" : env_token);
  for (char c : options.token) {
    // What a gRPC header value may hold, and a token never has spaces.
    if (c <= ' ' || c > '~') {
      return UsageError(
          "--token (or $ACTLAB_TOKEN) must be printable ASCII without "
          "spaces");
    }
  }
  for (auto [path, pem] : {std::pair{&ca, &options.tls_ca_pem},
                           std::pair{&cert, &options.tls_cert_pem},
                           std::pair{&key, &options.tls_key_pem}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> contents = ReadFile(*path);
    if (!contents.ok()) return contents.status();
    *pem = *std::move(contents);
  }
  return options;
}

int ReportUsage(const absl::Status& status, absl::string_view command,
                std::ostream& err) {
  err << "actlab: " << (command.empty() ? "" : absl::StrCat(command, ": "))
      << status.message() << "\nRun 'actlab "
      << (command.empty() ? "--help" : absl::StrCat("help ", command))
      << "' for usage.\n";
  return kExitUsage;
}

int Help(const std::vector<std::string>& topic, std::ostream& out,
         std::ostream& err) {
  if (topic.empty()) {
    PrintOverview(out);
    return 0;
  }
  if (topic.size() == 1 && !Subcommands(topic[0]).empty()) {
    out << "Subcommands of " << topic[0] << ":\n";
    for (const Command& command : AllCommands()) {
      if (absl::StartsWith(command.name, absl::StrCat(topic[0], " "))) {
        out << "  " << Synopsis(command) << "\n      " << command.summary
            << "\n";
      }
    }
    return 0;
  }
  size_t consumed = 0;
  absl::StatusOr<const Command*> command = ResolveCommand(topic, &consumed);
  if (!command.ok()) return ReportUsage(command.status(), "", err);
  PrintCommandHelp(**command, out);
  return 0;
}

}  // namespace

absl::StatusOr<v1::Unit> FetchUnit(CommandContext& ctx,
                                   const v1::UnitRef& ref) {
  v1::GetUnitRequest request;
  *request.mutable_unit() = ref;
  v1::GetUnitResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::GetUnit, request, &response);
  if (!status.ok()) return status;
  return std::move(*response.mutable_unit());
}

absl::Status InterruptedError(absl::string_view message) {
  absl::Status status = absl::CancelledError(message);
  status.SetPayload(kInterruptedPayload, absl::Cord());
  return status;
}

bool IsInterrupted(const absl::Status& status) {
  return status.GetPayload(kInterruptedPayload).has_value();
}

const std::vector<Command>& AllCommands() {
  static const auto* commands = [] {
    auto* all = new std::vector<Command>(ServerCommands());
    for (auto group : {EvalCommands(), SessionCommands(), TrainCommands(),
                       PlotCommands(), BenchCommands(), StatsCommands()}) {
      all->insert(all->end(), group.begin(), group.end());
    }
    return all;
  }();
  return *commands;
}

int RunCli(const std::vector<std::string>& args, const std::string& env_server,
           std::ostream& out, std::ostream& err, bool interactive) {
  absl::StatusOr<ParsedArgs> global =
      ParseArgs(GlobalFlags(), args, /*stop_at_positional=*/true);
  if (!global.ok()) return ReportUsage(global.status(), "", err);
  const std::vector<std::string>& words = global->positional();
  if (global->Has("help")) return Help({}, out, err);
  if (words.empty()) {
    PrintOverview(err);
    return kExitUsage;
  }
  if (words[0] == "help") {
    return Help(std::vector<std::string>(words.begin() + 1, words.end()), out,
                err);
  }

  size_t consumed = 0;
  absl::StatusOr<const Command*> resolved = ResolveCommand(words, &consumed);
  if (!resolved.ok()) return ReportUsage(resolved.status(), "", err);
  const Command& command = **resolved;

  std::vector<FlagSpec> specs = command.flags;
  specs.insert(specs.end(), GlobalFlags().begin(), GlobalFlags().end());
  absl::StatusOr<ParsedArgs> local =
      ParseArgs(specs, absl::MakeConstSpan(words).subspan(consumed));
  if (!local.ok()) return ReportUsage(local.status(), command.name, err);
  if (local->Has("help")) {
    PrintCommandHelp(command, out);
    return 0;
  }
  if (absl::Status s = CheckArguments(command, *local); !s.ok()) {
    return ReportUsage(s, command.name, err);
  }
  absl::StatusOr<ConnectionOptions> options =
      MakeConnectionOptions(*global, *local, env_server);
  if (!options.ok()) return ReportUsage(options.status(), command.name, err);

  Connection connection(*options);
  CommandContext context{connection, out, err, interactive};
  const absl::Status status = command.run(context, *local);
  out.flush();
  if (status.ok()) return 0;
  if (IsUsageError(status)) return ReportUsage(status, command.name, err);
  if (IsInterrupted(status)) {
    err << "actlab: " << command.name << ": " << status.message() << "\n";
    return kExitInterrupted;
  }
  err << "actlab: " << command.name << ": "
      << absl::StatusCodeToString(status.code()) << ": " << status.message()
      << "\n";
  return kExitFailure;
}

}  // namespace actlab
