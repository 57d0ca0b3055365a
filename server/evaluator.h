// Copyright actlab authors.
//
// Evaluator answers ListActivations and Evaluate: baselines through oneDNN
// (BaselineEngine), PWLU through the actlab kernels with parameters inline
// or taken from a session unit. It uses no gRPC types beyond the messages.
//
// Evaluate and each chunk of EvaluateStream share one path: Plan validates
// a request once and EvaluatePlan::Run computes any run of whole rows of
// its tensor, so a tensor evaluated in chunks gives the element-wise
// results of one Evaluate bit for bit.

#ifndef ACTLAB_SERVER_EVALUATOR_H_
#define ACTLAB_SERVER_EVALUATOR_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actlab/v1/actlab.pb.h"
#include "kernels/baseline.h"
#include "kernels/channel_layout.h"
#include "kernels/pwlu.h"
#include "server/auth/principal.h"
#include "server/session/session_manager.h"

namespace actlab {

// A validated Evaluate request, ready to run on its tensor in one piece or
// in chunks of whole rows, in order. Parameter gradients (pwlu, prelu) are
// summed over the chunks in double and rounded to float once, in
// TakeResults, so splitting costs one rounding rather than one per chunk;
// they can differ from a one-piece Evaluate by float summation order only.
// Holds O(parameters) memory, never a tensor.
class EvaluatePlan {
 public:
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t elements() const { return elements_; }
  bool backward() const { return backward_; }
  // Every chunk holds a multiple of this many elements: channels x inner of
  // the channel layout for channel-wise activations, 1 for element-wise.
  int64_t row_elements() const { return row_elements_; }

  // Runs the next `n` elements (a multiple of row_elements()) in place:
  // y overwrites x and, for a backward plan, dx overwrites dy (null
  // otherwise). Adds to the kernel time and the parameter gradients.
  absl::Status Run(float* x, float* dy, int64_t n);

  // Sets kernel_ns and, for a backward plan, the gradients summed over
  // every Run: grad_prelu_slope (prelu) or grad_pwlu (pwlu), leaving the
  // other unset. Works on EvaluateResponse and EvaluateStreamResponse.
  template <typename Response>
  void TakeResults(Response* response) const {
    response->set_kernel_ns(kernel_ns_);
    if (!backward_) return;
    if (kind_ == Kind::kPrelu) {
      WritePreluGradient(response->mutable_grad_prelu_slope());
    } else if (kind_ == Kind::kPwlu) {
      WritePwluGradient(response->mutable_grad_pwlu());
    }
  }

 private:
  friend class Evaluator;
  enum class Kind { kBaseline, kPrelu, kPwlu };

  EvaluatePlan() = default;
  // The [outer, channels, inner] view of `n` elements of whole rows.
  ChannelLayout ChunkLayout(int64_t n) const;
  absl::Status RunPwlu(float* x, float* dy, int64_t n);
  absl::Status RunPrelu(float* x, float* dy, int64_t n);
  absl::Status RunBaseline(float* x, float* dy, int64_t n);
  void WritePreluGradient(v1::Tensor* out) const;
  void WritePwluGradient(v1::PwluParameters* out) const;

  BaselineEngine* baselines_ = nullptr;
  Kind kind_ = Kind::kBaseline;
  std::vector<int64_t> shape_;
  int64_t elements_ = 0;
  bool backward_ = false;
  bool channel_wise_ = false;
  ChannelLayout layout_;  // of the whole tensor
  int64_t row_elements_ = 1;
  ResolvedActivation activation_;   // kBaseline
  std::vector<float> prelu_slope_;  // kPrelu
  PwluParams pwlu_;                 // kPwlu
  v1::Granularity granularity_ = v1::LAYER;
  // One sum per parameter array (PwluParams' five, or the prelu slopes).
  std::vector<std::vector<double>> grad_sums_;
  int64_t kernel_ns_ = 0;
};

class Evaluator {
 public:
  // `baselines` and `sessions` must outlive the Evaluator. `max_elements`
  // bounds every tensor of an Evaluate request.
  Evaluator(BaselineEngine* baselines, SessionManager* sessions,
            int64_t max_elements);

  void ListActivations(v1::ListActivationsResponse* response) const;

  // Validates the request completely before computing anything; failures
  // are InvalidArgument naming the field and the reason, or NotFound for
  // an unknown session unit. Fills kernel_ns; handling_ns is the caller's.
  // Consumes the request: the results are computed in its payload buffers,
  // which move into the reply, so no tensor is allocated or copied.
  // `caller` must be allowed to use a session unit the request names.
  absl::Status Evaluate(const Principal& caller, v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) const;

  // Validates an EvaluateStream header as Evaluate validates a request,
  // except that its tensors' data must be empty (the chunks carry it) and
  // their size is the caller's to bound. A session unit's parameters are
  // read once, here, and serve the whole stream.
  absl::StatusOr<EvaluatePlan> PlanStream(
      const Principal& caller, const v1::EvaluateRequest& header) const;

 private:
  // `streamed`: the request is a stream header (see PlanStream).
  absl::StatusOr<EvaluatePlan> Plan(const Principal& caller,
                                    const v1::EvaluateRequest& request,
                                    bool streamed) const;
  // Decodes the request's input and grad_output into the plan.
  using OperandDecoder = absl::FunctionRef<absl::Status()>;
  absl::Status PlanPwlu(const Principal& caller,
                        const v1::EvaluateRequest& request,
                        OperandDecoder decode_operands,
                        EvaluatePlan* plan) const;
  absl::Status PlanPrelu(const v1::EvaluateRequest& request,
                         OperandDecoder decode_operands,
                         EvaluatePlan* plan) const;
  absl::Status PlanBaseline(const v1::EvaluateRequest& request,
                            OperandDecoder decode_operands,
                            EvaluatePlan* plan) const;

  BaselineEngine* baselines_;
  SessionManager* sessions_;
  int64_t max_elements_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_EVALUATOR_H_
