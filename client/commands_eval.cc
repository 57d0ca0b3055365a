// Copyright actlab authors.
//
// `actlab eval`: one Evaluate call from .npy files to .npy files.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/io.h"
#include "server/tensor_codec.h"

namespace actlab {
namespace {

// Flags that write a backward result need the backward pass to run.
constexpr const char* kBackwardOutputs[] = {"grad-input-out", "grad-slope-out",
                                            "grad-pwlu-out"};

absl::Status BuildRequest(const ParsedArgs& args, v1::EvaluateRequest* req) {
  absl::StatusOr<NamedSpec> spec = ParseNamedSpec(args.Get("act"));
  if (!spec.ok()) return Annotate(spec.status(), "--act");
  req->set_activation(spec->name);
  for (const auto& [key, text] : spec->options) {
    absl::StatusOr<double> value =
        ParseDouble(text, absl::StrCat("--act ", key));
    if (!value.ok()) return value.status();
    (*req->mutable_params())[key] = *value;
  }

  absl::StatusOr<v1::Tensor> input = ReadTensor(args.Get("in"));
  if (!input.ok()) return input.status();
  *req->mutable_input() = *std::move(input);

  if (args.Has("grad-output")) {
    if (!args.Has("grad-input-out")) {
      return UsageError("--grad-output needs --grad-input-out");
    }
    absl::StatusOr<v1::Tensor> grad = ReadTensor(args.Get("grad-output"));
    if (!grad.ok()) return grad.status();
    *req->mutable_grad_output() = *std::move(grad);
  } else {
    for (const char* flag : kBackwardOutputs) {
      if (args.Has(flag)) {
        return UsageError(absl::StrCat("--", flag, " needs --grad-output"));
      }
    }
  }

  if (args.Has("channel-axis")) {
    absl::StatusOr<int64_t> axis = args.GetInt("channel-axis", 0);
    if (!axis.ok()) return axis.status();
    req->set_channel_axis(static_cast<int32_t>(*axis));
  }
  if (args.Has("prelu-slope")) {
    absl::StatusOr<v1::Tensor> slope = ReadTensor(args.Get("prelu-slope"));
    if (!slope.ok()) return slope.status();
    *req->mutable_prelu_slope() = *std::move(slope);
  }
  if (args.Has("pwlu") && args.Has("unit")) {
    return UsageError("--pwlu and --unit are exclusive");
  }
  if (args.Has("pwlu")) {
    absl::Status s = ReadJson(args.Get("pwlu"), req->mutable_pwlu());
    if (!s.ok()) return s;
  }
  if (args.Has("unit")) {
    const std::string unit = args.Get("unit");
    const size_t slash = unit.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == unit.size()) {
      return UsageError(
          absl::StrCat("--unit '", unit, "' is not SESSION/UNIT"));
    }
    req->mutable_unit()->set_session_id(unit.substr(0, slash));
    req->mutable_unit()->set_unit(unit.substr(slash + 1));
  }
  return absl::OkStatus();
}

absl::Status RunEval(CommandContext& ctx, const ParsedArgs& args) {
  v1::EvaluateRequest request;
  if (absl::Status s = BuildRequest(args, &request); !s.ok()) return s;
  v1::EvaluateResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::Evaluate, request, &response);
  if (!status.ok()) return status;

  const std::string out = args.Get("out");
  if (status = WriteTensor(response.output(), "output", out); !status.ok()) {
    return status;
  }
  std::string written = out;
  if (args.Has("grad-input-out")) {
    const std::string path = args.Get("grad-input-out");
    status = WriteTensor(response.grad_input(), "grad_input", path);
    if (!status.ok()) return status;
    absl::StrAppend(&written, ", ", path);
  }
  if (args.Has("grad-slope-out")) {
    const std::string path = args.Get("grad-slope-out");
    status = WriteTensor(response.grad_prelu_slope(), "grad_prelu_slope", path);
    if (!status.ok()) return status;
    absl::StrAppend(&written, ", ", path);
  }
  if (args.Has("grad-pwlu-out")) {
    const std::string path = args.Get("grad-pwlu-out");
    status = WriteFile(path, ToJson(response.grad_pwlu()));
    if (!status.ok()) return status;
    absl::StrAppend(&written, ", ", path);
  }
  ctx.out << request.activation() << " " << ShapeString(request.input().shape())
          << " -> " << written << " (kernel "
          << FormatNanos(response.kernel_ns()) << ", handling "
          << FormatNanos(response.handling_ns()) << ")\n";
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> EvalCommands() {
  return {
      {"eval",
       "",
       "Evaluate an activation on X.npy (and its backward pass with "
       "--grad-output).",
       {
           {"act", "NAME[:k=v,...]",
            "activation and its parameters, e.g. leaky_relu:alpha=0.2",
            /*repeated=*/false, /*required=*/true},
           {"in", "X.npy", "input, float32", /*repeated=*/false,
            /*required=*/true},
           {"out", "Y.npy", "where to write the output", /*repeated=*/false,
            /*required=*/true},
           {"grad-output", "GY.npy", "dL/dy; runs the backward pass too"},
           {"grad-input-out", "GX.npy", "where to write dL/dx"},
           {"channel-axis", "A",
            "channel axis for per-channel activations (default 1, or 0 for "
            "rank 1; negative counts from the end)"},
           {"prelu-slope", "S.npy", "prelu: one slope per channel"},
           {"grad-slope-out", "GS.npy", "prelu: where to write dL/dslope"},
           {"pwlu", "PARAMS.json",
            "pwlu: parameters as actlab.v1.PwluParameters JSON"},
           {"unit", "SESSION/UNIT", "pwlu: use a session's unit"},
           {"grad-pwlu-out", "G.json", "pwlu: where to write dL/dparameters"},
       },
       0,
       0,
       RunEval},
  };
}

}  // namespace actlab
