// Copyright actlab authors.
//
// Phase II commands: train a unit by gradient (one TrainStep, or a whole Fit
// streamed with progress) and inspect the runs that record the training.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/io.h"
#include "client/progress.h"
#include "google/protobuf/util/time_util.h"

namespace actlab {
namespace {

// A Fit may run for a long time by design; --timeout still wins when given.
constexpr std::chrono::milliseconds kFitTimeout = std::chrono::hours(1);
// Plain progress lines (stderr not a terminal) at most this often, so logs
// stay short; the server's own messages come every 200 ms.
constexpr double kPlainProgressSeconds = 1.0;
constexpr int kBarWidth = 20;

v1::UnitRef MakeUnitRef(const ParsedArgs& args) {
  v1::UnitRef ref;
  ref.set_session_id(args.positional()[0]);
  ref.set_unit(args.positional()[1]);
  return ref;
}

// The optimizer's numeric flags and the fields they set.
struct OptimizerValueFlag {
  const char* flag;
  void (v1::OptimizerSettings::*set)(double);
};
constexpr OptimizerValueFlag kOptimizerValues[] = {
    {"lr", &v1::OptimizerSettings::set_learning_rate},
    {"momentum", &v1::OptimizerSettings::set_momentum},
    {"beta1", &v1::OptimizerSettings::set_beta1},
    {"beta2", &v1::OptimizerSettings::set_beta2},
    {"eps", &v1::OptimizerSettings::set_epsilon},
    {"weight-decay", &v1::OptimizerSettings::set_weight_decay},
};

// Flags shared by train and fit: optimizer settings and trainable groups.
std::vector<FlagSpec> OptimizerFlags() {
  return {
      {"optimizer", "sgd|adam",
       "optimizer kind (switching kind resets its state)"},
      {"lr", "F", "learning rate"},
      {"momentum", "F", "sgd momentum"},
      {"beta1", "F", "adam beta1"},
      {"beta2", "F", "adam beta2"},
      {"eps", "F", "adam epsilon"},
      {"weight-decay", "F", "L2 weight decay"},
      {"train", "GROUP,...",
       "parameter groups to train (values, slopes, boundaries); the others "
       "are frozen (default: the unit's choice)"},
  };
}

// Fills `settings` from the optimizer flags; false when none was given, so
// the request can leave the unit's optimizer alone.
absl::StatusOr<bool> ParseOptimizer(const ParsedArgs& args,
                                    v1::OptimizerSettings* settings) {
  bool given = false;
  if (args.Has("optimizer")) {
    const std::string kind = args.Get("optimizer");
    if (kind == "sgd") {
      settings->set_kind(v1::OptimizerSettings::SGD);
    } else if (kind == "adam") {
      settings->set_kind(v1::OptimizerSettings::ADAM);
    } else {
      return UsageError(
          absl::StrCat("--optimizer: '", kind, "' is not sgd or adam"));
    }
    given = true;
  }
  for (const OptimizerValueFlag& value : kOptimizerValues) {
    if (!args.Has(value.flag)) continue;
    absl::StatusOr<double> v = args.GetDouble(value.flag, 0);
    if (!v.ok()) return v.status();
    (settings->*value.set)(*v);
    given = true;
  }
  // Settings of the other kind would be ignored silently by the server.
  const bool sgd = settings->kind() == v1::OptimizerSettings::SGD;
  const bool adam = settings->kind() == v1::OptimizerSettings::ADAM;
  if (adam && args.Has("momentum")) {
    return UsageError("--momentum is for sgd; adam takes --beta1");
  }
  for (const char* flag : {"beta1", "beta2", "eps"}) {
    if (sgd && args.Has(flag)) {
      return UsageError(absl::StrCat("--", flag, " is for adam, not sgd"));
    }
  }
  return given;
}

absl::Status ParseTrainable(const std::string& text,
                            v1::TrainableParameters* trainable) {
  trainable->set_values(false);
  trainable->set_slopes(false);
  trainable->set_boundaries(false);
  for (absl::string_view group : absl::StrSplit(text, ',')) {
    if (group == "values") {
      trainable->set_values(true);
    } else if (group == "slopes") {
      trainable->set_slopes(true);
    } else if (group == "boundaries") {
      trainable->set_boundaries(true);
    } else {
      return UsageError(absl::StrCat("--train: '", group,
                                     "' is not values, slopes or boundaries"));
    }
  }
  return absl::OkStatus();
}

// The optimizer and trainable fields both commands set the same way.
template <typename Request>
absl::Status SetTrainingOptions(const ParsedArgs& args, Request* request) {
  v1::OptimizerSettings optimizer;
  absl::StatusOr<bool> given = ParseOptimizer(args, &optimizer);
  if (!given.ok()) return given.status();
  if (*given) *request->mutable_optimizer() = optimizer;
  if (!args.Has("train")) return absl::OkStatus();
  return ParseTrainable(args.Get("train"), request->mutable_trainable());
}

// "MIN:MAX", split at the first colon after the first character so a
// negative minimum ("-3:3") parses.
absl::StatusOr<v1::Range> ParseRange(const std::string& text) {
  const size_t colon = text.find(':', 1);
  if (colon == std::string::npos) {
    return UsageError(absl::StrCat("--range '", text, "' is not MIN:MAX"));
  }
  absl::StatusOr<double> lo = ParseDouble(text.substr(0, colon), "--range");
  if (!lo.ok()) return lo.status();
  absl::StatusOr<double> hi = ParseDouble(text.substr(colon + 1), "--range");
  if (!hi.ok()) return hi.status();
  if (!(*lo < *hi)) {
    return UsageError(absl::StrCat("--range '", text, "': MIN must be < MAX"));
  }
  v1::Range range;
  range.set_min(*lo);
  range.set_max(*hi);
  return range;
}

// A positive integer flag that must fit `Int`.
template <typename Int>
absl::StatusOr<Int> GetPositive(const ParsedArgs& args, const char* flag) {
  absl::StatusOr<int64_t> v = args.GetInt(flag, 0);
  if (!v.ok()) return v.status();
  if (*v < 1 || *v > std::numeric_limits<Int>::max()) {
    return UsageError(absl::StrCat("--", flag, " must be a positive integer"));
  }
  return static_cast<Int>(*v);
}

absl::Status RunTrain(CommandContext& ctx, const ParsedArgs& args) {
  v1::TrainStepRequest request;
  *request.mutable_unit() = MakeUnitRef(args);
  // Flags before files, so a mistyped flag is reported before large files
  // are read.
  if (absl::Status s = SetTrainingOptions(args, &request); !s.ok()) return s;
  absl::StatusOr<v1::Tensor> x = ReadTensor(args.Get("x"));
  if (!x.ok()) return x.status();
  *request.mutable_input() = *std::move(x);
  absl::StatusOr<v1::Tensor> grad = ReadTensor(args.Get("grad-output"));
  if (!grad.ok()) return grad.status();
  *request.mutable_grad_output() = *std::move(grad);
  if (args.Has("loss")) {
    absl::StatusOr<double> loss = args.GetDouble("loss", 0);
    if (!loss.ok()) return loss.status();
    request.set_loss(*loss);
  }

  v1::TrainStepResponse response;
  absl::Status status =
      ctx.connection.Call(ctx.connection.actlab(), &v1::Actlab::Stub::TrainStep,
                          request, &response);
  if (!status.ok()) return status;
  if (args.Has("grad-input-out")) {
    status = WriteTensor(response.grad_input(), "grad_input",
                         args.Get("grad-input-out"));
    if (!status.ok()) return status;
  }
  // "key: value" lines, stable for scripts.
  const v1::GradientNorms& norms = response.grad_norms();
  ctx.out << "training_steps: " << response.training_steps() << "\n"
          << "run_id: " << response.run_id() << "\n"
          << absl::StrFormat(
                 "grad_norm.values: %.6g\ngrad_norm.slopes: %.6g\n"
                 "grad_norm.boundaries: %.6g\ngrad_norm.total: %.6g\n",
                 norms.values(), norms.slopes(), norms.boundaries(),
                 norms.total())
          << "kernel: " << FormatNanos(response.kernel_ns()) << "\n";
  return absl::OkStatus();
}

absl::Status BuildFitRequest(const ParsedArgs& args, v1::FitRequest* request) {
  *request->mutable_unit() = MakeUnitRef(args);
  const bool samples = args.Has("samples-x") || args.Has("samples-y");
  if (args.Has("target") == samples) {
    return UsageError("give either --target or --samples-x with --samples-y");
  }
  if (samples) {
    if (!args.Has("samples-x") || !args.Has("samples-y")) {
      return UsageError("--samples-x and --samples-y go together");
    }
    if (args.Has("range") || args.Has("observed")) {
      return UsageError(
          "--range and --observed draw x for a --target; samples bring "
          "their own");
    }
  } else {
    absl::StatusOr<NamedSpec> spec = ParseNamedSpec(args.Get("target"));
    if (!spec.ok()) return Annotate(spec.status(), "--target");
    v1::ActivationTarget* target = request->mutable_activation();
    target->set_name(spec->name);
    for (const auto& [key, text] : spec->options) {
      absl::StatusOr<double> value =
          ParseDouble(text, absl::StrCat("--target ", key));
      if (!value.ok()) return value.status();
      (*target->mutable_params())[key] = *value;
    }
    if (args.Has("range") && args.Has("observed")) {
      return UsageError("--range and --observed are exclusive");
    }
    if (args.Has("range")) {
      absl::StatusOr<v1::Range> range = ParseRange(args.Get("range"));
      if (!range.ok()) return range.status();
      *request->mutable_range() = *range;
    }
    if (args.Has("observed")) request->set_observed_distribution(true);
  }
  if (args.Has("steps")) {
    absl::StatusOr<int64_t> steps = GetPositive<int64_t>(args, "steps");
    if (!steps.ok()) return steps.status();
    request->set_steps(*steps);
  }
  if (args.Has("batch")) {
    absl::StatusOr<int32_t> batch = GetPositive<int32_t>(args, "batch");
    if (!batch.ok()) return batch.status();
    request->set_batch_size(*batch);
  }
  if (args.Has("seed")) {
    absl::StatusOr<int64_t> seed = args.GetInt("seed", 0);
    if (!seed.ok()) return seed.status();
    if (*seed < 0) return UsageError("--seed must be >= 0");
    request->set_seed(static_cast<uint64_t>(*seed));
  }
  if (absl::Status s = SetTrainingOptions(args, request); !s.ok()) return s;
  // Files last, so a mistyped flag is reported before large files are read.
  if (!samples) return absl::OkStatus();
  absl::StatusOr<v1::Tensor> x = ReadTensor(args.Get("samples-x"));
  if (!x.ok()) return x.status();
  absl::StatusOr<v1::Tensor> y = ReadTensor(args.Get("samples-y"));
  if (!y.ok()) return y.status();
  *request->mutable_samples()->mutable_x() = *std::move(x);
  *request->mutable_samples()->mutable_y() = *std::move(y);
  return absl::OkStatus();
}

// Turns SIGINT into the cancellation of one call. The handler only sets a
// lock-free flag, the one thing it may do safely, and the kernel resets the
// action to the default on delivery (SA_RESETHAND) so a second Ctrl-C still
// kills the process if cancelling hangs. A watcher thread turns the flag
// into TryCancel(), which is thread-safe, so a Read() blocked on a silent
// server is cut short too.
class SigintCanceller {
 public:
  explicit SigintCanceller(grpc::ClientContext* context) {
    interrupted_.store(false);
    struct sigaction action = {};
    action.sa_handler = [](int) { interrupted_.store(true); };
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, &previous_);
    watcher_ = std::thread([this, context] { Watch(context); });
  }

  // Stops watching and restores the handler that was there before.
  ~SigintCanceller() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    wake_.notify_one();
    watcher_.join();
    sigaction(SIGINT, &previous_, nullptr);
  }

  SigintCanceller(const SigintCanceller&) = delete;
  SigintCanceller& operator=(const SigintCanceller&) = delete;

  bool interrupted() const { return interrupted_.load(); }

 private:
  static_assert(std::atomic<bool>::is_always_lock_free,
                "the SIGINT handler may only touch a lock-free atomic");
  // How long a Ctrl-C waits, at most, to become a cancellation.
  static constexpr auto kPollInterval = std::chrono::milliseconds(20);

  void Watch(grpc::ClientContext* context) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      if (interrupted_.load()) {
        context->TryCancel();
        return;
      }
      wake_.wait_for(lock, kPollInterval);
    }
  }

  static inline std::atomic<bool> interrupted_{false};
  struct sigaction previous_ = {};
  std::mutex mu_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread watcher_;
};

// Fit progress on stderr: on a terminal a bar redrawn in place, otherwise a
// plain line at most every kPlainProgressSeconds.
class FitProgressView {
 public:
  FitProgressView(std::ostream& err, bool terminal)
      : err_(err), terminal_(terminal) {}

  void Update(const v1::FitProgress& progress) {
    last_step_ = progress.step();
    if (!terminal_) {
      if (progress.elapsed_seconds() - last_line_seconds_ <
          kPlainProgressSeconds) {
        return;
      }
      last_line_seconds_ = progress.elapsed_seconds();
      err_ << absl::StrFormat("step %d/%d loss %.2g\n", progress.step(),
                              progress.steps(), progress.loss())
           << std::flush;
      return;
    }
    std::string line =
        absl::StrCat(ProgressBar(progress.step(), progress.steps(), kBarWidth),
                     absl::StrFormat(" step %d/%d  loss %.2g", progress.step(),
                                     progress.steps(), progress.loss()));
    if (progress.elapsed_seconds() > 0 && progress.step() > 0) {
      const double rate = progress.step() / progress.elapsed_seconds();
      absl::StrAppend(
          &line,
          absl::StrFormat(rate >= 10 ? "  %.0f steps/s" : "  %.2g steps/s",
                          rate),
          "  ETA ", FormatEta((progress.steps() - progress.step()) / rate));
    }
    RedrawLine(err_, line);
    bar_drawn_ = true;
  }

  // Ends the bar's line so whatever follows starts on its own.
  void Finish() {
    if (bar_drawn_) err_ << "\n";
    bar_drawn_ = false;
  }

  int64_t last_step() const { return last_step_; }

 private:
  std::ostream& err_;
  const bool terminal_;
  bool bar_drawn_ = false;
  double last_line_seconds_ = -std::numeric_limits<double>::infinity();
  int64_t last_step_ = 0;
};

void PrintFitSummary(const v1::FitSummary& summary, std::ostream& out) {
  // "key: value" lines named like the proto fields, stable for scripts.
  out << "run_id: " << summary.run_id() << "\n"
      << "steps_completed: " << summary.steps_completed() << "\n"
      << absl::StrFormat(
             "final_loss: %.6g\nmax_abs_error: %.6g\nrms_error: %.6g\n"
             "fitted_range: [%.6g, %.6g]\nelapsed_seconds: %.3f\n",
             summary.final_loss(), summary.max_abs_error(), summary.rms_error(),
             summary.fitted_range().min(), summary.fitted_range().max(),
             summary.elapsed_seconds());
}

absl::Status RunFit(CommandContext& ctx, const ParsedArgs& args) {
  v1::FitRequest request;
  if (absl::Status s = BuildFitRequest(args, &request); !s.ok()) return s;

  grpc::ClientContext context;
  ctx.connection.SetLongCallDeadline(&context, kFitTimeout);
  // Progress goes to stderr, so stderr's terminal decides its form: results
  // on stdout may be redirected while the user still watches the bar.
  FitProgressView progress(ctx.err, isatty(STDERR_FILENO) == 1);
  std::optional<v1::FitSummary> summary;
  grpc::Status status;
  bool interrupted = false;
  {
    SigintCanceller canceller(&context);
    std::unique_ptr<grpc::ClientReader<v1::FitResponse>> reader =
        ctx.connection.actlab().Fit(&context, request);
    v1::FitResponse response;
    while (reader->Read(&response)) {
      if (response.has_progress()) progress.Update(response.progress());
      if (response.has_summary()) summary = response.summary();
    }
    status = reader->Finish();
    interrupted = canceller.interrupted();
  }
  progress.Finish();
  if (interrupted && status.error_code() == grpc::StatusCode::CANCELLED) {
    const int64_t step =
        summary ? summary->steps_completed() : progress.last_step();
    return InterruptedError(
        absl::StrCat("cancelled at step ", step,
                     "; the unit keeps its last completed step"));
  }
  if (!status.ok()) return ctx.connection.ToStatus(status);
  if (!summary) {
    return absl::InternalError("the server ended the fit without a summary");
  }
  PrintFitSummary(*summary, ctx.out);
  return absl::OkStatus();
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  return time.seconds() == 0 && time.nanos() == 0
             ? "-"
             : google::protobuf::util::TimeUtil::ToString(time);
}

absl::Status RunRuns(CommandContext& ctx, const ParsedArgs& args) {
  v1::ListRunsRequest request;
  request.set_session_id(args.positional()[0]);
  if (args.positional().size() > 1) request.set_unit(args.positional()[1]);
  v1::ListRunsResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::ListRuns, request, &response);
  if (!status.ok()) return status;
  if (args.Has("json")) {
    ctx.out << ToJson(response);
    return absl::OkStatus();
  }
  Table table(
      {"RUN", "UNIT", "KIND", "STATE", "STEPS", "FINAL LOSS", "STARTED"});
  for (const v1::Run& run : response.runs()) {
    table.AddRow({run.id(), run.unit(), v1::Run::Kind_Name(run.kind()),
                  v1::Run::State_Name(run.state()), absl::StrCat(run.steps()),
                  run.has_summary()
                      ? absl::StrFormat("%.3g", run.summary().final_loss())
                      : "-",
                  FormatTime(run.start_time())});
  }
  table.Print(ctx.out);
  return absl::OkStatus();
}

std::string DescribeOptimizer(const v1::OptimizerSettings& o) {
  std::vector<std::string> parts = {
      o.kind() == v1::OptimizerSettings::KIND_UNSPECIFIED
          ? "unit's choice"
          : v1::OptimizerSettings::Kind_Name(o.kind())};
  auto add = [&](bool has, absl::string_view name, double value) {
    if (has) parts.push_back(absl::StrFormat("%s %.6g", name, value));
  };
  add(o.has_learning_rate(), "lr", o.learning_rate());
  add(o.has_momentum(), "momentum", o.momentum());
  add(o.has_beta1(), "beta1", o.beta1());
  add(o.has_beta2(), "beta2", o.beta2());
  add(o.has_epsilon(), "eps", o.epsilon());
  add(o.has_weight_decay(), "weight_decay", o.weight_decay());
  return absl::StrJoin(parts, " ");
}

std::string DescribeTrainable(const v1::TrainableParameters& t) {
  auto flag = [](bool has, bool value) {
    return has ? (value ? "on" : "off") : "unit's choice";
  };
  return absl::StrCat("values ", flag(t.has_values(), t.values()), ", slopes ",
                      flag(t.has_slopes(), t.slopes()), ", boundaries ",
                      flag(t.has_boundaries(), t.boundaries()));
}

std::string DescribeFit(const v1::FitRequest& fit) {
  std::string text;
  if (fit.has_activation()) {
    std::vector<std::string> params;
    for (const auto& [key, value] : fit.activation().params()) {
      params.push_back(absl::StrFormat("%s=%.6g", key, value));
    }
    std::sort(params.begin(), params.end());  // map order is unspecified
    absl::StrAppend(&text, "target ", fit.activation().name(),
                    params.empty() ? "" : ":", absl::StrJoin(params, ","));
  } else {
    absl::StrAppend(&text, "target samples");
  }
  if (fit.has_range()) {
    absl::StrAppend(
        &text, absl::StrFormat(", x uniform on [%.6g, %.6g]", fit.range().min(),
                               fit.range().max()));
  } else if (fit.observed_distribution()) {
    absl::StrAppend(&text, ", x from the observed distribution");
  }
  absl::StrAppend(&text, ", steps ", fit.steps(), ", batch ", fit.batch_size(),
                  ", seed ", fit.seed());
  return text;
}

absl::Status RunRunShow(CommandContext& ctx, const ParsedArgs& args) {
  v1::GetRunRequest request;
  request.set_session_id(args.positional()[0]);
  request.set_run_id(args.positional()[1]);
  v1::GetRunResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::GetRun, request, &response);
  if (!status.ok()) return status;
  if (args.Has("json")) {
    ctx.out << ToJson(response);
    return absl::OkStatus();
  }
  const v1::Run& run = response.run();
  ctx.out << "run " << run.id() << " of unit " << run.unit() << ": "
          << v1::Run::Kind_Name(run.kind()) << ", "
          << v1::Run::State_Name(run.state()) << ", " << run.steps()
          << " steps\n"
          << "started " << FormatTime(run.start_time()) << ", ended "
          << FormatTime(run.end_time()) << "\n"
          << "optimizer: " << DescribeOptimizer(run.optimizer()) << "\n"
          << "trainable: " << DescribeTrainable(run.trainable()) << "\n";
  if (run.kind() == v1::Run::FIT) {
    ctx.out << "fit: " << DescribeFit(run.fit()) << "\n";
  }
  if (run.has_summary()) PrintFitSummary(run.summary(), ctx.out);
  if (!run.message().empty()) ctx.out << "message: " << run.message() << "\n";
  if (run.history().empty()) return absl::OkStatus();
  Table history({"STEP", "LOSS", "ELAPSED"});
  for (const v1::Run::Point& point : run.history()) {
    history.AddRow({absl::StrCat(point.step()),
                    absl::StrFormat("%.6g", point.loss()),
                    absl::StrFormat("%.3f s", point.elapsed_seconds())});
  }
  ctx.out << "\n";
  history.Print(ctx.out);
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> TrainCommands() {
  std::vector<FlagSpec> train_flags = {
      {"x", "X.npy", "the unit's input", /*repeated=*/false,
       /*required=*/true},
      {"grad-output", "GY.npy", "dL/dy, the shape of X", /*repeated=*/false,
       /*required=*/true},
      {"grad-input-out", "GX.npy", "where to write dL/dx"},
      {"loss", "F", "your loss at this step, recorded in the run history"},
  };
  const std::vector<FlagSpec> optimizer = OptimizerFlags();
  train_flags.insert(train_flags.end(), optimizer.begin(), optimizer.end());

  std::vector<FlagSpec> fit_flags = {
      {"target", "NAME[:k=v,...]",
       "activation to fit, e.g. gelu or elu:alpha=0.5"},
      {"range", "MIN:MAX", "draw x uniformly from [MIN, MAX]"},
      {"observed", "",
       "draw x from the unit's observed input distribution (default: "
       "uniform over its boundaries)"},
      {"samples-x", "X.npy", "fit samples instead: x, [S] or [S, C]"},
      {"samples-y", "Y.npy", "the targets at samples-x, its shape"},
      {"steps", "N", "optimizer steps (default 1000)"},
      {"batch", "N", "x values per step (default 256)"},
      {"seed", "N", "runs with the same seed and settings are identical"},
  };
  fit_flags.insert(fit_flags.end(), optimizer.begin(), optimizer.end());

  return {
      {"train", "SESSION UNIT",
       "One phase II step: backpropagate GY through the unit at X and update "
       "its parameters; prints the step count, gradient norms and run id.",
       train_flags, 2, 2, RunTrain},
      {"fit", "SESSION UNIT",
       "Train the unit on the server to match an activation or samples; "
       "shows progress on stderr and prints the summary (Ctrl-C cancels, "
       "keeping the last completed step; exit 130).",
       fit_flags, 2, 2, RunFit},
      {"runs",
       "SESSION [UNIT]",
       "List the training runs of a session or of one unit.",
       {{"json", "", "print the ListRuns reply as JSON"}},
       1,
       2,
       RunRuns},
      {"run show",
       "SESSION RUN_ID",
       "Show a run's settings, summary and loss history.",
       {{"json", "", "print the GetRun reply as JSON"}},
       2,
       2,
       RunRunShow},
  };
}

}  // namespace actlab
