// Copyright actlab authors.
//
// `actlab plot`: a unit's learned curves, its initial shape and realigned
// range as an SVG file (see client/svg_plot.h for the drawing).

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/io.h"
#include "client/svg_plot.h"
#include "server/tensor_codec.h"

namespace actlab {
namespace {

absl::StatusOr<std::vector<int32_t>> ParseChannels(const std::string& text) {
  std::vector<int32_t> channels;
  for (absl::string_view c : absl::StrSplit(text, ',')) {
    absl::StatusOr<int64_t> channel = ParseInt(c, "--channels");
    if (!channel.ok()) return channel.status();
    if (*channel < 0 || *channel > INT32_MAX) {
      return UsageError(
          absl::StrCat("--channels: ", *channel, " is not a channel index"));
    }
    channels.push_back(static_cast<int32_t>(*channel));
  }
  return channels;
}

// The unit's initial shape on `x`: its init activation evaluated there, the
// shape phase I starts from before any training.
absl::StatusOr<std::vector<double>> SampleInitialShape(
    CommandContext& ctx, const v1::UnitConfig& config,
    const std::vector<double>& x) {
  v1::EvaluateRequest request;
  request.set_activation(config.init_activation());
  *request.mutable_params() = config.init_params();
  float* input =
      PrepareTensor({static_cast<int64_t>(x.size())}, request.mutable_input());
  std::copy(x.begin(), x.end(), input);
  v1::EvaluateResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::Evaluate, request, &response);
  if (!status.ok()) return status;
  absl::StatusOr<TensorView> output = DecodeTensor(response.output(), "output");
  if (!output.ok()) {
    return Annotate(output.status(), "the server's reply is malformed");
  }
  if (output->elements != static_cast<int64_t>(x.size())) {
    return absl::InternalError(
        absl::StrCat("the server's reply is malformed: ", output->elements,
                     " outputs for ", x.size(), " inputs"));
  }
  return std::vector<double>(output->data, output->data + output->elements);
}

absl::StatusOr<SvgPanel> BuildPanel(CommandContext& ctx,
                                    const std::string& session,
                                    const v1::Unit& unit,
                                    const v1::SampleCurveRequest& options) {
  const v1::UnitConfig& config = unit.config();
  v1::SampleCurveRequest request = options;
  request.mutable_unit()->set_session_id(session);
  request.mutable_unit()->set_unit(config.name());
  v1::SampleCurveResponse response;
  absl::Status status =
      ctx.connection.Call(ctx.connection.actlab(),
                          &v1::Actlab::Stub::SampleCurve, request, &response);
  if (!status.ok()) return status;

  SvgPanel panel;
  panel.title =
      absl::StrCat("unit ", config.name(), " (", v1::Phase_Name(unit.phase()),
                   ", ", unit.training_steps(), " training steps)");
  panel.subtitle = absl::StrCat("session ", session);
  panel.x.assign(response.x().begin(), response.x().end());
  const bool channel_wise = config.granularity() == v1::CHANNEL;
  for (const v1::Curve& curve : response.curves()) {
    SvgCurve& drawn = panel.curves.emplace_back();
    drawn.label = channel_wise ? absl::StrCat("channel ", curve.channel())
                               : std::string("learned");
    drawn.y.assign(curve.y().begin(), curve.y().end());
    drawn.left_bound = curve.left_bound();
    drawn.right_bound = curve.right_bound();
  }
  absl::StatusOr<std::vector<double>> initial =
      SampleInitialShape(ctx, config, panel.x);
  if (!initial.ok()) {
    return Annotate(initial.status(),
                    absl::StrCat("initial shape ", config.init_activation()));
  }
  panel.initial = *std::move(initial);
  panel.initial_label = absl::StrCat("initial: ", config.init_activation());
  return panel;
}

// The units to plot: the one named, or every unit of the session.
absl::StatusOr<std::vector<v1::Unit>> FetchUnits(CommandContext& ctx,
                                                 const ParsedArgs& args) {
  const std::string& session = args.positional()[0];
  if (args.positional().size() == 2) {
    v1::UnitRef ref;
    ref.set_session_id(session);
    ref.set_unit(args.positional()[1]);
    absl::StatusOr<v1::Unit> unit = FetchUnit(ctx, ref);
    if (!unit.ok()) return unit.status();
    return std::vector<v1::Unit>{*std::move(unit)};
  }
  v1::GetSessionRequest request;
  request.set_session_id(session);
  v1::GetSessionResponse response;
  absl::Status status =
      ctx.connection.Call(ctx.connection.actlab(),
                          &v1::Actlab::Stub::GetSession, request, &response);
  if (!status.ok()) return status;
  if (response.units().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", session, " has no units to plot"));
  }
  return std::vector<v1::Unit>(response.units().begin(),
                               response.units().end());
}

absl::Status RunPlot(CommandContext& ctx, const ParsedArgs& args) {
  v1::SampleCurveRequest options;
  if (args.Has("channels")) {
    absl::StatusOr<std::vector<int32_t>> channels =
        ParseChannels(args.Get("channels"));
    if (!channels.ok()) return channels.status();
    options.mutable_channels()->Add(channels->begin(), channels->end());
  }
  if (args.Has("points")) {
    absl::StatusOr<int64_t> points = args.GetInt("points", 0);
    if (!points.ok()) return points.status();
    if (*points < 2 || *points > INT32_MAX) {
      return UsageError("--points must be at least 2");
    }
    options.set_points(static_cast<int32_t>(*points));
  }

  absl::StatusOr<std::vector<v1::Unit>> units = FetchUnits(ctx, args);
  if (!units.ok()) return units.status();
  std::vector<SvgPanel> panels;
  size_t curves = 0;
  for (const v1::Unit& unit : *units) {
    absl::StatusOr<SvgPanel> panel =
        BuildPanel(ctx, args.positional()[0], unit, options);
    if (!panel.ok()) {
      return Annotate(panel.status(),
                      absl::StrCat("unit ", unit.config().name()));
    }
    curves += panel->curves.size();
    panels.push_back(*std::move(panel));
  }
  absl::StatusOr<std::string> svg = RenderSvg(panels);
  if (!svg.ok()) return svg.status();
  const std::string out = args.Get("out");
  if (absl::Status s = WriteFile(out, *svg); !s.ok()) return s;
  ctx.out << out << ": " << panels.size()
          << (panels.size() == 1 ? " panel, " : " panels, ") << curves
          << (curves == 1 ? " curve\n" : " curves\n");
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> PlotCommands() {
  return {
      {"plot",
       "SESSION [UNIT]",
       "Draw a unit's learned curves (all units without UNIT, one panel "
       "each) as an SVG: one path per channel, the initial shape dashed, "
       "the realigned range [B_L, B_R] shaded.",
       {{"out", "FILE.svg", "file to write", /*repeated=*/false,
         /*required=*/true},
        {"channels", "C,C,...", "channels to draw (default all)"},
        {"points", "P", "samples per curve (default 256)"}},
       1,
       2,
       RunPlot},
  };
}

}  // namespace actlab
