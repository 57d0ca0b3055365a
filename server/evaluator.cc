// Copyright actlab authors.

#include "server/evaluator.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/pwlu_codec.h"
#include "server/tensor_codec.h"

namespace actlab {
namespace {

constexpr char kPwluName[] = "pwlu";

// Input and optional upstream gradient of a request, validated together.
struct Operands {
  TensorView input;
  std::optional<TensorView> grad_output;
};

absl::StatusOr<Operands> DecodeOperands(const v1::EvaluateRequest& request,
                                        int64_t max_elements) {
  if (!request.has_input()) {
    return absl::InvalidArgumentError("input: must be set");
  }
  Operands operands;
  auto input = DecodeTensor(request.input(), "input", max_elements);
  if (!input.ok()) return input.status();
  operands.input = *std::move(input);
  if (request.has_grad_output()) {
    auto grad =
        DecodeTensor(request.grad_output(), "grad_output", max_elements);
    if (!grad.ok()) return grad.status();
    if (grad->shape != operands.input.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "grad_output.shape ", ShapeString(grad->shape),
          " must equal input.shape ", ShapeString(operands.input.shape)));
    }
    operands.grad_output = *std::move(grad);
  }
  return operands;
}

absl::StatusOr<ChannelLayout> RequestLayout(const v1::EvaluateRequest& request,
                                            const TensorView& input,
                                            std::optional<int> fallback_axis) {
  const int rank = static_cast<int>(input.shape.size());
  int axis = DefaultChannelAxis(rank);
  if (request.has_channel_axis()) {
    axis = request.channel_axis();
  } else if (fallback_axis.has_value()) {
    axis = *fallback_axis;
  }
  return MakeChannelLayout(input.shape, axis);
}

// Times one kernel call into *ns (added, so forward + backward both count).
template <typename Fn>
absl::Status Timed(int64_t* ns, Fn&& fn) {
  const absl::Time start = absl::Now();
  absl::Status status = fn();
  *ns += absl::ToInt64Nanoseconds(absl::Now() - start);
  return status;
}

float* MutableFloats(v1::Tensor* tensor) {
  return reinterpret_cast<float*>(tensor->mutable_data()->data());
}

// Computes in the request's own payload buffers and moves them into the
// reply: dx overwrites dy, then y overwrites x, so a call allocates and
// copies no tensor. Backward runs first because it still needs x. The
// kernels' contracts allow both aliasings.
template <typename Forward, typename Backward>
absl::Status ComputeInPlace(v1::EvaluateRequest* request,
                            v1::EvaluateResponse* response, Forward forward,
                            Backward backward) {
  int64_t kernel_ns = 0;
  float* x = MutableFloats(request->mutable_input());
  if (request->has_grad_output()) {
    float* dy = MutableFloats(request->mutable_grad_output());
    absl::Status status =
        Timed(&kernel_ns, [&] { return backward(x, dy, dy); });
    if (!status.ok()) return status;
    response->mutable_grad_input()->Swap(request->mutable_grad_output());
  }
  absl::Status status = Timed(&kernel_ns, [&] { return forward(x, x); });
  if (!status.ok()) return status;
  response->mutable_output()->Swap(request->mutable_input());
  response->set_kernel_ns(kernel_ns);
  return absl::OkStatus();
}

}  // namespace

Evaluator::Evaluator(BaselineEngine* baselines, SessionManager* sessions,
                     int64_t max_elements)
    : baselines_(baselines), sessions_(sessions), max_elements_(max_elements) {}

void Evaluator::ListActivations(v1::ListActivationsResponse* response) const {
  for (const BaselineInfo& info : BaselineActivations()) {
    v1::ActivationInfo* out = response->add_activations();
    out->set_name(info.name);
    out->set_has_backward(info.has_backward);
    out->set_backend(info.backend);
    out->set_description(info.description);
    for (const std::string& alias : info.aliases) out->add_aliases(alias);
    for (const ActivationParam& param : info.params) {
      v1::ParameterInfo* p = out->add_parameters();
      p->set_name(param.name);
      p->set_default_value(param.default_value);
      p->set_min_value(param.min_value);
      p->set_max_value(param.max_value);
      p->set_description(param.description);
    }
  }
  v1::ActivationInfo* pwlu = response->add_activations();
  pwlu->set_name(kPwluName);
  pwlu->set_has_backward(true);
  pwlu->set_backend(absl::StrCat("actlab ", PwluKernelName(16)));
  pwlu->set_description(
      "Piecewise Linear Unit: N uniform intervals on [B_L, B_R] with values "
      "Y[0..N] and tail slopes K_L, K_R; layer- or channel-wise. Parameters "
      "travel in EvaluateRequest.pwlu or come from a session unit.");
}

absl::Status Evaluator::Evaluate(v1::EvaluateRequest* request_ptr,
                                 v1::EvaluateResponse* response) const {
  const v1::EvaluateRequest& request = *request_ptr;
  if (request.activation().empty()) {
    return absl::InvalidArgumentError(
        "activation: must be set; ListActivations names the choices");
  }
  if (request.activation() == kPwluName) {
    return EvaluatePwlu(request_ptr, response);
  }
  if (request.pwlu_source_case() != v1::EvaluateRequest::PWLU_SOURCE_NOT_SET) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pwlu/unit: only the pwlu activation takes PWLU parameters, not '",
        request.activation(), "'"));
  }
  if (request.activation() == "prelu") {
    return EvaluatePrelu(request_ptr, response);
  }
  if (request.has_prelu_slope()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prelu_slope: only prelu takes slopes, not '",
                     request.activation(), "'"));
  }
  return EvaluateBaseline(request_ptr, response);
}

absl::Status Evaluator::EvaluatePwlu(v1::EvaluateRequest* request_ptr,
                                     v1::EvaluateResponse* response) const {
  const v1::EvaluateRequest& request = *request_ptr;
  if (!request.params().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params: pwlu takes no scalar parameters (got '",
                     request.params().begin()->first,
                     "'); its parameters travel in pwlu or come from unit"));
  }
  SessionUnitParams unit;
  switch (request.pwlu_source_case()) {
    case v1::EvaluateRequest::kPwlu: {
      auto params = DecodePwluParams(request.pwlu(), "pwlu");
      if (!params.ok()) return params.status();
      unit.params = *std::move(params);
      unit.granularity =
          request.pwlu().granularity() == v1::CHANNEL ? v1::CHANNEL : v1::LAYER;
      break;
    }
    case v1::EvaluateRequest::kUnit: {
      auto found = sessions_->GetUnitParameters(request.unit());
      if (!found.ok()) return found.status();
      unit = *std::move(found);
      break;
    }
    case v1::EvaluateRequest::PWLU_SOURCE_NOT_SET:
      return absl::InvalidArgumentError(
          "pwlu: pwlu needs its parameters: set pwlu (inline) or unit "
          "(a session unit)");
  }
  if (request.has_prelu_slope()) {
    return absl::InvalidArgumentError("prelu_slope: only prelu takes slopes");
  }

  auto operands = DecodeOperands(request, max_elements_);
  if (!operands.ok()) return operands.status();
  ChannelLayout layout = FlatLayout(operands->input.elements);
  if (unit.granularity == v1::CHANNEL) {
    auto channel_layout =
        RequestLayout(request, operands->input, unit.channel_axis);
    if (!channel_layout.ok()) return channel_layout.status();
    layout = *channel_layout;
    if (layout.channels != unit.params.units()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.shape ", ShapeString(operands->input.shape),
                       " has ", layout.channels,
                       " channels along the channel axis, but the "
                       "channel-wise PWLU has ",
                       unit.params.units(), " units"));
    }
  }

  PwluParams grad;
  absl::Status status = ComputeInPlace(
      request_ptr, response,
      [&](const float* x, float* y) {
        return PwluForward(unit.params, layout, x, y);
      },
      [&](const float* x, const float* dy, float* dx) {
        return PwluBackward(unit.params, layout, x, dy, dx, &grad);
      });
  if (status.ok() && request.has_grad_output()) {
    EncodePwluParams(grad, unit.granularity, response->mutable_grad_pwlu());
  }
  return status;
}

absl::Status Evaluator::EvaluatePrelu(v1::EvaluateRequest* request_ptr,
                                      v1::EvaluateResponse* response) const {
  const v1::EvaluateRequest& request = *request_ptr;
  if (!request.params().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params: prelu takes no scalar parameters (got '",
                     request.params().begin()->first,
                     "'); its slopes travel in "
                     "prelu_slope"));
  }
  auto operands = DecodeOperands(request, max_elements_);
  if (!operands.ok()) return operands.status();
  const TensorView& x = operands->input;
  auto layout = RequestLayout(request, x, std::nullopt);
  if (!layout.ok()) return layout.status();
  if (!request.has_prelu_slope()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prelu_slope: prelu needs one slope per channel (",
                     layout->channels, " here)"));
  }
  auto slope = DecodeTensor(request.prelu_slope(), "prelu_slope");
  if (!slope.ok()) return slope.status();
  if (slope->shape.size() != 1 || slope->elements != layout->channels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prelu_slope.shape ", ShapeString(slope->shape), " must be [",
        layout->channels, "]: one slope per channel of input.shape ",
        ShapeString(x.shape), " along the channel axis"));
  }

  const float* slopes = slope->data;
  float* dslope = nullptr;
  if (request.has_grad_output()) {
    dslope = PrepareTensor(slope->shape, response->mutable_grad_prelu_slope());
  }
  return ComputeInPlace(
      request_ptr, response,
      [&](const float* x, float* y) {
        return baselines_->PreluForward(*layout, x, slopes, y);
      },
      [&](const float* x, const float* dy, float* dx) {
        return baselines_->PreluBackward(*layout, x, slopes, dy, dx, dslope);
      });
}

absl::Status Evaluator::EvaluateBaseline(v1::EvaluateRequest* request_ptr,
                                         v1::EvaluateResponse* response) const {
  const v1::EvaluateRequest& request = *request_ptr;
  const std::map<std::string, double> params(request.params().begin(),
                                             request.params().end());
  auto act = baselines_->Resolve(request.activation(), params);
  if (!act.ok()) return act.status();
  auto operands = DecodeOperands(request, max_elements_);
  if (!operands.ok()) return operands.status();
  if (request.has_channel_axis()) {
    // Element-wise activations have no channels, but a wrong axis is still
    // a mistake worth reporting rather than ignoring.
    auto layout = RequestLayout(request, operands->input, std::nullopt);
    if (!layout.ok()) return layout.status();
  }
  if (operands->grad_output.has_value() && !act->info->has_backward) {
    return absl::InvalidArgumentError(
        absl::StrCat("grad_output: ", act->info->name, " has no backward"));
  }
  const std::vector<int64_t> shape = operands->input.shape;
  return ComputeInPlace(
      request_ptr, response,
      [&](const float* x, float* y) {
        return baselines_->Forward(*act, shape, x, y);
      },
      [&](const float* x, const float* dy, float* dx) {
        return baselines_->Backward(*act, shape, x, dy, dx);
      });
}

}  // namespace actlab
