// Copyright actlab authors.
//
// `actlab bench`: Evaluate throughput and latency over a grid of
// activations, shapes, directions and concurrency levels, each cell set
// against Echo of the same request (the transport ceiling).
//
// What is compared: an Echo cell sends the cell's very request message
// (input, grad_output for bwd, activation fields) with the same concurrency,
// warm-up and request count or time budget, right before the cell, and
// vs_echo is the cell's req/s over the Echo cell's. For bwd the Echo reply
// carries only the output, so Echo moves input+grad_output in but one tensor
// out: vs_echo then also charges the grad_input's return trip to the cell.
// Echo cells are not printed as rows of their own.
//
// Workers share the command's one channel, i.e. one HTTP/2 connection: what
// a multi-threaded client process gets from gRPC by default (channels with
// equal arguments even share their connection), and what honours --timeout
// and --max_message_mb. One connection per worker (a local subchannel pool
// each) was measured against it on a 2-core loopback host: equal within the
// noise for 16x64x56x56, about 15% more req/s for 4096 elements at
// concurrency 4, where the client's own CPU is the limit. Echo and Evaluate
// cells share the setup, so vs_echo does not depend on the choice.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/bench_runner.h"
#include "client/commands.h"
#include "client/io.h"
#include "client/progress.h"
#include "server/tensor_codec.h"

namespace actlab {
namespace {

// Same data on every run, so runs compare.
constexpr uint32_t kInputSeed = 42;
constexpr int kMaxConcurrency = 256;
// The inline PWLU of `--act pwlu`: ReLU-shaped, N = 16 on [-3, 3].
constexpr int kPwluIntervals = 16;
constexpr float kPwluBound = 3;
constexpr int kBarWidth = 20;

struct Options {
  std::vector<std::string> activations;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<Direction> directions;
  std::vector<int> concurrencies;
  RunPlan plan;  // concurrency set per cell
  bool echo = true;
};

// A ReLU sampled at the breakpoints, once per unit.
v1::PwluParameters ReluShapedPwlu(int64_t units) {
  v1::PwluParameters params;
  params.set_intervals(kPwluIntervals);
  params.set_granularity(units > 1 ? v1::CHANNEL : v1::LAYER);
  for (int64_t u = 0; u < units; ++u) {
    params.add_left_bound(-kPwluBound);
    params.add_right_bound(kPwluBound);
    params.add_left_slope(0);
    params.add_right_slope(1);
    for (int j = 0; j <= kPwluIntervals; ++j) {
      const float x = -kPwluBound + j * (2 * kPwluBound) / kPwluIntervals;
      params.add_values(std::max(0.0f, x));
    }
  }
  return params;
}

// Sets what to compute for an --act item on `shape`: a baseline with its
// parameters, the inline PWLU, or a session's unit.
absl::Status SetActivation(const std::string& item,
                           const std::vector<int64_t>& shape,
                           v1::EvaluateRequest* request) {
  const size_t slash = item.find('/');
  if (slash != std::string::npos) {
    if (slash == 0 || slash + 1 == item.size() ||
        item.find('/', slash + 1) != std::string::npos) {
      return UsageError(absl::StrCat("--act '", item, "' is not SESSION/UNIT"));
    }
    request->set_activation("pwlu");
    request->mutable_unit()->set_session_id(item.substr(0, slash));
    request->mutable_unit()->set_unit(item.substr(slash + 1));
    return absl::OkStatus();
  }
  if (item == "pwlu" || item == "pwlu:channel") {
    int64_t units = 1;
    if (item == "pwlu:channel") {
      if (shape.size() < 2) {
        return UsageError(absl::StrCat(
            "--act pwlu:channel needs shapes of rank >= 2 (channels along "
            "axis 1), not ",
            FormatBenchShape(shape)));
      }
      units = shape[1];
    }
    request->set_activation("pwlu");
    *request->mutable_pwlu() = ReluShapedPwlu(units);
    return absl::OkStatus();
  }
  absl::StatusOr<NamedSpec> spec = ParseNamedSpec(item);
  if (!spec.ok()) return Annotate(spec.status(), "--act");
  if (spec->name == "pwlu") {
    return UsageError(absl::StrCat(
        "--act '", item,
        "': inline pwlu is 'pwlu' or 'pwlu:channel'; use SESSION/UNIT for "
        "other PWLUs"));
  }
  request->set_activation(spec->name);
  for (const auto& [key, text] : spec->options) {
    absl::StatusOr<double> value =
        ParseDouble(text, absl::StrCat("--act ", spec->name, " ", key));
    if (!value.ok()) return value.status();
    (*request->mutable_params())[key] = *value;
  }
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<std::vector<T>> ParseEach(
    const std::vector<std::string>& items,
    absl::StatusOr<T> (*parse)(absl::string_view)) {
  std::vector<T> values;
  for (const std::string& item : items) {
    absl::StatusOr<T> value = parse(item);
    if (!value.ok()) return value.status();
    values.push_back(*std::move(value));
  }
  return values;
}

absl::StatusOr<int> ParseConcurrency(absl::string_view text) {
  absl::StatusOr<int64_t> value = ParseInt(text, "--concurrency");
  if (!value.ok()) return value.status();
  if (*value < 1 || *value > kMaxConcurrency) {
    return UsageError(
        absl::StrCat("--concurrency must be in [1, ", kMaxConcurrency, "]"));
  }
  return static_cast<int>(*value);
}

// A list flag's items, or `fallback` when the flag is absent.
std::vector<std::string> ListOr(const ParsedArgs& args, absl::string_view flag,
                                const std::string& fallback) {
  return SplitListFlag(args.Has(flag) ? args.GetAll(flag)
                                      : std::vector<std::string>{fallback});
}

absl::StatusOr<Options> ParseOptions(const ParsedArgs& args) {
  Options options;
  absl::StatusOr<std::vector<std::string>> activations = SplitActivationList(
      args.Has("act") ? args.GetAll("act")
                      : std::vector<std::string>{"relu,gelu,pwlu"});
  if (!activations.ok()) return activations.status();
  options.activations = *std::move(activations);
  auto shapes =
      ParseEach(ListOr(args, "shape", "4096,16x64x56x56"), &ParseBenchShape);
  if (!shapes.ok()) return shapes.status();
  options.shapes = *std::move(shapes);
  auto directions =
      ParseEach(ListOr(args, "direction", "fwd"), &ParseDirection);
  if (!directions.ok()) return directions.status();
  options.directions = *std::move(directions);
  auto concurrencies =
      ParseEach(ListOr(args, "concurrency", "1"), &ParseConcurrency);
  if (!concurrencies.ok()) return concurrencies.status();
  options.concurrencies = *std::move(concurrencies);
  if (options.activations.empty() || options.shapes.empty() ||
      options.directions.empty() || options.concurrencies.empty()) {
    return UsageError(
        "--act, --shape, --direction and --concurrency need a value each");
  }

  absl::StatusOr<int64_t> warmup = args.GetInt("warmup", 3);
  if (!warmup.ok()) return warmup.status();
  if (*warmup < 0 || *warmup > 1000000) {
    return UsageError("--warmup must be in [0, 1000000]");
  }
  options.plan.warmup_per_worker = static_cast<int>(*warmup);
  if (args.Has("requests") && args.Has("duration")) {
    return UsageError("--requests and --duration are exclusive");
  }
  absl::StatusOr<int64_t> requests = args.GetInt("requests", 50);
  if (!requests.ok()) return requests.status();
  if (*requests < 1) return UsageError("--requests must be at least 1");
  options.plan.requests = *requests;
  absl::StatusOr<double> duration = args.GetDouble("duration", 0);
  if (!duration.ok()) return duration.status();
  if (args.Has("duration") && !(*duration > 0 && std::isfinite(*duration))) {
    return UsageError("--duration must be a positive number of seconds");
  }
  options.plan.duration_seconds = *duration;
  if (args.Has("csv") && args.Has("json")) {
    return UsageError("--csv and --json are exclusive");
  }
  options.echo = !args.Has("no-echo");

  // Every activation must make sense on every shape before any call.
  for (const std::string& activation : options.activations) {
    for (const std::vector<int64_t>& shape : options.shapes) {
      v1::EvaluateRequest scratch;
      if (absl::Status s = SetActivation(activation, shape, &scratch);
          !s.ok()) {
        return s;
      }
    }
  }
  return options;
}

// Standard normal floats; `rng` continues across tensors.
v1::Tensor RandomNormal(const std::vector<int64_t>& shape, std::mt19937* rng) {
  v1::Tensor tensor;
  float* data = PrepareTensor(shape, &tensor);
  std::normal_distribution<float> normal;
  const size_t elements = tensor.data().size() / sizeof(float);
  for (size_t i = 0; i < elements; ++i) data[i] = normal(*rng);
  return tensor;
}

std::string CellLabel(const BenchCell& cell) {
  return absl::StrCat(cell.activation, " ", FormatBenchShape(cell.shape), " ",
                      DirectionName(cell.direction), " x", cell.concurrency);
}

// Drives one kind of call (Evaluate or Echo) with `request` from every
// worker of `plan`.
absl::StatusOr<CellStats> Measure(
    Connection& connection,
    grpc::Status (v1::Actlab::Stub::*method)(grpc::ClientContext*,
                                             const v1::EvaluateRequest&,
                                             v1::EvaluateResponse*),
    const v1::EvaluateRequest& request, const RunPlan& plan) {
  const int64_t request_bytes = static_cast<int64_t>(
      request.input().data().size() + request.grad_output().data().size());
  // One reply per worker, reused so each call does not reallocate it.
  std::vector<v1::EvaluateResponse> replies(plan.concurrency);
  absl::StatusOr<Measurement> measurement =
      RunCell(plan, [&](int worker, CallSample* sample) {
        v1::EvaluateResponse& reply = replies[worker];
        absl::Status status =
            connection.Call(connection.actlab(), method, request, &reply);
        if (!status.ok()) return status;
        sample->kernel_ns = reply.kernel_ns();
        sample->handling_ns = reply.handling_ns();
        sample->payload_bytes =
            request_bytes +
            static_cast<int64_t>(reply.output().data().size() +
                                 reply.grad_input().data().size());
        return absl::OkStatus();
      });
  if (!measurement.ok()) return measurement.status();
  return Summarize(*measurement);
}

std::string LocalTime() {
  const std::time_t now = std::time(nullptr);
  std::tm local;
  localtime_r(&now, &local);
  char text[64];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S %Z", &local);
  return text;
}

std::string PlanSummary(const Options& options) {
  const RunPlan& plan = options.plan;
  return absl::StrCat(
      "warm-up ", plan.warmup_per_worker, " calls/worker, ",
      plan.duration_seconds > 0
          ? absl::StrFormat("%g s/cell", plan.duration_seconds)
          : absl::StrCat(plan.requests, " requests/cell"),
      options.echo ? "; vs_echo = req/s over Echo of the same request" : "");
}

// Measures every cell in order, each right after its Echo twin.
absl::StatusOr<std::vector<CellResult>> RunGrid(const Options& options,
                                                bool progress,
                                                CommandContext& ctx) {
  const std::vector<BenchCell> cells =
      ExpandGrid(options.activations, options.shapes, options.directions,
                 options.concurrencies);
  // Inputs and upstream gradients, once per shape.
  std::mt19937 rng(kInputSeed);
  std::map<std::vector<int64_t>, std::pair<v1::Tensor, v1::Tensor>> data;
  for (const std::vector<int64_t>& shape : options.shapes) {
    if (data.count(shape) > 0) continue;
    v1::Tensor input = RandomNormal(shape, &rng);
    data[shape] = {std::move(input), RandomNormal(shape, &rng)};
  }

  std::vector<CellResult> results;
  for (size_t i = 0; i < cells.size(); ++i) {
    const BenchCell& cell = cells[i];
    const std::string label = CellLabel(cell);
    v1::EvaluateRequest request;
    absl::Status status = SetActivation(cell.activation, cell.shape, &request);
    if (!status.ok()) return status;
    const auto& [input, grad_output] = data.at(cell.shape);
    *request.mutable_input() = input;
    if (cell.direction == Direction::kBackward) {
      *request.mutable_grad_output() = grad_output;
    }
    RunPlan plan = options.plan;
    plan.concurrency = cell.concurrency;

    auto show = [&](absl::string_view what) {
      if (!progress) return;
      RedrawLine(ctx.err,
                 absl::StrCat(ProgressBar(i, cells.size(), kBarWidth), " cell ",
                              i + 1, "/", cells.size(), ": ", label, what));
    };
    std::optional<CellStats> echo;
    if (options.echo) {
      show(" (echo)");
      absl::StatusOr<CellStats> stats =
          Measure(ctx.connection, &v1::Actlab::Stub::Echo, request, plan);
      if (!stats.ok()) return Annotate(stats.status(), label + " (echo)");
      echo = *stats;
    }
    show("");
    absl::StatusOr<CellStats> stats =
        Measure(ctx.connection, &v1::Actlab::Stub::Evaluate, request, plan);
    if (!stats.ok()) return Annotate(stats.status(), label);
    CellResult result{cell, *stats, std::nullopt, std::nullopt};
    if (echo && echo->req_per_s > 0) {
      result.vs_echo = stats->req_per_s / echo->req_per_s;
      result.echo_p50_ms = echo->lat_p50_ms;
    }
    results.push_back(std::move(result));
  }
  return results;
}

absl::Status RunBench(CommandContext& ctx, const ParsedArgs& args) {
  absl::StatusOr<Options> options = ParseOptions(args);
  if (!options.ok()) return options.status();
  // Progress goes to stderr, so stderr's terminal decides whether it shows.
  const bool progress = isatty(STDERR_FILENO) == 1;
  absl::StatusOr<std::vector<CellResult>> results =
      RunGrid(*options, progress, ctx);
  // Cleared on failure too, so the error starts a clean line.
  if (progress) RedrawLine(ctx.err, "");
  if (!results.ok()) return results.status();

  if (args.Has("csv")) {
    ctx.out << FormatCsv(*results);
  } else if (args.Has("json")) {
    ctx.out << FormatJson(*results);
  } else {
    ctx.out << "actlab bench against " << ctx.connection.server() << " on "
            << LocalTime() << "; " << PlanSummary(*options) << "\n";
    PrintResultTable(*results, ctx.out);
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> BenchCommands() {
  return {
      {"bench",
       "",
       "Measure Evaluate throughput and latency over a grid of activations x "
       "shapes x directions x concurrency levels, each against Echo of the "
       "same request.",
       {
           {"act", "ACT[,ACT]",
            "activations (default relu,gelu,pwlu): NAME[:k=v,...], pwlu "
            "(inline ReLU-shaped, N=16 on [-3,3]), pwlu:channel (one unit per "
            "channel along axis 1) or SESSION/UNIT",
            /*repeated=*/true},
           {"shape", "SHAPE[,SHAPE]",
            "shapes like 16x64x56x56, or element counts (default "
            "4096,16x64x56x56)",
            /*repeated=*/true},
           {"concurrency", "N[,N]",
            "calls in flight, one worker thread each (default 1)",
            /*repeated=*/true},
           {"direction", "DIR[,DIR]",
            "fwd (forward only) or bwd (with grad_output too; default fwd)",
            /*repeated=*/true},
           {"warmup", "N", "unmeasured calls per worker per cell (default 3)"},
           {"requests", "N", "measured calls per cell (default 50)"},
           {"duration", "SECONDS",
            "measure each cell for this long instead of --requests"},
           {"csv", "", "print CSV: a header row and one row per cell"},
           {"json", "", "print a JSON array of one object per cell"},
           {"no-echo", "", "skip the Echo cells; vs_echo stays empty"},
       },
       0,
       0,
       RunBench},
  };
}

}  // namespace actlab
