// Copyright actlab authors.
//
// Session commands: PWLU units kept by the server through their phases
// (observe statistics, fit bounds, inspect, move between sessions).

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/chunked_call.h"
#include "client/commands.h"
#include "client/io.h"
#include "client/npy.h"
#include "client/progress.h"
#include "google/protobuf/util/time_util.h"
#include "server/tensor_codec.h"

namespace actlab {
namespace {

// Channels the summary table shows before eliding the rest.
constexpr int kSummaryChannels = 3;

constexpr absl::string_view kUnitKeys =
    "intervals, granularity, channels, channel_axis, momentum, sigma, init, "
    "init.PARAM, init_bound, fixed, min_width";

// Applies one NAME[:k=v,...] option to a UnitConfig.
absl::Status SetUnitOption(const std::string& key, const std::string& value,
                           v1::UnitConfig* config) {
  if (key == "granularity") {
    if (value == "layer") {
      config->set_granularity(v1::LAYER);
    } else if (value == "channel") {
      config->set_granularity(v1::CHANNEL);
    } else {
      return UsageError(
          absl::StrCat("granularity: '", value, "' is not layer or channel"));
    }
    return absl::OkStatus();
  }
  if (key == "init") {
    config->set_init_activation(value);
    return absl::OkStatus();
  }
  if (key == "fixed") {
    absl::StatusOr<bool> v = ParseBool(value, key);
    if (v.ok()) config->set_fixed_bounds(*v);
    return v.status();
  }
  if (key == "intervals" || key == "channels" || key == "channel_axis") {
    absl::StatusOr<int64_t> v = ParseInt(value, key);
    if (!v.ok()) return v.status();
    const auto n = static_cast<int32_t>(*v);
    if (key == "intervals") config->set_intervals(n);
    if (key == "channels") config->set_channels(n);
    if (key == "channel_axis") config->set_channel_axis(n);
    return absl::OkStatus();
  }
  const bool init_param = absl::StartsWith(key, "init.") && key.size() > 5;
  if (!init_param && key != "momentum" && key != "sigma" &&
      key != "init_bound" && key != "min_width") {
    return UsageError(
        absl::StrCat("unknown unit option '", key, "'; known: ", kUnitKeys));
  }
  absl::StatusOr<double> v = ParseDouble(value, key);
  if (!v.ok()) return v.status();
  if (init_param) (*config->mutable_init_params())[key.substr(5)] = *v;
  if (key == "momentum") config->set_momentum(*v);
  if (key == "sigma") config->set_sigma_multiplier(*v);
  if (key == "init_bound") config->set_init_bound(*v);
  if (key == "min_width") config->set_min_width(*v);
  return absl::OkStatus();
}

absl::StatusOr<v1::UnitConfig> ParseUnitConfig(absl::string_view text) {
  absl::StatusOr<NamedSpec> spec = ParseNamedSpec(text);
  if (!spec.ok()) return spec.status();
  v1::UnitConfig config;
  config.set_name(spec->name);
  for (const auto& [key, value] : spec->options) {
    absl::Status status = SetUnitOption(key, value, &config);
    if (!status.ok())
      return Annotate(status, absl::StrCat("unit ", spec->name));
  }
  return config;
}

v1::UnitRef MakeRef(const ParsedArgs& args) {
  v1::UnitRef ref;
  ref.set_session_id(args.positional()[0]);
  ref.set_unit(args.positional()[1]);
  return ref;
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  return google::protobuf::util::TimeUtil::ToString(time);
}

// "a b c …" of the first kSummaryChannels entries `format` renders.
template <typename Format>
std::string FirstChannels(int count, Format format) {
  std::vector<std::string> parts;
  for (int i = 0; i < std::min(count, kSummaryChannels); ++i) {
    parts.push_back(format(i));
  }
  if (count > kSummaryChannels) parts.push_back("...");
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

std::string GranularityName(v1::Granularity g) {
  return g == v1::CHANNEL ? "channel" : "layer";
}

void AddUnitRow(const v1::Unit& unit, Table* table) {
  const v1::RunningStats& stats = unit.stats();
  const v1::PwluParameters& params = unit.parameters();
  const int stat_count = std::min(stats.mean_size(), stats.std_size());
  const int bound_count =
      std::min(params.left_bound_size(), params.right_bound_size());
  table->AddRow({
      unit.config().name(),
      v1::Phase_Name(unit.phase()),
      absl::StrCat(unit.config().intervals()),
      GranularityName(unit.config().granularity()),
      unit.config().granularity() == v1::CHANNEL
          ? absl::StrCat(unit.config().channels())
          : "-",
      absl::StrCat(unit.batches_observed()),
      absl::StrCat(unit.training_steps()),
      FirstChannels(stat_count,
                    [&](int i) {
                      return absl::StrFormat("%.4g/%.4g", stats.mean(i),
                                             stats.std(i));
                    }),
      FirstChannels(bound_count,
                    [&](int i) {
                      return absl::StrFormat("[%.4g, %.4g]",
                                             params.left_bound(i),
                                             params.right_bound(i));
                    }),
  });
}

Table UnitTable() {
  return Table({"UNIT", "PHASE", "N", "GRANULARITY", "CHANNELS", "BATCHES",
                "STEPS", "MEAN/STD", "BOUNDS"});
}

absl::Status RunCreate(CommandContext& ctx, const ParsedArgs& args) {
  v1::CreateSessionRequest request;
  request.set_display_name(args.Get("name"));
  for (const std::string& text : args.GetAll("unit")) {
    absl::StatusOr<v1::UnitConfig> config = ParseUnitConfig(text);
    if (!config.ok()) return config.status();
    *request.add_units() = *std::move(config);
  }
  v1::CreateSessionResponse response;
  absl::Status status =
      ctx.connection.Call(ctx.connection.actlab(),
                          &v1::Actlab::Stub::CreateSession, request, &response);
  if (!status.ok()) return status;
  ctx.out << response.session().id() << "\n";
  return absl::OkStatus();
}

absl::Status RunList(CommandContext& ctx, const ParsedArgs&) {
  v1::ListSessionsResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::ListSessions,
      v1::ListSessionsRequest(), &response);
  if (!status.ok()) return status;
  Table table({"ID", "NAME", "UNITS", "UPDATED", "OWNER"});
  for (const v1::Session& session : response.sessions()) {
    table.AddRow({session.id(), session.display_name(),
                  session.unit_names().empty()
                      ? "-"
                      : absl::StrJoin(session.unit_names(), ","),
                  FormatTime(session.update_time()),
                  session.owner().empty() ? "-" : session.owner()});
  }
  table.Print(ctx.out);
  return absl::OkStatus();
}

absl::Status ShowUnit(CommandContext& ctx, const ParsedArgs& args) {
  v1::GetUnitRequest request;
  *request.mutable_unit() = MakeRef(args);
  v1::GetUnitResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::GetUnit, request, &response);
  if (!status.ok()) return status;
  if (args.Has("json")) {
    ctx.out << ToJson(response);
    return absl::OkStatus();
  }
  const v1::Unit& unit = response.unit();
  Table summary = UnitTable();
  AddUnitRow(unit, &summary);
  summary.Print(ctx.out);
  // Every channel in full: this is the view for one unit.
  const v1::RunningStats& stats = unit.stats();
  const v1::PwluParameters& params = unit.parameters();
  const int rows =
      std::max({stats.mean_size(), stats.std_size(), params.left_bound_size(),
                params.right_bound_size()});
  if (rows == 0) return absl::OkStatus();
  auto cell = [](const auto& values, int i) {
    return i < values.size() ? absl::StrFormat("%.6g", values.Get(i))
                             : std::string("-");
  };
  Table channels({"CHANNEL", "MEAN", "STD", "LEFT", "RIGHT"});
  for (int i = 0; i < rows; ++i) {
    channels.AddRow({absl::StrCat(i), cell(stats.mean(), i),
                     cell(stats.std(), i), cell(params.left_bound(), i),
                     cell(params.right_bound(), i)});
  }
  ctx.out << "\n";
  channels.Print(ctx.out);
  return absl::OkStatus();
}

absl::Status RunShow(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional().size() == 2) return ShowUnit(ctx, args);
  v1::GetSessionRequest request;
  request.set_session_id(args.positional()[0]);
  v1::GetSessionResponse response;
  absl::Status status =
      ctx.connection.Call(ctx.connection.actlab(),
                          &v1::Actlab::Stub::GetSession, request, &response);
  if (!status.ok()) return status;
  if (args.Has("json")) {
    ctx.out << ToJson(response);
    return absl::OkStatus();
  }
  const v1::Session& session = response.session();
  ctx.out << "session " << session.id();
  if (!session.display_name().empty()) {
    ctx.out << " (" << session.display_name() << ")";
  }
  ctx.out << "\ncreated " << FormatTime(session.create_time()) << ", updated "
          << FormatTime(session.update_time()) << "\n\n";
  Table table = UnitTable();
  for (const v1::Unit& unit : response.units()) AddUnitRow(unit, &table);
  table.Print(ctx.out);
  return absl::OkStatus();
}

absl::Status RunDelete(CommandContext& ctx, const ParsedArgs& args) {
  v1::DeleteSessionRequest request;
  request.set_session_id(args.positional()[0]);
  v1::DeleteSessionResponse response;
  return ctx.connection.Call(ctx.connection.actlab(),
                             &v1::Actlab::Stub::DeleteSession, request,
                             &response);
}

absl::Status RunAddUnit(CommandContext& ctx, const ParsedArgs& args) {
  v1::AddUnitRequest request;
  request.set_session_id(args.positional()[0]);
  absl::StatusOr<v1::UnitConfig> config = ParseUnitConfig(args.positional()[1]);
  if (!config.ok()) return config.status();
  *request.mutable_unit() = *std::move(config);
  v1::AddUnitResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::AddUnit, request, &response);
  if (!status.ok()) return status;
  ctx.out << response.unit().config().name() << "\n";
  return absl::OkStatus();
}

// "[#######.............] 7/20 x7.npy", redrawn in place.
void DrawProgress(std::ostream& err, size_t done, size_t total,
                  const std::string& file) {
  RedrawLine(err, absl::StrCat(ProgressBar(done, total), " ", done, "/", total,
                               " ", file));
}

// One ObserveStream call for `input`: read, sent and (into `out_path` if
// set) written a chunk at a time. Fills the stats and kernel time of
// `response`.
absl::Status StreamObserve(CommandContext& ctx, const v1::UnitRef& ref,
                           NpyReader& input, int64_t chunk_bytes,
                           const std::string& out_path,
                           v1::ObserveResponse* response) {
  absl::StatusOr<v1::Unit> unit = FetchUnit(ctx, ref);
  if (!unit.ok()) return unit.status();
  const v1::UnitConfig& config = unit->config();
  const std::vector<int64_t>& shape = input.shape();
  std::optional<int> axis;
  if (config.granularity() == v1::CHANNEL) {
    axis = config.has_channel_axis()
               ? config.channel_axis()
               : DefaultChannelAxis(static_cast<int>(shape.size()));
  }
  std::optional<NpyWriter> out;
  if (!out_path.empty()) {
    absl::StatusOr<NpyWriter> writer = NpyWriter::Open(out_path, shape);
    if (!writer.ok()) return writer.status();
    out = *std::move(writer);
  }
  v1::ObserveRequest header;
  *header.mutable_unit() = ref;
  header.mutable_input()->set_dtype(v1::FLOAT32);
  header.mutable_input()->mutable_shape()->Assign(shape.begin(), shape.end());
  auto fill = [&](int64_t n, v1::TensorChunk* chunk) {
    std::string* x = chunk->mutable_input();
    x->resize(static_cast<size_t>(n) * sizeof(float));
    return input.Read(n, reinterpret_cast<float*>(x->data()));
  };
  auto take = [&](int64_t n, const v1::ObserveStreamResponse& reply) {
    if (!out.has_value()) return absl::OkStatus();
    if (reply.output().size() != static_cast<size_t>(n) * sizeof(float)) {
      return absl::InternalError(absl::StrCat("the server replied with ",
                                              reply.output().size(),
                                              " bytes for ", n, " elements"));
    }
    return out->Append(absl::MakeConstSpan(
        reinterpret_cast<const float*>(reply.output().data()),
        static_cast<size_t>(n)));
  };
  v1::Actlab::Stub& stub = ctx.connection.actlab();
  absl::StatusOr<v1::ObserveStreamResponse> last =
      RunChunkedCall<v1::ObserveStreamRequest, v1::ObserveStreamResponse>(
          ctx.connection,
          [&stub](grpc::ClientContext* c) { return stub.ObserveStream(c); },
          header, input.elements(), ChunkElements(shape, axis, chunk_bytes, 1),
          fill, take);
  if (!last.ok()) return last.status();
  if (out.has_value()) {
    if (absl::Status status = out->Close(); !status.ok()) return status;
  }
  *response->mutable_stats() = last->stats();
  response->set_kernel_ns(last->kernel_ns());
  response->set_handling_ns(last->handling_ns());
  return absl::OkStatus();
}

// One Observe call for `file`, or an ObserveStream call when it is larger
// than a chunk; writes the output into `out_dir` if set.
absl::Status ObserveFile(CommandContext& ctx, const ParsedArgs& args,
                         const std::string& file, const std::string& out_dir,
                         int64_t chunk_bytes, v1::ObserveResponse* response) {
  const std::string out_path = out_dir.empty()
                                   ? std::string()
                                   : (std::filesystem::path(out_dir) /
                                      std::filesystem::path(file).filename())
                                         .string();
  absl::StatusOr<NpyReader> input = NpyReader::Open(file);
  if (!input.ok()) return input.status();
  response->Clear();
  if (input->elements() * static_cast<int64_t>(sizeof(float)) > chunk_bytes) {
    return Annotate(StreamObserve(ctx, MakeRef(args), *input, chunk_bytes,
                                  out_path, response),
                    file);
  }
  v1::ObserveRequest request;
  *request.mutable_unit() = MakeRef(args);
  absl::Status status =
      input->Read(input->elements(),
                  PrepareTensor(input->shape(), request.mutable_input()));
  if (!status.ok()) return status;
  status = ctx.connection.Call(ctx.connection.actlab(),
                               &v1::Actlab::Stub::Observe, request, response);
  if (!status.ok()) return Annotate(status, file);
  if (out_path.empty()) return absl::OkStatus();
  return WriteTensor(response->output(), "output", out_path);
}

absl::Status RunObserve(CommandContext& ctx, const ParsedArgs& args) {
  const std::vector<std::string> files(args.positional().begin() + 2,
                                       args.positional().end());
  const std::string out_dir = args.Get("out-dir");
  if (!out_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(out_dir, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat(out_dir, ": cannot create: ", error.message()));
    }
  }
  absl::StatusOr<int64_t> chunk_bytes = ChunkBytes(args);
  if (!chunk_bytes.ok()) return chunk_bytes.status();
  const bool progress_bar = ctx.interactive && files.size() > 1;
  v1::ObserveResponse response;
  for (size_t i = 0; i < files.size(); ++i) {
    if (progress_bar) DrawProgress(ctx.err, i, files.size(), files[i]);
    absl::Status status =
        ObserveFile(ctx, args, files[i], out_dir, *chunk_bytes, &response);
    if (!status.ok()) {
      if (progress_bar) ctx.err << "\n";
      return status;
    }
    if (!progress_bar) {
      ctx.out << files[i] << ": batches " << response.stats().batches()
              << " (kernel " << FormatNanos(response.kernel_ns()) << ")\n";
    }
  }
  if (progress_bar) {
    DrawProgress(ctx.err, files.size(), files.size(), "");
    ctx.err << "\n";
    ctx.out << files.size() << " files observed; batches "
            << response.stats().batches() << "\n";
  }
  return absl::OkStatus();
}

absl::Status RunFitBounds(CommandContext& ctx, const ParsedArgs& args) {
  v1::FitBoundariesRequest request;
  request.set_session_id(args.positional()[0]);
  if (args.positional().size() > 1) request.set_unit(args.positional()[1]);
  if (args.Has("sigma")) {
    absl::StatusOr<double> sigma = args.GetDouble("sigma", 0);
    if (!sigma.ok()) return sigma.status();
    request.set_sigma_multiplier(*sigma);
  }
  v1::FitBoundariesResponse response;
  absl::Status status =
      ctx.connection.Call(ctx.connection.actlab(),
                          &v1::Actlab::Stub::FitBoundaries, request, &response);
  if (!status.ok()) return status;
  Table table({"UNIT", "CHANNEL", "LEFT", "RIGHT"});
  for (const v1::FittedBoundaries& fitted : response.units()) {
    const int count =
        std::min(fitted.left_bound_size(), fitted.right_bound_size());
    for (int i = 0; i < count; ++i) {
      table.AddRow({fitted.unit(), count == 1 ? "-" : absl::StrCat(i),
                    absl::StrFormat("%.6g", fitted.left_bound(i)),
                    absl::StrFormat("%.6g", fitted.right_bound(i))});
    }
  }
  table.Print(ctx.out);
  return absl::OkStatus();
}

absl::Status RunExport(CommandContext& ctx, const ParsedArgs& args) {
  v1::ExportUnitRequest request;
  *request.mutable_unit() = MakeRef(args);
  v1::ExportUnitResponse response;
  absl::Status status =
      ctx.connection.Call(ctx.connection.actlab(),
                          &v1::Actlab::Stub::ExportUnit, request, &response);
  if (!status.ok()) return status;
  return WriteFile(args.Get("out"), ToJson(response.export_()));
}

absl::Status RunImport(CommandContext& ctx, const ParsedArgs& args) {
  v1::ImportUnitRequest request;
  request.set_session_id(args.positional()[0]);
  absl::Status status =
      ReadJson(args.positional()[1], request.mutable_export_());
  if (!status.ok()) return status;
  request.set_unit(args.Get("as"));
  request.set_replace(args.Has("replace"));
  v1::ImportUnitResponse response;
  status =
      ctx.connection.Call(ctx.connection.actlab(),
                          &v1::Actlab::Stub::ImportUnit, request, &response);
  if (!status.ok()) return status;
  ctx.out << response.unit().config().name() << "\n";
  return absl::OkStatus();
}

absl::Status RunCurve(CommandContext& ctx, const ParsedArgs& args) {
  v1::SampleCurveRequest request;
  *request.mutable_unit() = MakeRef(args);
  if (args.Has("channels")) {
    for (absl::string_view c : absl::StrSplit(args.Get("channels"), ',')) {
      absl::StatusOr<int64_t> channel = ParseInt(c, "--channels");
      if (!channel.ok()) return channel.status();
      request.add_channels(static_cast<int32_t>(*channel));
    }
  }
  if (args.Has("range")) {
    const std::string range = args.Get("range");
    // Split at the colon that follows a number, so "-3:3" works.
    const size_t colon = range.find(':', 1);
    if (colon == std::string::npos) {
      return UsageError(absl::StrCat("--range '", range, "' is not MIN:MAX"));
    }
    absl::StatusOr<double> lo = ParseDouble(range.substr(0, colon), "--range");
    absl::StatusOr<double> hi = ParseDouble(range.substr(colon + 1), "--range");
    if (!lo.ok()) return lo.status();
    if (!hi.ok()) return hi.status();
    request.set_x_min(*lo);
    request.set_x_max(*hi);
  }
  if (args.Has("points")) {
    absl::StatusOr<int64_t> points = args.GetInt("points", 0);
    if (!points.ok()) return points.status();
    request.set_points(static_cast<int32_t>(*points));
  }
  v1::SampleCurveResponse response;
  absl::Status status =
      ctx.connection.Call(ctx.connection.actlab(),
                          &v1::Actlab::Stub::SampleCurve, request, &response);
  if (!status.ok()) return status;

  std::vector<std::string> header = {"x"};
  for (const v1::Curve& curve : response.curves()) {
    header.push_back(absl::StrCat("y", curve.channel()));
  }
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < response.x_size(); ++i) {
    std::vector<std::string> row = {absl::StrFormat("%.6g", response.x(i))};
    for (const v1::Curve& curve : response.curves()) {
      row.push_back(i < curve.y_size() ? absl::StrFormat("%.6g", curve.y(i))
                                       : "");
    }
    rows.push_back(std::move(row));
  }
  if (args.Has("csv")) {
    ctx.out << absl::StrJoin(header, ",") << "\n";
    for (const auto& row : rows) ctx.out << absl::StrJoin(row, ",") << "\n";
  } else {
    Table table(std::move(header));
    for (auto& row : rows) table.AddRow(std::move(row));
    table.Print(ctx.out);
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> SessionCommands() {
  const Command show = {
      "show",
      "SESSION [UNIT]",
      "Show a session's units, or one unit with every channel.",
      {{"json", "", "print the GetSession/GetUnit reply as JSON"}},
      1,
      2,
      RunShow};
  Command session_show = show;
  session_show.name = "session show";
  session_show.summary = "Same as 'actlab show'.";
  return {
      {"session create",
       "",
       "Create a session; prints its id alone.",
       {{"name", "NAME", "display name"},
        {"unit", "NAME[:k=v,...]",
         absl::StrCat("add a PWLU unit (repeatable); keys: ", kUnitKeys,
                      "; granularity is layer|channel, init an activation "
                      "name, fixed true|false"),
         /*repeated=*/true}},
       0,
       0,
       RunCreate},
      {"session list",
       "",
       "List sessions: with server auth, your own (admins: all).",
       {},
       0,
       0,
       RunList},
      session_show,
      {"session delete",
       "SESSION",
       "Delete a session and its units.",
       {},
       1,
       1,
       RunDelete},
      {"session add-unit",
       "SESSION NAME[:k=v,...]",
       "Add a PWLU unit (keys as for 'session create --unit').",
       {},
       2,
       2,
       RunAddUnit},
      {"observe",
       "SESSION UNIT X.npy...",
       "Feed each file to the unit (one Observe call per file) to gather "
       "phase I statistics.",
       {{"out-dir", "DIR",
         "write each output to DIR under its input's file name"},
        {"chunk_mb", "MB",
         "stream files larger than this in chunks of at most this size "
         "(ObserveStream; default 32)"}},
       3,
       kUnlimited,
       RunObserve},
      {"fit-bounds",
       "SESSION [UNIT]",
       "Realign the bounds to mean +- sigma * std (all units by default); "
       "prints them.",
       {{"sigma", "K", "override the units' sigma multiplier"}},
       1,
       2,
       RunFitBounds},
      show,
      {"export",
       "SESSION UNIT",
       "Write a unit as actlab.v1.UnitExport JSON.",
       {{"out", "UNIT.json", "file to write", /*repeated=*/false,
         /*required=*/true}},
       2,
       2,
       RunExport},
      {"import",
       "SESSION UNIT.json",
       "Add an exported unit to a session; prints its name.",
       {{"as", "NAME", "name in the session (default: the exported name)"},
        {"replace", "", "replace an existing unit of that name"}},
       2,
       2,
       RunImport},
      {"curve",
       "SESSION UNIT",
       "Sample a unit's curve: an x column and a y column per channel.",
       {{"channels", "C,C,...", "channels to sample (default all)"},
        {"range", "MIN:MAX",
         "x range (default: bounds widened by a quarter each side)"},
        {"points", "P", "number of samples (default 256)"},
        {"csv", "", "comma-separated output"}},
       2,
       2,
       RunCurve},
  };
}

}  // namespace actlab
