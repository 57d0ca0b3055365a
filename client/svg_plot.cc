// Copyright actlab authors.

#include "client/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace actlab {
namespace {

// Panel geometry in SVG user units; the legend sits right of the plot area.
constexpr double kPanelWidth = 820;
constexpr double kPanelHeight = 440;
constexpr double kPlotLeft = 70;
constexpr double kPlotRight = 580;
constexpr double kPlotTop = 40;
constexpr double kPlotBottom = 385;
constexpr double kLegendLeft = kPlotRight + 20;
constexpr double kLegendRowHeight = 18;
constexpr int kTargetTicks = 6;

// Matplotlib's tab10: distinct for the first ten channels, then repeats.
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                    "#bcbd22", "#17becf"};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

std::string Escape(absl::string_view text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case '\'':
        escaped += "&apos;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

// Coordinates with fixed precision: stable output, no exponent notation.
std::string Num(double value) { return absl::StrFormat("%.2f", value); }

struct Interval {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();

  void Include(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
};

// Ticks at 1, 2 or 5 times a power of ten, about kTargetTicks of them.
struct Ticks {
  std::vector<double> values;
  int decimals = 0;  // enough to tell neighbouring ticks apart
};

Ticks NiceTicks(double lo, double hi) {
  const double raw = (hi - lo) / kTargetTicks;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {2.0, 5.0, 10.0}) {
    if (step >= raw) break;
    step = factor * magnitude;
  }
  Ticks ticks;
  ticks.decimals =
      std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9;
       v += step) {
    // Snap so accumulated rounding never prints "-0.0" or "0.30000001".
    const double snapped = std::round(v / step) * step;
    ticks.values.push_back(std::abs(snapped) < step * 1e-9 ? 0 : snapped);
  }
  return ticks;
}

// Maps data coordinates to the panel's plot area.
class Frame {
 public:
  Frame(Interval x, Interval y) : x_(x), y_(y) {}
  double X(double v) const {
    return kPlotLeft + (v - x_.lo) / (x_.hi - x_.lo) * (kPlotRight - kPlotLeft);
  }
  double Y(double v) const {
    return kPlotBottom -
           (v - y_.lo) / (y_.hi - y_.lo) * (kPlotBottom - kPlotTop);
  }
  const Interval& x() const { return x_; }
  const Interval& y() const { return y_; }

 private:
  Interval x_;
  Interval y_;
};

// "M x y L x y ...", starting a new subpath after each non-finite value.
std::string PathData(const Frame& frame, const std::vector<double>& x,
                     const std::vector<double>& y) {
  std::string data;
  bool pen_down = false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(y[i])) {
      pen_down = false;
      continue;
    }
    absl::StrAppend(&data, data.empty() ? "" : " ", pen_down ? "L" : "M",
                    Num(frame.X(x[i])), " ", Num(frame.Y(y[i])));
    pen_down = true;
  }
  return data;
}

absl::Status CheckPanel(const SvgPanel& panel, size_t index) {
  const std::string where =
      absl::StrCat("panel ", index, " (", panel.title, ")");
  if (panel.x.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": needs at least two x values"));
  }
  for (size_t i = 0; i < panel.x.size(); ++i) {
    if (!std::isfinite(panel.x[i]) || (i > 0 && panel.x[i] <= panel.x[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": x is not finite and strictly increasing"));
    }
  }
  for (const SvgCurve& curve : panel.curves) {
    if (curve.y.size() != panel.x.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": curve '", curve.label, "' has ",
                       curve.y.size(), " values for ", panel.x.size(), " x"));
    }
  }
  if (!panel.initial.empty() && panel.initial.size() != panel.x.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the initial shape has ", panel.initial.size(),
                     " values for ", panel.x.size(), " x"));
  }
  return absl::OkStatus();
}

// The data ranges the axes span: x exactly, y padded by 5% so no curve
// touches the frame.
Frame MakeFrame(const SvgPanel& panel) {
  Interval x{panel.x.front(), panel.x.back()};
  Interval y;
  for (const SvgCurve& curve : panel.curves) {
    for (double v : curve.y) y.Include(v);
  }
  for (double v : panel.initial) y.Include(v);
  if (!(y.lo <= y.hi)) y = {-1, 1};  // nothing finite to show
  const double pad =
      y.hi > y.lo ? 0.05 * (y.hi - y.lo) : std::max(1.0, std::abs(y.lo));
  return Frame(x, {y.lo - pad, y.hi + pad});
}

void AppendAxes(const Frame& frame, std::string* svg) {
  const Ticks x_ticks = NiceTicks(frame.x().lo, frame.x().hi);
  const Ticks y_ticks = NiceTicks(frame.y().lo, frame.y().hi);
  absl::StrAppend(svg, "<g class=\"grid\" stroke=\"#e6e6e6\">\n");
  for (double v : x_ticks.values) {
    const std::string x = Num(frame.X(v));
    absl::StrAppend(svg, "<line x1=\"", x, "\" y1=\"", Num(kPlotTop),
                    "\" x2=\"", x, "\" y2=\"", Num(kPlotBottom), "\"/>\n");
  }
  for (double v : y_ticks.values) {
    const std::string y = Num(frame.Y(v));
    absl::StrAppend(svg, "<line x1=\"", Num(kPlotLeft), "\" y1=\"", y,
                    "\" x2=\"", Num(kPlotRight), "\" y2=\"", y, "\"/>\n");
  }
  absl::StrAppend(svg, "</g>\n");

  absl::StrAppend(svg, "<g class=\"axes\" stroke=\"#333\">\n", "<rect x=\"",
                  Num(kPlotLeft), "\" y=\"", Num(kPlotTop), "\" width=\"",
                  Num(kPlotRight - kPlotLeft), "\" height=\"",
                  Num(kPlotBottom - kPlotTop), "\" fill=\"none\"/>\n");
  for (double v : x_ticks.values) {
    const std::string x = Num(frame.X(v));
    absl::StrAppend(svg, "<line x1=\"", x, "\" y1=\"", Num(kPlotBottom),
                    "\" x2=\"", x, "\" y2=\"", Num(kPlotBottom + 5), "\"/>\n");
  }
  for (double v : y_ticks.values) {
    const std::string y = Num(frame.Y(v));
    absl::StrAppend(svg, "<line x1=\"", Num(kPlotLeft - 5), "\" y1=\"", y,
                    "\" x2=\"", Num(kPlotLeft), "\" y2=\"", y, "\"/>\n");
  }
  absl::StrAppend(svg, "</g>\n<g class=\"tick-labels\" fill=\"#333\">\n");
  for (double v : x_ticks.values) {
    absl::StrAppend(svg, "<text x=\"", Num(frame.X(v)), "\" y=\"",
                    Num(kPlotBottom + 18), "\" text-anchor=\"middle\">",
                    absl::StrFormat("%.*f", x_ticks.decimals, v), "</text>\n");
  }
  for (double v : y_ticks.values) {
    absl::StrAppend(svg, "<text x=\"", Num(kPlotLeft - 8), "\" y=\"",
                    Num(frame.Y(v) + 4), "\" text-anchor=\"end\">",
                    absl::StrFormat("%.*f", y_ticks.decimals, v), "</text>\n");
  }
  const double mid_x = (kPlotLeft + kPlotRight) / 2;
  const double mid_y = (kPlotTop + kPlotBottom) / 2;
  absl::StrAppend(
      svg, "</g>\n<text class=\"axis-title\" x=\"", Num(mid_x), "\" y=\"",
      Num(kPlotBottom + 40), "\" text-anchor=\"middle\">input x</text>\n",
      "<text class=\"axis-title\" x=\"", Num(kPlotLeft - 50), "\" y=\"",
      Num(mid_y), "\" text-anchor=\"middle\" ", "transform=\"rotate(-90 ",
      Num(kPlotLeft - 50), " ", Num(mid_y), ")\">output f(x)</text>\n");
}

// Whether every curve has the same range: layer-wise, or channels with
// fixed bounds.
bool SharedRange(const SvgPanel& panel) {
  std::set<std::pair<double, double>> distinct;
  for (const SvgCurve& curve : panel.curves) {
    distinct.emplace(curve.left_bound, curve.right_bound);
  }
  return distinct.size() <= 1;
}

// One shaded rectangle for a shared range, else one faint one per curve in
// its colour.
void AppendRanges(const Frame& frame, const SvgPanel& panel, std::string* svg) {
  auto rect = [&](double left, double right, absl::string_view fill,
                  double opacity) {
    const double x0 = frame.X(std::clamp(left, frame.x().lo, frame.x().hi));
    const double x1 = frame.X(std::clamp(right, frame.x().lo, frame.x().hi));
    if (!(x1 > x0)) return;  // outside the sampled grid
    absl::StrAppend(svg, "<rect class=\"range\" x=\"", Num(x0), "\" y=\"",
                    Num(kPlotTop), "\" width=\"", Num(x1 - x0), "\" height=\"",
                    Num(kPlotBottom - kPlotTop), "\" fill=\"", fill,
                    "\" fill-opacity=\"", absl::StrFormat("%.2f", opacity),
                    "\"/>\n");
  };
  if (panel.curves.empty()) return;
  if (SharedRange(panel)) {
    rect(panel.curves[0].left_bound, panel.curves[0].right_bound, "#888888",
         0.15);
    return;
  }
  for (size_t i = 0; i < panel.curves.size(); ++i) {
    rect(panel.curves[i].left_bound, panel.curves[i].right_bound,
         kPalette[i % kPaletteSize], 0.07);
  }
}

void AppendLegend(const SvgPanel& panel, std::string* svg) {
  const int rows =
      static_cast<int>((kPlotBottom - kPlotTop) / kLegendRowHeight);
  // Rows left for curves after the initial shape, range and "+N more".
  const int room = rows - 3;
  const size_t shown = panel.curves.size() <= static_cast<size_t>(room + 1)
                           ? panel.curves.size()
                           : room;
  absl::StrAppend(svg, "<g class=\"legend\">\n");
  double y = kPlotTop + 8;
  auto entry = [&](absl::string_view sample, absl::string_view label) {
    absl::StrAppend(svg, sample, "<text x=\"", Num(kLegendLeft + 30), "\" y=\"",
                    Num(y + 4), "\">", Escape(label), "</text>\n");
    y += kLegendRowHeight;
  };
  auto line = [&](absl::string_view colour, absl::string_view extra) {
    return absl::StrCat("<line x1=\"", Num(kLegendLeft), "\" y1=\"", Num(y),
                        "\" x2=\"", Num(kLegendLeft + 24), "\" y2=\"", Num(y),
                        "\" stroke=\"", colour, "\" stroke-width=\"2\"", extra,
                        "/>\n");
  };
  for (size_t i = 0; i < shown; ++i) {
    entry(line(kPalette[i % kPaletteSize], ""), panel.curves[i].label);
  }
  if (shown < panel.curves.size()) {
    entry("", absl::StrCat("+", panel.curves.size() - shown, " more"));
  }
  if (!panel.initial.empty()) {
    entry(line("#444444", " stroke-dasharray=\"6 4\""), panel.initial_label);
  }
  entry(
      absl::StrCat("<rect x=\"", Num(kLegendLeft), "\" y=\"", Num(y - 6),
                   "\" width=\"24\" height=\"12\" fill=\"#888888\" ",
                   "fill-opacity=\"0.3\"/>\n"),
      SharedRange(panel) ? "range [B_L, B_R]" : "range [B_L, B_R] per channel");
  absl::StrAppend(svg, "</g>\n");
}

void AppendPanel(const SvgPanel& panel, double top, std::string* svg) {
  const Frame frame = MakeFrame(panel);
  absl::StrAppend(svg, "<g class=\"panel\" transform=\"translate(0 ", Num(top),
                  ")\">\n<text class=\"title\" x=\"", Num(kPlotLeft),
                  "\" y=\"17\" font-size=\"14\" font-weight=\"bold\">",
                  Escape(panel.title), "</text>\n");
  if (!panel.subtitle.empty()) {
    absl::StrAppend(svg, "<text class=\"subtitle\" x=\"", Num(kPlotLeft),
                    "\" y=\"32\" font-size=\"11\" fill=\"#555555\">",
                    Escape(panel.subtitle), "</text>\n");
  }
  AppendRanges(frame, panel, svg);
  AppendAxes(frame, svg);
  if (!panel.initial.empty()) {
    absl::StrAppend(svg, "<path class=\"initial\" d=\"",
                    PathData(frame, panel.x, panel.initial),
                    "\" fill=\"none\" stroke=\"#444444\" stroke-width=\"1.5\" ",
                    "stroke-dasharray=\"6 4\"/>\n");
  }
  for (size_t i = 0; i < panel.curves.size(); ++i) {
    absl::StrAppend(svg, "<path class=\"curve\" d=\"",
                    PathData(frame, panel.x, panel.curves[i].y),
                    "\" fill=\"none\" stroke=\"", kPalette[i % kPaletteSize],
                    "\" stroke-width=\"2\"><title>",
                    Escape(panel.curves[i].label), "</title></path>\n");
  }
  AppendLegend(panel, svg);
  absl::StrAppend(svg, "</g>\n");
}

}  // namespace

absl::StatusOr<std::string> RenderSvg(absl::Span<const SvgPanel> panels) {
  if (panels.empty()) return absl::InvalidArgumentError("nothing to plot");
  for (size_t i = 0; i < panels.size(); ++i) {
    if (absl::Status s = CheckPanel(panels[i], i); !s.ok()) return s;
  }
  const std::string width = Num(kPanelWidth);
  const std::string height = Num(kPanelHeight * panels.size());
  std::string svg =
      absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width,
                   "\" height=\"", height, "\" viewBox=\"0 0 ", width, " ",
                   height, "\" font-family=\"sans-serif\" font-size=\"12\">\n",
                   "<rect class=\"background\" width=\"", width, "\" height=\"",
                   height, "\" fill=\"white\"/>\n");
  for (size_t i = 0; i < panels.size(); ++i) {
    AppendPanel(panels[i], kPanelHeight * i, &svg);
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace actlab
