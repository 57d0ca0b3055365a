// Copyright actlab authors.
//
// Baseline activations (ReLU, GELU, Swish, ...) run through oneDNN 2.6
// primitives, forward and backward. The registry lists each one with its
// scalar parameters; BaselineEngine validates requests and executes them,
// caching primitives by (algorithm, shape, parameters) because creating one
// costs ~80 us and reusing it ~5 us.

#ifndef ACTLAB_KERNELS_BASELINE_H_
#define ACTLAB_KERNELS_BASELINE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kernels/channel_layout.h"

namespace actlab {

struct ActivationParam {
  std::string name;
  double default_value = 0;
  double min_value = 0;  // inclusive
  double max_value = 0;  // inclusive
  std::string description;
};

struct BaselineInfo {
  std::string name;                  // canonical, e.g. "swish"
  std::vector<std::string> aliases;  // e.g. "silu" (fixes beta = 1)
  std::vector<ActivationParam> params;
  bool has_backward = true;
  bool per_channel = false;  // prelu: takes one slope per channel
  std::string backend;       // e.g. "oneDNN eltwise_swish"
  std::string description;
};

// Every baseline, in a stable order.
const std::vector<BaselineInfo>& BaselineActivations();

// A validated activation with every parameter resolved; cheap to copy.
struct ResolvedActivation {
  const BaselineInfo* info = nullptr;
  std::map<std::string, double> params;  // every parameter, defaults filled
};

class BaselineEngine {
 public:
  BaselineEngine();
  ~BaselineEngine();
  BaselineEngine(const BaselineEngine&) = delete;
  BaselineEngine& operator=(const BaselineEngine&) = delete;

  // Looks `name` (or an alias) up and checks `params`: NotFound-free by
  // design, every failure is InvalidArgument naming the activation or the
  // parameter and the reason (unknown name, unknown parameter, value out of
  // [min, max] or not finite).
  absl::StatusOr<ResolvedActivation> Resolve(
      absl::string_view name,
      const std::map<std::string, double>& params) const;

  // Element-wise activations (not prelu). x and y may alias, and so may dy
  // and dx. Thread-safe.
  absl::Status Forward(const ResolvedActivation& act,
                       absl::Span<const int64_t> shape, const float* x,
                       float* y);
  absl::Status Backward(const ResolvedActivation& act,
                        absl::Span<const int64_t> shape, const float* x,
                        const float* dy, float* dx);

  // PReLU with one slope per channel of `layout` (slope has layout.channels
  // entries). dslope receives dL/dslope summed over each channel. x and y
  // may alias, and so may dy and dx.
  absl::Status PreluForward(const ChannelLayout& layout, const float* x,
                            const float* slope, float* y);
  absl::Status PreluBackward(const ChannelLayout& layout, const float* x,
                             const float* slope, const float* dy, float* dx,
                             float* dslope);

  // "oneDNN 2.6.3 (cpu isa: avx512_core)" or similar, for the start-up log.
  static std::string Version();

  // Cached primitives are evicted least-recently-used past this count, so
  // requests with ever new shapes cannot grow memory without bound.
  static constexpr size_t kMaxCachedPrimitives = 256;

  // Primitives currently cached (forward and backward counted apart), for
  // tests and metrics.
  size_t CachedPrimitiveCount() const;

 private:
  class PrimitiveCache;
  std::unique_ptr<PrimitiveCache> cache_;
};

}  // namespace actlab

#endif  // ACTLAB_KERNELS_BASELINE_H_
