// Copyright actlab authors.
//
// The CLI's command table. Each command declares its flags and positional
// arguments (which the dispatcher checks and turns into help) and a handler
// that makes its calls through the shared Connection. Handlers return
// UsageError for bad arguments and any other status for failed work; they
// write results to `out` and progress to `err`.

#ifndef ACTLAB_CLIENT_COMMANDS_H_
#define ACTLAB_CLIENT_COMMANDS_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/args.h"
#include "client/connection.h"

namespace actlab {

struct CommandContext {
  Connection& connection;
  std::ostream& out;
  std::ostream& err;
  // Whether stdout is a terminal: decides between a progress bar and
  // one line per item.
  bool interactive = false;
};

struct Command {
  std::string name;  // one or two words: "eval", "session create"
  std::string args;  // positional synopsis: "SESSION UNIT FILE.npy..."
  std::string summary;
  std::vector<FlagSpec> flags;
  size_t min_positional = 0;
  size_t max_positional = 0;  // kUnlimited for a list
  std::function<absl::Status(CommandContext&, const ParsedArgs&)> run;
};

inline constexpr size_t kUnlimited = static_cast<size_t>(-1);

// Cancelled, marked as stopped by the user (SIGINT) after a clean shutdown:
// RunCli prints the message and exits 130 as the shell would for SIGINT,
// where a server-side cancellation stays an ordinary failure.
absl::Status InterruptedError(absl::string_view message);
bool IsInterrupted(const absl::Status& status);

// The unit `ref` names, as GetUnit returns it.
absl::StatusOr<v1::Unit> FetchUnit(CommandContext& ctx, const v1::UnitRef& ref);

// Every command, in the order help lists them.
const std::vector<Command>& AllCommands();

// The groups AllCommands() concatenates; one per commands_*.cc.
std::vector<Command> ServerCommands();   // health, activations
std::vector<Command> EvalCommands();     // eval
std::vector<Command> SessionCommands();  // session ..., observe, show, ...
std::vector<Command> TrainCommands();    // train, fit, runs, run show
std::vector<Command> PlotCommands();     // plot
std::vector<Command> BenchCommands();    // bench
std::vector<Command> StatsCommands();    // stats

}  // namespace actlab

#endif  // ACTLAB_CLIENT_COMMANDS_H_
