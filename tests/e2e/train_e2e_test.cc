// Copyright actlab authors.
//
// Phase II through the actlab CLI against the real actlab-server: single
// train steps driven by a loss computed here, server-side fits with their
// runs, plots, and a fit cancelled by SIGINT. Most tests share one server;
// the cancellation test restarts its own on the same store.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "actlab/v1/actlab.pb.h"
#include "client/npy.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

constexpr char kServerBinary[] = ACTLAB_SERVER_BINARY;
constexpr char kCliBinary[] = ACTLAB_CLI_BINARY;
constexpr char kPython[] = "/usr/bin/python3";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The value of the "key: value" line of `text`; empty when there is none.
std::string Field(const std::string& text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, absl::StrCat(key, ": "))) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return "";
}

double NumberField(const std::string& text, absl::string_view key) {
  double value = NAN;
  EXPECT_TRUE(absl::SimpleAtod(Field(text, key), &value)) << key << " in:\n"
                                                          << text;
  return value;
}

// Creates a session with the one unit `spec` and returns its id.
std::string CreateSession(const std::string& address, const std::string& spec) {
  const ProcessResult r =
      Cli(address, {"session", "create", "--name", "train", "--unit", spec});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return r.out.substr(0, r.out.find('\n'));
}

v1::Unit ShowUnit(const std::string& address, const std::string& session,
                  const std::string& unit) {
  const ProcessResult r = Cli(address, {"show", session, unit, "--json"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ParseJson<v1::GetUnitResponse>(r.out).unit();
}

// <path class="curve"> elements in the SVG at `path`, counted by a real XML
// parser; -1 if the file is not well-formed.
int CountCurvePaths(const std::string& path) {
  const ProcessResult r = RunProcess(
      kPython, {"-c",
                "import sys, xml.dom.minidom\n"
                "doc = xml.dom.minidom.parse(sys.argv[1])\n"
                "print(sum(p.getAttribute('class') == 'curve'\n"
                "          for p in doc.getElementsByTagName('path')))\n",
                path});
  int count = -1;
  if (r.exit_code != 0 ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(r.out), &count)) {
    ADD_FAILURE() << path << " is not well-formed XML: " << Describe(r);
    return -1;
  }
  return count;
}

bool AllFinite(const v1::PwluParameters& p) {
  for (const auto* field : {&p.left_bound(), &p.right_bound(), &p.values(),
                            &p.left_slope(), &p.right_slope()}) {
    for (float v : *field) {
      if (!std::isfinite(v)) return false;
    }
  }
  return true;
}

using TrainE2eTest = SharedServerTest;

TEST_F(TrainE2eTest, TrainStepsLowerALossComputedByTheClient) {
  const std::string session =
      CreateSession(server_->address(), "act:fixed=true,intervals=8");
  ASSERT_FALSE(session.empty());
  EXPECT_EQ(ShowUnit(server_->address(), session, "act").phase(), v1::TRAINING)
      << "fixed bounds skip phase I";

  // Fit the relu-shaped unit to tanh inside its bounds [-3, 3] by MSE. The
  // loss is quadratic in the values with curvature <= ~0.26, so SGD at
  // learning rate 1 must lower it at every step.
  constexpr int kPoints = 256;
  constexpr int kSteps = 20;
  std::vector<float> x(kPoints), target(kPoints);
  for (int i = 0; i < kPoints; ++i) {
    x[i] = -2.9f + 5.8f * i / (kPoints - 1);
    target[i] = std::tanh(x[i]);
  }
  const std::string x_path = files_.File("x.npy");
  const std::string y_path = files_.File("y.npy");
  const std::string gy_path = files_.File("gy.npy");
  const std::string gx_path = files_.File("gx.npy");
  ASSERT_TRUE(WriteNpy(x_path, {kPoints}, x).ok());

  std::vector<double> losses;
  std::string run_id;
  for (int step = 0; step <= kSteps; ++step) {
    ProcessResult r =
        Run({"eval", "--act", "pwlu", "--unit", absl::StrCat(session, "/act"),
             "--in", x_path, "--out", y_path});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    absl::StatusOr<NpyArray> y = ReadNpy(y_path);
    ASSERT_TRUE(y.ok()) << y.status();
    ASSERT_EQ(y->data.size(), static_cast<size_t>(kPoints));
    double loss = 0;
    std::vector<float> gy(kPoints);
    for (int i = 0; i < kPoints; ++i) {
      const double residual = y->data[i] - target[i];
      loss += residual * residual / kPoints;
      gy[i] = static_cast<float>(2 * residual / kPoints);
    }
    losses.push_back(loss);
    if (step == kSteps) break;

    ASSERT_TRUE(WriteNpy(gy_path, {kPoints}, gy).ok());
    r = Run({"train", session, "act", "--x", x_path, "--grad-output", gy_path,
             "--grad-input-out", gx_path, "--optimizer", "sgd", "--lr", "1",
             "--train", "values,slopes", "--loss", absl::StrCat(loss)});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_EQ(Field(r.out, "training_steps"), absl::StrCat(step + 1)) << r.out;
    EXPECT_GT(NumberField(r.out, "grad_norm.values"), 0) << r.out;
    // Same optimizer settings throughout: one stretch, one run.
    if (step == 0) run_id = Field(r.out, "run_id");
    EXPECT_EQ(Field(r.out, "run_id"), run_id) << r.out;
  }
  EXPECT_FALSE(run_id.empty());
  for (int i = 1; i <= kSteps; ++i) {
    EXPECT_LE(losses[i], losses[i - 1] * (1 + 1e-5)) << "step " << i;
  }
  EXPECT_LT(losses.back(), 0.1 * losses.front())
      << "from " << losses.front() << " to " << losses.back();

  absl::StatusOr<NpyArray> gx = ReadNpy(gx_path);
  ASSERT_TRUE(gx.ok()) << gx.status();
  EXPECT_EQ(gx->shape, std::vector<int64_t>{kPoints});

  const ProcessResult r = Run({"runs", session, "act"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(run_id));
  EXPECT_THAT(r.out, HasSubstr("TRAIN_STEPS"));
}

TEST_F(TrainE2eTest, FitApproximatesGeluAndIsRecordedAsARun) {
  const std::string session = CreateSession(
      server_->address(), "act:intervals=16,fixed=true,init_bound=3");
  ASSERT_FALSE(session.empty());
  ProcessResult r = Run({"fit", session, "act", "--target", "gelu", "--range",
                         "-3:3", "--steps", "2000", "--seed", "7"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(Field(r.out, "steps_completed"), "2000") << r.out;
  EXPECT_LE(NumberField(r.out, "max_abs_error"), 0.02) << r.out;
  EXPECT_LE(NumberField(r.out, "rms_error"), 0.005) << r.out;
  EXPECT_EQ(Field(r.out, "fitted_range"), "[-3, 3]") << r.out;
  // Not a terminal: plain progress lines (if the fit outlasts the server's
  // progress interval at all), never a bar redrawn with carriage returns.
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("\r")));
  const std::string run_id = Field(r.out, "run_id");
  ASSERT_FALSE(run_id.empty()) << r.out;
  EXPECT_EQ(ShowUnit(server_->address(), session, "act").training_steps(),
            2000);

  r = Run({"runs", session});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::string listed;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, run_id)) listed = std::string(line);
  }
  EXPECT_THAT(listed, HasSubstr(" FIT ")) << r.out;
  EXPECT_THAT(listed, HasSubstr(" COMPLETED ")) << r.out;
  EXPECT_THAT(listed, HasSubstr(" 2000 ")) << r.out;

  r = Run({"run", "show", session, run_id, "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const v1::Run run = ParseJson<v1::GetRunResponse>(r.out).run();
  EXPECT_EQ(run.kind(), v1::Run::FIT);
  EXPECT_EQ(run.state(), v1::Run::COMPLETED);
  EXPECT_EQ(run.summary().steps_completed(), 2000);
  EXPECT_EQ(run.fit().activation().name(), "gelu");
  EXPECT_FALSE(run.history().empty());
  r = Run({"run", "show", session, run_id});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("target gelu"));
  EXPECT_THAT(r.out, HasSubstr("max_abs_error: "));

  const std::string svg = files_.File("fit.svg");
  r = Run({"plot", session, "act", "--out", svg});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(CountCurvePaths(svg), 1);
}

TEST_F(TrainE2eTest, PlotDrawsOnePathPerChannel) {
  ProcessResult r = Run({"session", "create", "--unit",
                         "act:granularity=channel,channels=3,intervals=8",
                         "--unit", "head:init=gelu,fixed=true"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::string session = r.out.substr(0, r.out.find('\n'));

  const std::string all = files_.File("all.svg");
  r = Run({"plot", session, "act", "--out", all, "--points", "64"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, absl::StrCat(all, ": 1 panel, 3 curves\n"));
  EXPECT_EQ(CountCurvePaths(all), 3);
  EXPECT_THAT(ReadAll(all), HasSubstr("initial: relu"));

  const std::string some = files_.File("some.svg");
  r = Run({"plot", session, "act", "--out", some, "--channels", "0,2"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(CountCurvePaths(some), 2);

  const std::string session_svg = files_.File("session.svg");
  r = Run({"plot", session, "--out", session_svg});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.out, absl::StrCat(session_svg, ": 2 panels, 4 curves\n"));
  EXPECT_EQ(CountCurvePaths(session_svg), 4);
  EXPECT_THAT(ReadAll(session_svg), HasSubstr("initial: gelu"));

  r = Run({"plot", session, "nope", "--out", files_.File("nope.svg")});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
}

TEST_F(TrainE2eTest, BadTrainingArgumentsAreUsageErrors) {
  const std::vector<std::vector<std::string>> cases = {
      {"fit", "s", "u"},
      {"fit", "s", "u", "--target", "gelu", "--samples-x", "x.npy",
       "--samples-y", "y.npy"},
      {"fit", "s", "u", "--samples-x", "x.npy"},
      {"fit", "s", "u", "--target", "gelu", "--range", "3:-3"},
      {"fit", "s", "u", "--target", "gelu", "--range", "-3:3", "--observed"},
      {"fit", "s", "u", "--target", "gelu", "--steps", "0"},
      {"fit", "s", "u", "--target", "gelu", "--optimizer", "rmsprop"},
      {"fit", "s", "u", "--target", "gelu", "--optimizer", "adam", "--momentum",
       "0.9"},
      {"train", "s", "u", "--x", "x.npy", "--grad-output", "g.npy", "--train",
       "weights"},
      {"train", "s", "u", "--x", "x.npy"},
      {"run", "s", "r"},
      {"plot", "s", "--out", "f.svg", "--channels", "0,x"},
  };
  for (const auto& args : cases) {
    const ProcessResult r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n"
                              << Describe(r);
  }
}

TEST(TrainE2eServerTest, SigintCancelsAFitAndTheUnitStaysConsistent) {
  TempDir dir;
  ServerProcess server(kServerBinary, dir.path());
  ASSERT_TRUE(Started(server));
  const std::string session =
      CreateSession(server.address(), "act:intervals=16,fixed=true");
  ASSERT_FALSE(session.empty());

  const std::string out = dir.File("fit.out");
  const std::string err = dir.File("fit.err");
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = StartProcess(
      kCliBinary,
      CliArgs(server.address(), {"fit", session, "act", "--target", "gelu",
                                 "--range", "-3:3", "--steps", "1000000"}),
      out, err);
  ASSERT_GT(pid, 0);
  // Interrupt once training is visibly under way: a progress line, and
  // at least half a second in.
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(5) &&
         (ReadAll(err).find("step ") == std::string::npos ||
          std::chrono::steady_clock::now() - start <
              std::chrono::milliseconds(500))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(kill(pid, SIGINT), 0);
  EXPECT_EQ(WaitProcess(pid, 10), 130) << "stdout:\n"
                                       << ReadAll(out) << "\nstderr:\n"
                                       << ReadAll(err);
  EXPECT_THAT(ReadAll(err),
              HasSubstr("; the unit keeps its last completed step"));

  // The server ends the run asynchronously; once it says CANCELLED the unit
  // no longer changes.
  v1::Run run;
  for (int i = 0; i < 100 && run.state() != v1::Run::CANCELLED; ++i) {
    const ProcessResult r =
        Cli(server.address(), {"runs", session, "act", "--json"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    const auto runs = ParseJson<v1::ListRunsResponse>(r.out);
    ASSERT_EQ(runs.runs_size(), 1) << r.out;
    run = runs.runs(0);
    if (run.state() != v1::Run::CANCELLED) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  EXPECT_EQ(run.state(), v1::Run::CANCELLED) << run.DebugString();
  EXPECT_EQ(run.kind(), v1::Run::FIT);

  const ProcessResult before =
      Cli(server.address(), {"show", session, "act", "--json"});
  ASSERT_EQ(before.exit_code, 0) << Describe(before);
  const v1::Unit unit = ParseJson<v1::GetUnitResponse>(before.out).unit();
  EXPECT_GT(unit.training_steps(), 0);
  EXPECT_LT(unit.training_steps(), 1000000);
  EXPECT_EQ(unit.training_steps(), run.steps());
  EXPECT_TRUE(AllFinite(unit.parameters())) << before.out;

  absl::StatusOr<int> code = server.Stop();
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_TRUE(Started(server));
  const ProcessResult after =
      Cli(server.address(), {"show", session, "act", "--json"});
  ASSERT_EQ(after.exit_code, 0) << Describe(after);
  EXPECT_EQ(after.out, before.out);
}

}  // namespace
}  // namespace actlab
