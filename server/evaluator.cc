// Copyright actlab authors.

#include "server/evaluator.h"

#include <algorithm>
#include <map>
#include <optional>
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

// Decodes a tensor of a request, or of a stream header.
absl::StatusOr<TensorView> DecodeOperand(const v1::Tensor& tensor,
                                         absl::string_view field,
                                         bool streamed) {
  return streamed ? DecodeHeaderTensor(tensor, field)
                  : DecodeTensor(tensor, field);
}

absl::StatusOr<ChannelLayout> RequestLayout(const v1::EvaluateRequest& request,
                                            absl::Span<const int64_t> shape,
                                            std::optional<int> fallback_axis) {
  const int rank = static_cast<int>(shape.size());
  int axis = DefaultChannelAxis(rank);
  if (request.has_channel_axis()) {
    axis = request.channel_axis();
  } else if (fallback_axis.has_value()) {
    axis = *fallback_axis;
  }
  return MakeChannelLayout(shape, axis);
}

// Times one kernel call into *ns (added, so forward + backward both count).
template <typename Fn>
absl::Status Timed(int64_t* ns, Fn&& fn) {
  const absl::Time start = absl::Now();
  absl::Status status = fn();
  *ns += absl::ToInt64Nanoseconds(absl::Now() - start);
  return status;
}

float* MutableFloats(std::string* bytes) {
  return reinterpret_cast<float*>(bytes->data());
}

// PwluParams' arrays, in the order EvaluatePlan sums their gradients.
constexpr std::vector<float> PwluParams::*kPwluArrays[] = {
    &PwluParams::left_bound, &PwluParams::right_bound, &PwluParams::values,
    &PwluParams::left_slope, &PwluParams::right_slope};

void AddTo(const std::vector<float>& chunk, std::vector<double>* sum) {
  for (size_t i = 0; i < chunk.size(); ++i) (*sum)[i] += chunk[i];
}

std::vector<float> Rounded(const std::vector<double>& sum) {
  return std::vector<float>(sum.begin(), sum.end());
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

absl::Status Evaluator::Evaluate(const Principal& caller,
                                 v1::EvaluateRequest* request,
                                 v1::EvaluateResponse* response) const {
  absl::StatusOr<EvaluatePlan> plan =
      Plan(caller, *request, /*streamed=*/false);
  if (!plan.ok()) return plan.status();
  // Computes in the request's own payload buffers and moves them into the
  // reply, so a call allocates and copies no tensor.
  float* dy =
      plan->backward()
          ? MutableFloats(request->mutable_grad_output()->mutable_data())
          : nullptr;
  absl::Status status =
      plan->Run(MutableFloats(request->mutable_input()->mutable_data()), dy,
                plan->elements());
  if (!status.ok()) return status;
  if (plan->backward()) {
    response->mutable_grad_input()->Swap(request->mutable_grad_output());
  }
  response->mutable_output()->Swap(request->mutable_input());
  plan->TakeResults(response);
  return absl::OkStatus();
}

absl::StatusOr<EvaluatePlan> Evaluator::PlanStream(
    const Principal& caller, const v1::EvaluateRequest& header) const {
  return Plan(caller, header, /*streamed=*/true);
}

absl::StatusOr<EvaluatePlan> Evaluator::Plan(const Principal& caller,
                                             const v1::EvaluateRequest& request,
                                             bool streamed) const {
  if (request.activation().empty()) {
    return absl::InvalidArgumentError(
        "activation: must be set; ListActivations names the choices");
  }
  EvaluatePlan plan;
  plan.baselines_ = baselines_;
  // The operands are decoded where each activation's checks reach them, so
  // errors come in the same order for every activation.
  auto decode_operands = [&]() -> absl::Status {
    if (!request.has_input()) {
      return absl::InvalidArgumentError("input: must be set");
    }
    auto input = DecodeOperand(request.input(), "input", streamed);
    if (!input.ok()) return input.status();
    // A stream's size is bounded by --max_stream_elements instead.
    if (!streamed && input->elements > max_elements_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input.shape ", ShapeString(input->shape), " has ", input->elements,
          " elements; Evaluate takes at most ", max_elements_,
          " per tensor, so that its reply fits in --max_message_mb (stream "
          "larger tensors with EvaluateStream)"));
    }
    if (request.has_grad_output()) {
      // Its shape must equal input's, which bounds its size too.
      auto grad = DecodeOperand(request.grad_output(), "grad_output", streamed);
      if (!grad.ok()) return grad.status();
      if (grad->shape != input->shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            "grad_output.shape ", ShapeString(grad->shape),
            " must equal input.shape ", ShapeString(input->shape)));
      }
    }
    plan.shape_ = input->shape;
    plan.elements_ = input->elements;
    plan.backward_ = request.has_grad_output();
    plan.layout_ = FlatLayout(input->elements);
    return absl::OkStatus();
  };

  absl::Status status;
  if (request.activation() == kPwluName) {
    status = PlanPwlu(caller, request, decode_operands, &plan);
  } else if (request.pwlu_source_case() !=
             v1::EvaluateRequest::PWLU_SOURCE_NOT_SET) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "pwlu/unit: only the pwlu activation takes PWLU parameters, not '",
        request.activation(), "'"));
  } else if (request.activation() == "prelu") {
    status = PlanPrelu(request, decode_operands, &plan);
  } else if (request.has_prelu_slope()) {
    status = absl::InvalidArgumentError(
        absl::StrCat("prelu_slope: only prelu takes slopes, not '",
                     request.activation(), "'"));
  } else {
    status = PlanBaseline(request, decode_operands, &plan);
  }
  if (!status.ok()) return status;
  if (plan.channel_wise_) {
    // At least 1 so a tensor with empty rows (and no elements) still has a
    // chunk granule; it then takes no chunk at all.
    plan.row_elements_ =
        std::max<int64_t>(1, plan.layout_.channels * plan.layout_.inner);
  }
  return plan;
}

absl::Status Evaluator::PlanPwlu(const Principal& caller,
                                 const v1::EvaluateRequest& request,
                                 OperandDecoder decode_operands,
                                 EvaluatePlan* plan) const {
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
      auto found = sessions_->GetUnitParameters(caller, request.unit());
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
  if (absl::Status s = decode_operands(); !s.ok()) return s;
  if (unit.granularity == v1::CHANNEL) {
    auto layout = RequestLayout(request, plan->shape_, unit.channel_axis);
    if (!layout.ok()) return layout.status();
    if (layout->channels != unit.params.units()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input.shape ", ShapeString(plan->shape_), " has ", layout->channels,
          " channels along the channel axis, but the "
          "channel-wise PWLU has ",
          unit.params.units(), " units"));
    }
    plan->layout_ = *layout;
    plan->channel_wise_ = true;
  }
  plan->kind_ = EvaluatePlan::Kind::kPwlu;
  plan->granularity_ = unit.granularity;
  plan->pwlu_ = std::move(unit.params);
  if (plan->backward_) {
    for (auto array : kPwluArrays) {
      plan->grad_sums_.emplace_back((plan->pwlu_.*array).size(), 0.0);
    }
  }
  return absl::OkStatus();
}

absl::Status Evaluator::PlanPrelu(const v1::EvaluateRequest& request,
                                  OperandDecoder decode_operands,
                                  EvaluatePlan* plan) const {
  if (!request.params().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params: prelu takes no scalar parameters (got '",
                     request.params().begin()->first,
                     "'); its slopes travel in "
                     "prelu_slope"));
  }
  if (absl::Status s = decode_operands(); !s.ok()) return s;
  auto layout = RequestLayout(request, plan->shape_, std::nullopt);
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
        ShapeString(plan->shape_), " along the channel axis"));
  }
  plan->kind_ = EvaluatePlan::Kind::kPrelu;
  plan->layout_ = *layout;
  plan->channel_wise_ = true;
  plan->prelu_slope_.assign(slope->data, slope->data + slope->elements);
  if (plan->backward_) plan->grad_sums_.emplace_back(slope->elements, 0.0);
  return absl::OkStatus();
}

absl::Status Evaluator::PlanBaseline(const v1::EvaluateRequest& request,
                                     OperandDecoder decode_operands,
                                     EvaluatePlan* plan) const {
  const std::map<std::string, double> params(request.params().begin(),
                                             request.params().end());
  auto act = baselines_->Resolve(request.activation(), params);
  if (!act.ok()) return act.status();
  if (absl::Status s = decode_operands(); !s.ok()) return s;
  if (request.has_channel_axis()) {
    // Element-wise activations have no channels, but a wrong axis is still
    // a mistake worth reporting rather than ignoring.
    auto layout = RequestLayout(request, plan->shape_, std::nullopt);
    if (!layout.ok()) return layout.status();
  }
  if (plan->backward_ && !act->info->has_backward) {
    return absl::InvalidArgumentError(
        absl::StrCat("grad_output: ", act->info->name, " has no backward"));
  }
  plan->kind_ = EvaluatePlan::Kind::kBaseline;
  plan->activation_ = *std::move(act);
  return absl::OkStatus();
}

absl::Status EvaluatePlan::Run(float* x, float* dy, int64_t n) {
  if (n % row_elements_ != 0 || (dy != nullptr) != backward_) {
    return absl::InternalError(absl::StrCat(
        "evaluator: ", n, " elements are not whole rows of ", row_elements_,
        ", or the gradient does not match the plan"));
  }
  // Backward runs first because it still needs x; the kernels' contracts
  // allow y to alias x and dx to alias dy.
  switch (kind_) {
    case Kind::kPwlu:
      return RunPwlu(x, dy, n);
    case Kind::kPrelu:
      return RunPrelu(x, dy, n);
    case Kind::kBaseline:
      return RunBaseline(x, dy, n);
  }
  return absl::InternalError("evaluator: unknown plan kind");
}

ChannelLayout EvaluatePlan::ChunkLayout(int64_t n) const {
  // The whole tensor keeps its own view, which may have empty rows.
  if (n == elements_) return layout_;
  if (!channel_wise_) return FlatLayout(n);
  return {n / row_elements_, layout_.channels, layout_.inner};
}

absl::Status EvaluatePlan::RunPwlu(float* x, float* dy, int64_t n) {
  const ChannelLayout layout = ChunkLayout(n);
  if (dy != nullptr) {
    PwluParams grad;
    absl::Status status = Timed(&kernel_ns_, [&] {
      return PwluBackward(pwlu_, layout, x, dy, dy, &grad);
    });
    if (!status.ok()) return status;
    for (size_t k = 0; k < grad_sums_.size(); ++k) {
      AddTo(grad.*kPwluArrays[k], &grad_sums_[k]);
    }
  }
  return Timed(&kernel_ns_, [&] { return PwluForward(pwlu_, layout, x, x); });
}

absl::Status EvaluatePlan::RunPrelu(float* x, float* dy, int64_t n) {
  const ChannelLayout layout = ChunkLayout(n);
  const float* slope = prelu_slope_.data();
  if (dy != nullptr) {
    std::vector<float> dslope(prelu_slope_.size());
    absl::Status status = Timed(&kernel_ns_, [&] {
      return baselines_->PreluBackward(layout, x, slope, dy, dy, dslope.data());
    });
    if (!status.ok()) return status;
    AddTo(dslope, &grad_sums_[0]);
  }
  return Timed(&kernel_ns_,
               [&] { return baselines_->PreluForward(layout, x, slope, x); });
}

absl::Status EvaluatePlan::RunBaseline(float* x, float* dy, int64_t n) {
  // Element-wise: the shape only sizes the kernel, so a chunk is flat.
  const std::vector<int64_t> shape = {n};
  if (dy != nullptr) {
    absl::Status status = Timed(&kernel_ns_, [&] {
      return baselines_->Backward(activation_, shape, x, dy, dy);
    });
    if (!status.ok()) return status;
  }
  return Timed(&kernel_ns_,
               [&] { return baselines_->Forward(activation_, shape, x, x); });
}

void EvaluatePlan::WritePreluGradient(v1::Tensor* out) const {
  const std::vector<float> grad = Rounded(grad_sums_[0]);
  float* data = PrepareTensor({static_cast<int64_t>(grad.size())}, out);
  std::copy(grad.begin(), grad.end(), data);
}

void EvaluatePlan::WritePwluGradient(v1::PwluParameters* out) const {
  PwluParams grad;
  grad.intervals = pwlu_.intervals;
  for (size_t k = 0; k < grad_sums_.size(); ++k) {
    grad.*kPwluArrays[k] = Rounded(grad_sums_[k]);
  }
  EncodePwluParams(grad, granularity_, out);
}

}  // namespace actlab
