// Copyright actlab authors.
//
// `actlab eval`: one Evaluate call from .npy files to .npy files, or one
// EvaluateStream call when the input exceeds --chunk_mb.

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/chunked_call.h"
#include "client/commands.h"
#include "client/io.h"
#include "client/npy.h"
#include "server/tensor_codec.h"

namespace actlab {
namespace {

// Flags that write a backward result need the backward pass to run.
constexpr const char* kBackwardOutputs[] = {"grad-input-out", "grad-slope-out",
                                            "grad-pwlu-out"};

// Everything of the request but its input and grad_output tensors.
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

  if (args.Has("grad-output")) {
    if (!args.Has("grad-input-out")) {
      return UsageError("--grad-output needs --grad-input-out");
    }
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

// Writes the parameter gradients the flags ask for from an
// EvaluateResponse or the last EvaluateStreamResponse, listing each file.
template <typename Response>
absl::Status WriteParameterGradients(const ParsedArgs& args,
                                     const Response& response,
                                     std::string* written) {
  if (args.Has("grad-slope-out")) {
    const std::string path = args.Get("grad-slope-out");
    absl::Status status =
        WriteTensor(response.grad_prelu_slope(), "grad_prelu_slope", path);
    if (!status.ok()) return status;
    absl::StrAppend(written, ", ", path);
  }
  if (args.Has("grad-pwlu-out")) {
    const std::string path = args.Get("grad-pwlu-out");
    absl::Status status = WriteFile(path, ToJson(response.grad_pwlu()));
    if (!status.ok()) return status;
    absl::StrAppend(written, ", ", path);
  }
  return absl::OkStatus();
}

// The channel axis chunks must keep whole rows of, or nullopt for an
// element-wise activation. A session unit's granularity and axis come from
// the server.
absl::StatusOr<std::optional<int>> ChunkAxis(CommandContext& ctx,
                                             const v1::EvaluateRequest& request,
                                             int rank) {
  bool channel_wise =
      request.activation() == "prelu" ||
      (request.has_pwlu() && request.pwlu().granularity() == v1::CHANNEL);
  std::optional<int> axis;
  if (request.has_channel_axis()) axis = request.channel_axis();
  if (request.has_unit()) {
    absl::StatusOr<v1::Unit> unit = FetchUnit(ctx, request.unit());
    if (!unit.ok()) return unit.status();
    const v1::UnitConfig& config = unit->config();
    channel_wise = config.granularity() == v1::CHANNEL;
    if (!axis.has_value() && config.has_channel_axis()) {
      axis = config.channel_axis();
    }
  }
  if (!channel_wise) return std::nullopt;
  return axis.value_or(DefaultChannelAxis(rank));
}

// One EvaluateStream call: the inputs are read and the outputs written a
// chunk at a time. Returns the last reply.
absl::StatusOr<v1::EvaluateStreamResponse> StreamEval(
    CommandContext& ctx, const ParsedArgs& args, int64_t chunk_bytes,
    NpyReader& input, v1::EvaluateRequest* header) {
  const std::vector<int64_t> shape = input.shape();
  std::optional<NpyReader> grad;
  std::optional<NpyWriter> grad_out;
  if (args.Has("grad-output")) {
    absl::StatusOr<NpyReader> opened = NpyReader::Open(args.Get("grad-output"));
    if (!opened.ok()) return opened.status();
    grad = *std::move(opened);
    header->mutable_grad_output()->set_dtype(v1::FLOAT32);
    header->mutable_grad_output()->mutable_shape()->Assign(
        grad->shape().begin(), grad->shape().end());
    absl::StatusOr<NpyWriter> writer =
        NpyWriter::Open(args.Get("grad-input-out"), shape);
    if (!writer.ok()) return writer.status();
    grad_out = *std::move(writer);
  }
  header->mutable_input()->set_dtype(v1::FLOAT32);
  header->mutable_input()->mutable_shape()->Assign(shape.begin(), shape.end());
  absl::StatusOr<std::optional<int>> axis =
      ChunkAxis(ctx, *header, static_cast<int>(shape.size()));
  if (!axis.ok()) return axis.status();
  absl::StatusOr<NpyWriter> out = NpyWriter::Open(args.Get("out"), shape);
  if (!out.ok()) return out.status();

  auto fill = [&](int64_t n, v1::TensorChunk* chunk) -> absl::Status {
    std::string* x = chunk->mutable_input();
    x->resize(static_cast<size_t>(n) * sizeof(float));
    absl::Status status = input.Read(n, reinterpret_cast<float*>(x->data()));
    if (!status.ok() || !grad.has_value()) return status;
    std::string* dy = chunk->mutable_grad_output();
    dy->resize(x->size());
    // A grad_output shorter than input fails here; the server checks shapes.
    return grad->Read(n, reinterpret_cast<float*>(dy->data()));
  };
  auto append = [](NpyWriter& writer, const std::string& bytes, int64_t n) {
    if (bytes.size() != static_cast<size_t>(n) * sizeof(float)) {
      return absl::InternalError(absl::StrCat("the server replied with ",
                                              bytes.size(), " bytes for ", n,
                                              " elements"));
    }
    return writer.Append(absl::MakeConstSpan(
        reinterpret_cast<const float*>(bytes.data()), static_cast<size_t>(n)));
  };
  auto take = [&](int64_t n, const v1::EvaluateStreamResponse& reply) {
    absl::Status status = append(*out, reply.output(), n);
    if (!status.ok() || !grad_out.has_value()) return status;
    return append(*grad_out, reply.grad_input(), n);
  };
  v1::Actlab::Stub& stub = ctx.connection.actlab();
  absl::StatusOr<v1::EvaluateStreamResponse> last =
      RunChunkedCall<v1::EvaluateStreamRequest, v1::EvaluateStreamResponse>(
          ctx.connection,
          [&stub](grpc::ClientContext* c) { return stub.EvaluateStream(c); },
          *header, input.elements(),
          ChunkElements(shape, *axis, chunk_bytes, grad.has_value() ? 2 : 1),
          fill, take);
  if (!last.ok()) return last.status();
  if (absl::Status status = out->Close(); !status.ok()) return status;
  if (grad_out.has_value()) {
    if (absl::Status status = grad_out->Close(); !status.ok()) return status;
  }
  return last;
}

absl::Status RunEval(CommandContext& ctx, const ParsedArgs& args) {
  v1::EvaluateRequest request;
  if (absl::Status s = BuildRequest(args, &request); !s.ok()) return s;
  absl::StatusOr<int64_t> chunk_bytes = ChunkBytes(args);
  if (!chunk_bytes.ok()) return chunk_bytes.status();
  absl::StatusOr<NpyReader> input = NpyReader::Open(args.Get("in"));
  if (!input.ok()) return input.status();

  const std::string out = args.Get("out");
  std::string written = out;
  if (args.Has("grad-input-out")) {
    absl::StrAppend(&written, ", ", args.Get("grad-input-out"));
  }
  int64_t kernel_ns = 0;
  int64_t handling_ns = 0;
  if (input->elements() * static_cast<int64_t>(sizeof(float)) > *chunk_bytes) {
    absl::StatusOr<v1::EvaluateStreamResponse> last =
        StreamEval(ctx, args, *chunk_bytes, *input, &request);
    if (!last.ok()) return last.status();
    absl::Status status = WriteParameterGradients(args, *last, &written);
    if (!status.ok()) return status;
    kernel_ns = last->kernel_ns();
    handling_ns = last->handling_ns();
  } else {
    float* x = PrepareTensor(input->shape(), request.mutable_input());
    absl::Status status = input->Read(input->elements(), x);
    if (!status.ok()) return status;
    if (args.Has("grad-output")) {
      absl::StatusOr<v1::Tensor> grad = ReadTensor(args.Get("grad-output"));
      if (!grad.ok()) return grad.status();
      *request.mutable_grad_output() = *std::move(grad);
    }
    v1::EvaluateResponse response;
    status =
        ctx.connection.Call(ctx.connection.actlab(),
                            &v1::Actlab::Stub::Evaluate, request, &response);
    if (!status.ok()) return status;
    if (status = WriteTensor(response.output(), "output", out); !status.ok()) {
      return status;
    }
    if (args.Has("grad-input-out")) {
      status = WriteTensor(response.grad_input(), "grad_input",
                           args.Get("grad-input-out"));
      if (!status.ok()) return status;
    }
    status = WriteParameterGradients(args, response, &written);
    if (!status.ok()) return status;
    kernel_ns = response.kernel_ns();
    handling_ns = response.handling_ns();
  }
  ctx.out << request.activation() << " " << ShapeString(input->shape())
          << " -> " << written << " (kernel " << FormatNanos(kernel_ns)
          << ", handling " << FormatNanos(handling_ns) << ")\n";
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
           {"chunk_mb", "MB",
            "stream tensors larger than this in chunks of at most this "
            "size (EvaluateStream; default 32)"},
       },
       0,
       0,
       RunEval},
  };
}

}  // namespace actlab
