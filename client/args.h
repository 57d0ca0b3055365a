// Copyright actlab authors.
//
// Command-line parsing for the actlab CLI: GNU-style long flags mixed with
// positional arguments, and the NAME[:k=v,...] specs that name an activation
// or a PWLU unit with options. Every error here is a usage error (see
// UsageError), which the CLI reports with exit code 2.

#ifndef ACTLAB_CLIENT_ARGS_H_
#define ACTLAB_CLIENT_ARGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace actlab {

// InvalidArgument marked as a usage mistake, so it maps to exit code 2 and a
// pointer to the help rather than to exit code 1.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

struct FlagSpec {
  // Without dashes. '-' and '_' are interchangeable on the command line, so
  // "grad-output" also matches --grad_output.
  std::string name;
  // Placeholder for the value in help, e.g. "FILE"; empty for a boolean flag,
  // which takes no value.
  std::string value_name;
  std::string help;
  bool repeated = false;
  // Checked by the CLI dispatcher, which skips the check for --help.
  bool required = false;
};

// Flags (by canonical spec name) and positional arguments of one command.
class ParsedArgs {
 public:
  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(absl::string_view flag) const;
  // The flag's value, or `fallback` when absent.
  std::string Get(absl::string_view flag,
                  absl::string_view fallback = "") const;
  // Every value of a repeated flag, in command-line order.
  std::vector<std::string> GetAll(absl::string_view flag) const;
  absl::StatusOr<double> GetDouble(absl::string_view flag,
                                   double fallback) const;
  absl::StatusOr<int64_t> GetInt(absl::string_view flag,
                                 int64_t fallback) const;

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const FlagSpec>,
                                              absl::Span<const std::string>,
                                              bool);
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>, std::less<>> flags_;
};

// Parses `args` against `specs`. Flags are "--name value" or "--name=value"
// (booleans: "--name"); "--" ends the flags; a lone "-" is positional. With
// `stop_at_positional`, the first positional argument and everything after it
// are returned as positional unparsed (for global flags before a command);
// otherwise flags and positionals may be interleaved. "-h" means "--help"
// when `specs` has a "help" flag.
absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const FlagSpec> specs,
                                     absl::Span<const std::string> args,
                                     bool stop_at_positional = false);

// "NAME[:k=v,...]", e.g. "leaky_relu:alpha=0.2" or "act:granularity=channel".
struct NamedSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> options;  // in order
};

// Refuses an empty name, options that are not k=v, empty keys and a key
// given twice.
absl::StatusOr<NamedSpec> ParseNamedSpec(absl::string_view text);

// Value parsers whose errors name `what` (e.g. "--timeout" or "alpha").
absl::StatusOr<double> ParseDouble(absl::string_view text,
                                   absl::string_view what);
absl::StatusOr<int64_t> ParseInt(absl::string_view text,
                                 absl::string_view what);
// true/false, also yes/no and 1/0.
absl::StatusOr<bool> ParseBool(absl::string_view text, absl::string_view what);

}  // namespace actlab

#endif  // ACTLAB_CLIENT_ARGS_H_
