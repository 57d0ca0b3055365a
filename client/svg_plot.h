// Copyright actlab authors.
//
// Renders activation curves as a standalone SVG document: no server, no
// dependencies, so `actlab plot` stays a thin shell over RPCs and this part
// is tested on synthetic curves.
//
// The document's structure is part of the contract, for tests and for
// scripts that post-process plots: each learned curve is a
// <path class="curve">, the initial shape a dashed <path class="initial">,
// each realigned range a <rect class="range">, one <g class="panel"> a panel.

#ifndef ACTLAB_CLIENT_SVG_PLOT_H_
#define ACTLAB_CLIENT_SVG_PLOT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace actlab {

struct SvgCurve {
  std::string label;      // legend entry, e.g. "channel 2"
  std::vector<double> y;  // one value per x of the panel
  // The realigned range [B_L, B_R], shaded behind the curves.
  double left_bound = 0;
  double right_bound = 0;
};

struct SvgPanel {
  std::string title;      // e.g. the unit and its phase
  std::string subtitle;   // smaller, under the title, e.g. the session
  std::vector<double> x;  // strictly increasing
  std::vector<SvgCurve> curves;
  // The initial shape sampled on x, drawn dashed; not drawn when empty.
  std::vector<double> initial;
  std::string initial_label;  // legend entry, e.g. "initial: relu"
};

// One document with the panels stacked vertically. Non-finite y values
// break a curve rather than failing the plot, since a diverged channel is
// worth seeing next to the others. InvalidArgument when there are no
// panels, a panel has fewer than two or non-increasing x values, or a
// series' length differs from its panel's x.
absl::StatusOr<std::string> RenderSvg(absl::Span<const SvgPanel> panels);

}  // namespace actlab

#endif  // ACTLAB_CLIENT_SVG_PLOT_H_
