// Copyright actlab authors.
//
// The SVG renderer on synthetic curves. Well-formedness is judged by a real
// XML parser (Python's minidom, from the standard library), which reports
// the elements the assertions count.

#include "client/svg_plot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace actlab {
namespace {

using ::testing::Contains;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPython[] = "/usr/bin/python3";

// Parses argv[1] strictly and prints one line per element of interest:
// "svg XMLNS VIEWBOX", "panel", "path CLASS dashed|solid SUBPATHS",
// "rect CLASS", "text PARENT_CLASS|CLASS CONTENT".
constexpr char kDumpScript[] = R"(
import sys
import xml.dom.minidom

doc = xml.dom.minidom.parse(sys.argv[1])
root = doc.documentElement
print("svg", root.getAttribute("xmlns"), root.getAttribute("viewBox"))
for g in doc.getElementsByTagName("g"):
    if g.getAttribute("class") == "panel":
        print("panel")
for p in doc.getElementsByTagName("path"):
    dashed = "dashed" if p.hasAttribute("stroke-dasharray") else "solid"
    print("path", p.getAttribute("class"), dashed, p.getAttribute("d").count("M"))
for r in doc.getElementsByTagName("rect"):
    print("rect", r.getAttribute("class"))
for t in doc.getElementsByTagName("text"):
    owner = t.getAttribute("class") or t.parentNode.getAttribute("class")
    print("text", owner, "".join(n.data for n in t.childNodes))
)";

struct Dump {
  int exit_code = -1;
  std::vector<std::string> lines;
  std::string text;  // everything the script printed, for failure messages

  int Count(const std::string& line) const {
    return static_cast<int>(std::count(lines.begin(), lines.end(), line));
  }
  // Lines starting with `prefix`.
  std::vector<std::string> With(const std::string& prefix) const {
    std::vector<std::string> matching;
    for (const std::string& line : lines) {
      if (line.rfind(prefix, 0) == 0) matching.push_back(line);
    }
    return matching;
  }
};

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/svg_plot_test_", getpid(), "_",
                      name);
}

// Writes `svg` to a file and runs kDumpScript over it.
Dump ParseSvg(const std::string& svg) {
  const std::string svg_path = TempPath("plot.svg");
  const std::string script_path = TempPath("dump.py");
  std::ofstream(svg_path, std::ios::binary) << svg;
  std::ofstream(script_path) << kDumpScript;
  Dump dump;
  FILE* pipe = popen(
      absl::StrCat(kPython, " ", script_path, " ", svg_path, " 2>&1").c_str(),
      "r");
  if (pipe == nullptr) return dump;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    dump.text.append(buffer, n);
  }
  const int status = pclose(pipe);
  dump.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  dump.lines = absl::StrSplit(dump.text, '\n', absl::SkipEmpty());
  std::remove(svg_path.c_str());
  std::remove(script_path.c_str());
  return dump;
}

std::vector<double> Grid(double lo, double hi, int points) {
  std::vector<double> x;
  for (int i = 0; i < points; ++i)
    x.push_back(lo + (hi - lo) * i / (points - 1));
  return x;
}

SvgPanel ChannelPanel(int channels) {
  SvgPanel panel;
  panel.title = "unit act (TRAINING, 100 training steps)";
  panel.subtitle = "session s1";
  panel.x = Grid(-4, 4, 65);
  for (int c = 0; c < channels; ++c) {
    SvgCurve& curve = panel.curves.emplace_back();
    curve.label = absl::StrCat("channel ", c);
    for (double x : panel.x) curve.y.push_back(std::tanh(x) * (c + 1));
    curve.left_bound = -3 + 0.5 * c;
    curve.right_bound = 3 - 0.25 * c;
  }
  for (double x : panel.x) panel.initial.push_back(x > 0 ? x : 0);
  panel.initial_label = "initial: relu";
  return panel;
}

class SvgPlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kPython, X_OK) != 0) GTEST_SKIP() << kPython << " is missing";
  }

  // Renders `panels` and parses the result; fails the test if either fails.
  static Dump RenderAndParse(const std::vector<SvgPanel>& panels) {
    absl::StatusOr<std::string> svg = RenderSvg(panels);
    EXPECT_TRUE(svg.ok()) << svg.status();
    if (!svg.ok()) return {};
    Dump dump = ParseSvg(*svg);
    EXPECT_EQ(dump.exit_code, 0) << "not well-formed XML:\n"
                                 << dump.text << "\n"
                                 << *svg;
    return dump;
  }
};

TEST_F(SvgPlotTest, OnePathPerChannelOneDashedInitialShapeAndShadedRanges) {
  const Dump dump = RenderAndParse({ChannelPanel(3)});
  EXPECT_EQ(dump.Count("svg http://www.w3.org/2000/svg 0 0 820.00 440.00"), 1)
      << dump.text;
  EXPECT_EQ(dump.Count("panel"), 1) << dump.text;
  EXPECT_EQ(dump.Count("path curve solid 1"), 3) << dump.text;
  EXPECT_EQ(dump.With("path").size(), 4u) << dump.text;
  // The only dashed path is the initial shape.
  EXPECT_EQ(dump.With("path initial dashed").size(), 1u) << dump.text;
  EXPECT_EQ(dump.With("path curve dashed").size(), 0u) << dump.text;
  // Channels with different bounds each get their own faint range.
  EXPECT_EQ(dump.Count("rect range"), 3) << dump.text;
  EXPECT_THAT(dump.lines,
              Contains("text title unit act (TRAINING, 100 training steps)"));
  EXPECT_THAT(dump.lines, Contains("text subtitle session s1"));
  EXPECT_THAT(dump.lines, Contains("text legend channel 2"));
  EXPECT_THAT(dump.lines, Contains("text legend initial: relu"));
  EXPECT_THAT(dump.lines, Contains("text axis-title input x"));
  EXPECT_THAT(dump.lines, Contains("text axis-title output f(x)"));
}

TEST_F(SvgPlotTest, SharedBoundsAreShadedOnce) {
  SvgPanel panel = ChannelPanel(4);
  for (SvgCurve& curve : panel.curves) {
    curve.left_bound = -3;
    curve.right_bound = 3;
  }
  const Dump dump = RenderAndParse({panel});
  EXPECT_EQ(dump.Count("path curve solid 1"), 4) << dump.text;
  EXPECT_EQ(dump.Count("rect range"), 1) << dump.text;
}

TEST_F(SvgPlotTest, TicksAreRoundNumbersWithoutNegativeZero) {
  const Dump dump = RenderAndParse({ChannelPanel(1)});
  const std::vector<std::string> ticks = dump.With("text tick-labels ");
  for (const char* label : {"-4", "-2", "0", "2", "4"}) {
    EXPECT_THAT(ticks, Contains(absl::StrCat("text tick-labels ", label)))
        << dump.text;
  }
  EXPECT_THAT(ticks, Each(Not(HasSubstr("-0"))));
}

TEST_F(SvgPlotTest, TextIsEscaped) {
  SvgPanel panel = ChannelPanel(1);
  panel.title = "unit <&> \"quoted\" 'single'";
  panel.subtitle = "session &amp;";
  panel.curves[0].label = "a<b & c>d";
  const Dump dump = RenderAndParse({panel});
  EXPECT_THAT(dump.lines, Contains("text title unit <&> \"quoted\" 'single'"));
  EXPECT_THAT(dump.lines, Contains("text subtitle session &amp;"));
  EXPECT_THAT(dump.lines, Contains("text legend a<b & c>d"));
}

TEST_F(SvgPlotTest, PanelsStackInOneDocument) {
  SvgPanel layer = ChannelPanel(1);
  layer.curves[0].label = "learned";
  const Dump dump = RenderAndParse({ChannelPanel(3), layer});
  EXPECT_EQ(dump.Count("svg http://www.w3.org/2000/svg 0 0 820.00 880.00"), 1)
      << dump.text;
  EXPECT_EQ(dump.Count("panel"), 2) << dump.text;
  EXPECT_EQ(dump.Count("path curve solid 1"), 4) << dump.text;
  EXPECT_EQ(dump.With("path initial dashed").size(), 2u) << dump.text;
}

TEST_F(SvgPlotTest, NonFiniteValuesBreakTheCurve) {
  SvgPanel panel = ChannelPanel(2);
  panel.curves[1].y[30] = std::numeric_limits<double>::quiet_NaN();
  panel.curves[1].y[31] = std::numeric_limits<double>::infinity();
  const Dump dump = RenderAndParse({panel});
  EXPECT_EQ(dump.Count("path curve solid 1"), 1) << dump.text;
  EXPECT_EQ(dump.Count("path curve solid 2"), 1) << dump.text;
}

TEST_F(SvgPlotTest, NumbersHaveFixedPrecision) {
  SvgPanel panel = ChannelPanel(1);
  panel.curves[0].y[3] = 1e12;
  panel.curves[0].y[4] = -1e-12;
  absl::StatusOr<std::string> svg = RenderSvg({panel});
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_FALSE(std::regex_search(*svg, std::regex("[0-9][eE][-+]")));
  EXPECT_THAT(*svg, Not(HasSubstr("nan")));
  EXPECT_THAT(*svg, Not(HasSubstr("inf")));
  EXPECT_EQ(ParseSvg(*svg).exit_code, 0);
}

TEST_F(SvgPlotTest, LongLegendsAreElided) {
  const Dump dump = RenderAndParse({ChannelPanel(40)});
  EXPECT_EQ(dump.Count("path curve solid 1"), 40) << dump.text;
  EXPECT_THAT(dump.lines, Contains("text legend +24 more"));
}

TEST(SvgPlotErrorsTest, RefusesWhatItCannotDraw) {
  EXPECT_EQ(RenderSvg({}).status().code(), absl::StatusCode::kInvalidArgument);

  SvgPanel short_curve = ChannelPanel(2);
  short_curve.curves[1].y.pop_back();
  EXPECT_THAT(RenderSvg({short_curve}).status().message(),
              HasSubstr("curve 'channel 1' has 64 values for 65 x"));

  SvgPanel unordered = ChannelPanel(1);
  std::swap(unordered.x[0], unordered.x[1]);
  EXPECT_EQ(RenderSvg({unordered}).status().code(),
            absl::StatusCode::kInvalidArgument);

  SvgPanel one_point = ChannelPanel(1);
  one_point.x = {0};
  one_point.curves[0].y = {0};
  one_point.initial = {0};
  EXPECT_EQ(RenderSvg({one_point}).status().code(),
            absl::StatusCode::kInvalidArgument);

  SvgPanel initial = ChannelPanel(1);
  initial.initial.pop_back();
  EXPECT_EQ(RenderSvg({initial}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace actlab
