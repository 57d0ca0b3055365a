// Copyright actlab authors.
//
// Argument parsing and dispatch of the actlab CLI, in-process: nothing here
// needs a server.

#include <sstream>
#include <string>
#include <vector>

#include "client/args.h"
#include "client/cli.h"
#include "client/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace actlab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

const std::vector<FlagSpec> kSpecs = {
    {"in", "FILE", "input"},       {"unit", "SPEC", "unit", /*repeated=*/true},
    {"range", "MIN:MAX", "range"}, {"json", "", "json"},
    {"help", "", "help"},
};

TEST(ParseArgsTest, MixesFlagsAndPositionals) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(
      kSpecs,
      {"a", "--in", "x.npy", "b", "--json", "--unit=u1", "--unit", "u2"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(args->positional(), ElementsAre("a", "b"));
  EXPECT_EQ(args->Get("in"), "x.npy");
  EXPECT_TRUE(args->Has("json"));
  EXPECT_THAT(args->GetAll("unit"), ElementsAre("u1", "u2"));
  EXPECT_EQ(args->Get("range", "none"), "none");
}

TEST(ParseArgsTest, ValuesMayStartWithADash) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(kSpecs, {"--range", "-3:3"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("range"), "-3:3");
}

TEST(ParseArgsTest, DashesAndUnderscoresAreInterchangeable) {
  const std::vector<FlagSpec> specs = {{"grad-output", "FILE", ""},
                                       {"max_message_mb", "MB", ""}};
  absl::StatusOr<ParsedArgs> args =
      ParseArgs(specs, {"--grad_output", "g.npy", "--max-message-mb=8"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("grad-output"), "g.npy");
  EXPECT_EQ(args->Get("max_message_mb"), "8");
}

TEST(ParseArgsTest, DoubleDashEndsFlagsAndLoneDashIsPositional) {
  absl::StatusOr<ParsedArgs> args =
      ParseArgs(kSpecs, {"-", "--", "--json", "-x"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(args->positional(), ElementsAre("-", "--json", "-x"));
  EXPECT_FALSE(args->Has("json"));
}

TEST(ParseArgsTest, StopsAtThePositionalWhenAsked) {
  absl::StatusOr<ParsedArgs> args =
      ParseArgs(kSpecs, {"--in", "x", "eval", "--json", "y"},
                /*stop_at_positional=*/true);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("in"), "x");
  EXPECT_THAT(args->positional(), ElementsAre("eval", "--json", "y"));
  EXPECT_FALSE(args->Has("json"));
}

TEST(ParseArgsTest, ShortHelp) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(kSpecs, {"-h"});
  ASSERT_TRUE(args.ok());
  EXPECT_TRUE(args->Has("help"));
}

TEST(ParseArgsTest, RefusesMistakesAsUsageErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {"--nope"}, {"-x"}, {"--in"}, {"--json=true"}, {"--in", "a", "--in", "b"},
  };
  for (const auto& argv : bad) {
    absl::StatusOr<ParsedArgs> args = ParseArgs(kSpecs, argv);
    ASSERT_FALSE(args.ok()) << argv[0];
    EXPECT_TRUE(IsUsageError(args.status())) << argv[0];
  }
}

TEST(ParseArgsTest, TypedGetters) {
  const std::vector<FlagSpec> specs = {{"n", "N", ""}, {"x", "X", ""}};
  absl::StatusOr<ParsedArgs> args = ParseArgs(specs, {"--n", "12", "--x", "q"});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args->GetInt("n", 0), 12);
  EXPECT_EQ(*args->GetInt("missing", 7), 7);
  absl::StatusOr<double> x = args->GetDouble("x", 0);
  ASSERT_FALSE(x.ok());
  EXPECT_TRUE(IsUsageError(x.status()));
  EXPECT_THAT(std::string(x.status().message()), HasSubstr("--x"));
}

TEST(NamedSpecTest, NameAlone) {
  absl::StatusOr<NamedSpec> spec = ParseNamedSpec("gelu");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->name, "gelu");
  EXPECT_TRUE(spec->options.empty());
}

TEST(NamedSpecTest, NameWithOptionsInOrder) {
  absl::StatusOr<NamedSpec> spec =
      ParseNamedSpec("act:granularity=channel, channels=3,init.alpha=0.2,");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "act");
  EXPECT_THAT(spec->options,
              ElementsAre(Pair("granularity", "channel"), Pair("channels", "3"),
                          Pair("init.alpha", "0.2")));
}

TEST(NamedSpecTest, RefusesMalformedSpecs) {
  for (const char* text :
       {"", ":a=1", "relu:alpha", "relu:=1", "relu:a=1,a=2"}) {
    absl::StatusOr<NamedSpec> spec = ParseNamedSpec(text);
    ASSERT_FALSE(spec.ok()) << text;
    EXPECT_TRUE(IsUsageError(spec.status())) << text;
  }
}

TEST(ValueParsersTest, ParseAndNameTheValue) {
  EXPECT_EQ(*ParseDouble("-2.5e-1", "alpha"), -0.25);
  EXPECT_EQ(*ParseInt("-3", "axis"), -3);
  EXPECT_TRUE(*ParseBool("true", "fixed"));
  EXPECT_FALSE(*ParseBool("false", "fixed"));
  EXPECT_THAT(std::string(ParseInt("1.5", "axis").status().message()),
              HasSubstr("axis"));
  EXPECT_FALSE(ParseBool("maybe", "fixed").ok());
}

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun RunActlab(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int code = RunCli(args, "", out, err, /*interactive=*/false);
  return {code, out.str(), err.str()};
}

TEST(CliDispatchTest, HelpListsEveryCommand) {
  const CliRun run = RunActlab({"--help"});
  EXPECT_EQ(run.code, 0);
  for (const Command& command : AllCommands()) {
    EXPECT_THAT(run.out, HasSubstr("actlab " + command.name)) << command.name;
  }
}

TEST(CliDispatchTest, EveryCommandHasHelp) {
  for (const Command& command : AllCommands()) {
    std::vector<std::string> words = {"help"};
    std::vector<std::string> with_flag;
    std::istringstream name(command.name);
    for (std::string w; name >> w;) {
      words.push_back(w);
      with_flag.push_back(w);
    }
    with_flag.push_back("--help");
    const CliRun help = RunActlab(words);
    EXPECT_EQ(help.code, 0) << command.name << help.err;
    EXPECT_THAT(help.out, HasSubstr("Usage: actlab " + command.name));
    const CliRun flag = RunActlab(with_flag);
    EXPECT_EQ(flag.code, 0) << command.name << flag.err;
    EXPECT_EQ(flag.out, help.out);
  }
}

TEST(CliDispatchTest, UsageErrorsExitTwoAndPointToHelp) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "Usage: actlab"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"session"}, "session needs a subcommand"},
      {{"session", "nope"}, "unknown session subcommand 'nope'"},
      {{"eval", "--in", "x.npy", "--out", "y.npy"}, "--act is required"},
      {{"eval", "--act", "gelu", "--in", "x", "--out", "y", "--bogus"},
       "unknown flag '--bogus'"},
      {{"show"}, "expects SESSION [UNIT], got 0 arguments"},
      {{"health", "extra"}, "takes no positional arguments"},
      {{"--timeout", "0", "health"}, "--timeout must be a positive"},
      {{"health", "--max_message_mb", "4096"}, "--max_message_mb must be in"},
      {{"session", "create", "--unit", "a:granularity=diagonal"},
       "granularity: 'diagonal' is not layer or channel"},
      {{"session", "create", "--unit", "a:colour=red"},
       "unknown unit option 'colour'"},
      {{"eval", "--act", "gelu:alpha", "--in", "x", "--out", "y"},
       "is not key=value"},
  };
  for (const Case& c : cases) {
    const CliRun run = RunActlab(c.args);
    EXPECT_EQ(run.code, 2) << c.message;
    EXPECT_THAT(run.err, HasSubstr(c.message));
  }
  EXPECT_THAT(RunActlab({"eval", "--in", "x"}).err,
              HasSubstr("Run 'actlab help eval' for usage."));
}

TEST(CliDispatchTest, UnreachableServerIsAnUnavailableError) {
  // Port 1 on loopback refuses connections at once.
  const CliRun run =
      RunActlab({"--server", "127.0.0.1:1", "--timeout", "5", "activations"});
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.err, HasSubstr("actlab: activations: UNAVAILABLE: "));
  EXPECT_THAT(run.err, HasSubstr("127.0.0.1:1"));
}

TEST(CliDispatchTest, MissingInputFileNamesIt) {
  const CliRun run =
      RunActlab({"--server", "127.0.0.1:1", "eval", "--act", "gelu", "--in",
                 "/nonexistent/x.npy", "--out", "y.npy"});
  EXPECT_EQ(run.code, 1);
  EXPECT_THAT(run.err,
              HasSubstr("actlab: eval: NOT_FOUND: /nonexistent/x.npy"));
}

}  // namespace
}  // namespace actlab
