// Copyright actlab authors.

#include "kernels/baseline.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kernels/kernel_threads.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace actlab {
namespace {

using dnnl::algorithm;

// torch.nn.SELU's constants.
constexpr double kSeluAlpha = 1.6732632423543772;
constexpr double kSeluScale = 1.0507009873554805;

// How a baseline maps onto oneDNN eltwise: `alg` with alpha read from the
// parameter `alpha_param` (or `fixed_alpha` when that is empty), followed by
// an in-place eltwise_linear when `scale` != 1, because oneDNN 2.6 has no
// SELU and SELU is scale * elu(alpha).
struct Recipe {
  algorithm alg = algorithm::undef;
  std::string alpha_param;
  double fixed_alpha = 0;
  double scale = 1;
};

struct NameEntry {
  size_t index = 0;                     // into Registry::infos
  std::map<std::string, double> fixed;  // parameters an alias pins
};

struct Registry {
  std::vector<BaselineInfo> infos;
  std::vector<Recipe> recipes;                        // parallel to infos
  absl::flat_hash_map<std::string, NameEntry> names;  // names and aliases
};

const Registry* BuildRegistry() {
  auto* r = new Registry;
  auto add = [r](BaselineInfo info, Recipe recipe) {
    const size_t index = r->infos.size();
    r->names[info.name] = {index, {}};
    for (const std::string& alias : info.aliases) r->names[alias] = {index, {}};
    r->infos.push_back(std::move(info));
    r->recipes.push_back(std::move(recipe));
  };
  add({"relu", {}, {}, true, false, "oneDNN eltwise_relu", "max(0, x)"},
      {algorithm::eltwise_relu, "", 0, 1});
  add({"leaky_relu",
       {},
       {{"alpha", 0.01, 0, 1, "slope for x < 0 (PyTorch negative_slope)"}},
       true,
       false,
       "oneDNN eltwise_relu",
       "x for x > 0, alpha * x otherwise"},
      {algorithm::eltwise_relu, "alpha", 0, 1});
  add({"prelu",
       {},
       {},
       true,
       true,
       "oneDNN prelu",
       "x for x > 0, slope[c] * x otherwise, one caller-given slope a channel"},
      {});
  // alpha must be positive; the bounds are inclusive, hence the 1e-3 floor.
  add({"elu",
       {},
       {{"alpha", 1, 1e-3, 100, "saturation value for x -> -inf"}},
       true,
       false,
       "oneDNN eltwise_elu",
       "x for x > 0, alpha * (exp(x) - 1) otherwise"},
      {algorithm::eltwise_elu, "alpha", 0, 1});
  add({"selu",
       {},
       {},
       true,
       false,
       "oneDNN eltwise_elu + eltwise_linear",
       "1.0507 * elu(x, alpha = 1.6733), PyTorch's constants"},
      {algorithm::eltwise_elu, "", kSeluAlpha, kSeluScale});
  add({"gelu",
       {"gelu_erf"},
       {},
       true,
       false,
       "oneDNN eltwise_gelu_erf",
       "x * Phi(x), exact erf form (PyTorch approximate='none')"},
      {algorithm::eltwise_gelu_erf, "", 0, 1});
  add({"gelu_tanh",
       {},
       {},
       true,
       false,
       "oneDNN eltwise_gelu_tanh",
       "tanh approximation of gelu (PyTorch approximate='tanh')"},
      {algorithm::eltwise_gelu_tanh, "", 0, 1});
  add({"swish",
       {"silu"},
       {{"beta", 1, 0, 100, "sigmoid input scale"}},
       true,
       false,
       "oneDNN eltwise_swish",
       "x * sigmoid(beta * x); alias silu pins beta = 1"},
      {algorithm::eltwise_swish, "beta", 0, 1});
  add({"mish",
       {},
       {},
       true,
       false,
       "oneDNN eltwise_mish",
       "x * tanh(softplus(x))"},
      {algorithm::eltwise_mish, "", 0, 1});
  add({"hardswish",
       {},
       {},
       true,
       false,
       "oneDNN eltwise_hardswish",
       "x * relu6(x + 3) / 6"},
      {algorithm::eltwise_hardswish, "", 0, 1});
  add({"tanh", {}, {}, true, false, "oneDNN eltwise_tanh", "tanh(x)"},
      {algorithm::eltwise_tanh, "", 0, 1});
  add({"sigmoid",
       {"logistic"},
       {},
       true,
       false,
       "oneDNN eltwise_logistic",
       "1 / (1 + exp(-x))"},
      {algorithm::eltwise_logistic, "", 0, 1});
  // oneDNN 2.6's soft_relu ignores alpha and beta, so PyTorch's beta is not
  // offered; its threshold (x > 20 gives x) is a no-op in float32 because
  // log1p(exp(-20)) is far below half an ulp of 20.
  add({"softplus",
       {},
       {},
       true,
       false,
       "oneDNN eltwise_soft_relu",
       "log(1 + exp(x)) (PyTorch Softplus with beta = 1, threshold = 20)"},
      {algorithm::eltwise_soft_relu, "", 0, 1});
  // silu is swish with beta pinned: it takes no parameter, so a request
  // naming it means exactly torch.nn.SiLU.
  r->names["silu"].fixed = {{"beta", 1.0}};
  return r;
}

const Registry& GetRegistry() {
  static const Registry* const registry = BuildRegistry();
  return *registry;
}

std::string KnownNames(const Registry& registry) {
  std::string out;
  for (const BaselineInfo& info : registry.infos) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", info.name);
    for (const std::string& alias : info.aliases) {
      absl::StrAppend(&out, ", ", alias);
    }
  }
  return out;
}

const ActivationParam* FindParam(const BaselineInfo& info,
                                 absl::string_view name) {
  for (const ActivationParam& p : info.params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// The recipe behind `act`, which must come from Resolve and be element-wise.
absl::StatusOr<const Recipe*> RecipeFor(const ResolvedActivation& act) {
  const Registry& registry = GetRegistry();
  for (size_t i = 0; i < registry.infos.size(); ++i) {
    if (act.info != &registry.infos[i]) continue;
    if (act.info->per_channel) {
      return absl::InvalidArgumentError(
          absl::StrCat("activation '", act.info->name,
                       "' is per-channel: use PreluForward/PreluBackward"));
    }
    return &registry.recipes[i];
  }
  return absl::InvalidArgumentError(
      "activation was not produced by BaselineEngine::Resolve");
}

absl::StatusOr<float> AlphaFor(const Recipe& recipe,
                               const ResolvedActivation& act) {
  if (recipe.alpha_param.empty()) return static_cast<float>(recipe.fixed_alpha);
  auto it = act.params.find(recipe.alpha_param);
  if (it == act.params.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("activation '", act.info->name, "' lacks parameter '",
                     recipe.alpha_param, "': resolve it first"));
  }
  return static_cast<float>(it->second);
}

absl::StatusOr<int64_t> ElementCount(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension ", d, " in shape"));
    }
    if (__builtin_mul_overflow(n, d, &n)) {
      return absl::InvalidArgumentError("shape has more than 2^63 elements");
    }
  }
  return n;
}

absl::Status ValidateLayout(const ChannelLayout& layout) {
  int64_t n = 0;
  if (layout.outer < 0 || layout.channels < 0 || layout.inner < 0 ||
      __builtin_mul_overflow(layout.outer, layout.channels, &n) ||
      __builtin_mul_overflow(n, layout.inner, &n)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid channel layout [outer ", layout.outer, ", channels ",
        layout.channels, ", inner ", layout.inner, "]"));
  }
  return absl::OkStatus();
}

enum class Op {
  kEltwiseForward,
  kEltwiseBackward,
  kPreluForward,
  kPreluBackward
};

// Everything a primitive depends on; eltwise uses dims[0] only.
struct PrimitiveKey {
  Op op = Op::kEltwiseForward;
  algorithm alg = algorithm::undef;
  float alpha = 0;
  float beta = 0;
  int64_t dims[3] = {0, 0, 0};

  friend bool operator==(const PrimitiveKey& a, const PrimitiveKey& b) {
    return a.op == b.op && a.alg == b.alg && a.alpha == b.alpha &&
           a.beta == b.beta && a.dims[0] == b.dims[0] &&
           a.dims[1] == b.dims[1] && a.dims[2] == b.dims[2];
  }
  template <typename H>
  friend H AbslHashValue(H h, const PrimitiveKey& k) {
    return H::combine(std::move(h), k.op, k.alg, k.alpha, k.beta, k.dims[0],
                      k.dims[1], k.dims[2]);
  }
};

PrimitiveKey EltwiseKey(Op op, algorithm alg, float alpha, int64_t n) {
  PrimitiveKey key;
  key.op = op;
  key.alg = alg;
  key.alpha = alpha;
  key.dims[0] = n;
  return key;
}

PrimitiveKey PreluKey(Op op, const ChannelLayout& layout) {
  PrimitiveKey key;
  key.op = op;
  key.dims[0] = layout.outer;
  key.dims[1] = layout.channels;
  key.dims[2] = layout.inner;
  return key;
}

struct CachedPrimitive {
  dnnl::primitive primitive;
  dnnl::memory::desc scratchpad;
  int64_t elements = 0;
};

// Sets the calling thread's OpenMP team size for one scope. The setting is
// per thread, so concurrent calls do not disturb each other.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int threads) : previous_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~ScopedOmpThreads() { omp_set_num_threads(previous_); }

 private:
  const int previous_;
};

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Element-wise ops ignore shape, so any tensor is one flat run of floats.
dnnl::memory::desc FlatDesc(int64_t n) { return {{n}, dt::f32, tag::a}; }

dnnl::memory::desc PreluDataDesc(const int64_t dims[3]) {
  return {{dims[0], dims[1], dims[2]}, dt::f32, tag::abc};
}

dnnl::memory::desc PreluWeightsDesc(const int64_t dims[3]) {
  return {{1, dims[1], 1}, dt::f32, tag::abc};
}

// Throws dnnl::error when oneDNN rejects the descriptor.
std::shared_ptr<const CachedPrimitive> BuildPrimitive(
    const PrimitiveKey& k, const dnnl::engine& engine) {
  // The default library-managed scratchpad is shared per creating thread and
  // forbids running a primitive on another thread; the cache hands
  // primitives to any thread, so each call brings its own scratchpad.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto out = std::make_shared<CachedPrimitive>();
  out->elements = k.dims[0] * std::max<int64_t>(k.dims[1], 1) *
                  std::max<int64_t>(k.dims[2], 1);
  switch (k.op) {
    case Op::kEltwiseForward: {
      dnnl::eltwise_forward::primitive_desc pd(
          {dnnl::prop_kind::forward_inference, k.alg, FlatDesc(k.dims[0]),
           k.alpha, k.beta},
          attr, engine);
      out->primitive = dnnl::eltwise_forward(pd);
      out->scratchpad = pd.scratchpad_desc();
      break;
    }
    case Op::kEltwiseBackward: {
      const dnnl::memory::desc md = FlatDesc(k.dims[0]);
      dnnl::eltwise_forward::primitive_desc hint(
          {dnnl::prop_kind::forward_training, k.alg, md, k.alpha, k.beta},
          engine);
      // Not the *_use_dst_for_bwd variants: these read src (x).
      dnnl::eltwise_backward::primitive_desc pd(
          {k.alg, md, md, k.alpha, k.beta}, attr, engine, hint);
      out->primitive = dnnl::eltwise_backward(pd);
      out->scratchpad = pd.scratchpad_desc();
      break;
    }
    case Op::kPreluForward: {
      dnnl::prelu_forward::primitive_desc pd(
          {dnnl::prop_kind::forward_inference, PreluDataDesc(k.dims),
           PreluWeightsDesc(k.dims)},
          attr, engine);
      out->primitive = dnnl::prelu_forward(pd);
      out->scratchpad = pd.scratchpad_desc();
      break;
    }
    case Op::kPreluBackward: {
      const dnnl::memory::desc data = PreluDataDesc(k.dims);
      const dnnl::memory::desc weights = PreluWeightsDesc(k.dims);
      dnnl::prelu_forward::primitive_desc hint(
          {dnnl::prop_kind::forward_training, data, weights}, engine);
      dnnl::prelu_backward::primitive_desc pd({data, weights, data, weights},
                                              attr, engine, hint);
      out->primitive = dnnl::prelu_backward(pd);
      out->scratchpad = pd.scratchpad_desc();
      break;
    }
  }
  return out;
}

// oneDNN reports failures by throwing; nothing may escape the engine.
template <typename F>
absl::Status CatchDnnl(F&& f) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat("oneDNN: ", e.what(), " (status ", e.status, ")"));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory in oneDNN call");
  }
}

std::string IsaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::all:
      return "all";
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
  }
  return absl::StrCat("isa#", static_cast<int>(isa));
}

}  // namespace

// Owns the CPU engine and the primitives built on it. Primitives are
// immutable once built and oneDNN allows executing one from several threads
// at once, so the mutex only guards the map, never an execution.
class BaselineEngine::PrimitiveCache {
 public:
  PrimitiveCache() {
    try {
      engine_ = dnnl::engine(dnnl::engine::kind::cpu, 0);
    } catch (const dnnl::error& e) {
      init_status_ = absl::InternalError(
          absl::StrCat("oneDNN CPU engine unavailable: ", e.what()));
    }
  }

  const absl::Status& init_status() const { return init_status_; }
  const dnnl::engine& engine() const { return engine_; }

  // Throws dnnl::error when the primitive can't be built.
  std::shared_ptr<const CachedPrimitive> Get(const PrimitiveKey& key)
      ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      auto it = slots_.find(key);
      if (it != slots_.end()) {
        it->second.last_used = ++clock_;
        return it->second.primitive;
      }
    }
    // Built unlocked: creation takes ~80 us and must not stall cache hits.
    // Two threads may race to build one key; the first insert wins.
    std::shared_ptr<const CachedPrimitive> built = BuildPrimitive(key, engine_);
    absl::MutexLock lock(&mu_);
    auto it = slots_.find(key);
    if (it == slots_.end()) {
      if (slots_.size() >= kMaxCachedPrimitives) EvictLeastRecentlyUsed();
      it = slots_.emplace(key, Slot{std::move(built), 0}).first;
    }
    it->second.last_used = ++clock_;
    return it->second.primitive;
  }

  // Runs `p` on a stream of its own, so concurrent calls never share one.
  void Execute(const CachedPrimitive& p,
               std::unordered_map<int, dnnl::memory> args) const {
    // oneDNN forks an OpenMP team of the calling thread's size.
    ScopedOmpThreads threads(KernelThreadsFor(p.elements));
    dnnl::stream stream(engine_);
    if (p.scratchpad.get_size() > 0) {
      args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(p.scratchpad, engine_));
    }
    p.primitive.execute(stream, args);
    stream.wait();
  }

  // Multiplies `data` (n floats) by `scale` in place, unless it is 1: the
  // second half of SELU, forward and backward alike.
  void Scale(double scale, const dnnl::memory& data, int64_t n) {
    if (scale == 1) return;
    const float s = static_cast<float>(scale);
    Execute(
        *Get(EltwiseKey(Op::kEltwiseForward, algorithm::eltwise_linear, s, n)),
        {{DNNL_ARG_SRC, data}, {DNNL_ARG_DST, data}});
  }

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return slots_.size();
  }

 private:
  struct Slot {
    // Shared so an eviction can't free a primitive another call still runs.
    std::shared_ptr<const CachedPrimitive> primitive;
    uint64_t last_used = 0;
  };

  // A linear scan: it runs only on a miss, next to a ~80 us primitive build.
  void EvictLeastRecentlyUsed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto oldest = slots_.begin();
    for (auto it = slots_.begin(); it != slots_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    slots_.erase(oldest);
  }

  dnnl::engine engine_;
  absl::Status init_status_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<PrimitiveKey, Slot> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
};

const std::vector<BaselineInfo>& BaselineActivations() {
  return GetRegistry().infos;
}

BaselineEngine::BaselineEngine() : cache_(std::make_unique<PrimitiveCache>()) {}

BaselineEngine::~BaselineEngine() = default;

absl::StatusOr<ResolvedActivation> BaselineEngine::Resolve(
    absl::string_view name, const std::map<std::string, double>& params) const {
  const Registry& registry = GetRegistry();
  auto found = registry.names.find(name);
  if (found == registry.names.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown activation '", name, "' (known: ", KnownNames(registry), ")"));
  }
  const NameEntry& entry = found->second;
  const BaselineInfo& info = registry.infos[entry.index];
  for (const auto& [key, value] : params) {
    const ActivationParam* param = FindParam(info, key);
    if (param == nullptr || entry.fixed.count(key) > 0) {
      std::string accepted;
      for (const ActivationParam& p : info.params) {
        if (entry.fixed.count(p.name) == 0) {
          absl::StrAppend(&accepted, accepted.empty() ? "" : ", ", p.name);
        }
      }
      std::string pinned;
      for (const auto& [fixed_name, fixed_value] : entry.fixed) {
        absl::StrAppend(&pinned, "; '", name, "' pins ", fixed_name, " = ",
                        fixed_value, ", use '", info.name, "' to set it");
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter '", key, "' for activation '", name,
          "' (accepted: ", accepted.empty() ? "none" : accepted, pinned, ")"));
    }
    if (!std::isfinite(value) || value < param->min_value ||
        value > param->max_value) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", key, "' of activation '", name, "' is ",
                       value, "; it must be a finite number in [",
                       param->min_value, ", ", param->max_value, "]"));
    }
  }
  ResolvedActivation out;
  out.info = &info;
  for (const ActivationParam& p : info.params) {
    auto fixed = entry.fixed.find(p.name);
    auto given = params.find(p.name);
    out.params[p.name] = fixed != entry.fixed.end() ? fixed->second
                         : given != params.end()    ? given->second
                                                    : p.default_value;
  }
  return out;
}

absl::Status BaselineEngine::Forward(const ResolvedActivation& act,
                                     absl::Span<const int64_t> shape,
                                     const float* x, float* y) {
  absl::StatusOr<const Recipe*> recipe = RecipeFor(act);
  if (!recipe.ok()) return recipe.status();
  absl::StatusOr<float> alpha = AlphaFor(**recipe, act);
  if (!alpha.ok()) return alpha.status();
  absl::StatusOr<int64_t> n = ElementCount(shape);
  if (!n.ok()) return n.status();
  if (*n == 0) return absl::OkStatus();
  if (x == nullptr || y == nullptr) {
    return absl::InvalidArgumentError("null tensor pointer");
  }
  if (!cache_->init_status().ok()) return cache_->init_status();
  return CatchDnnl([&]() -> absl::Status {
    const dnnl::engine& engine = cache_->engine();
    const dnnl::memory::desc md = FlatDesc(*n);
    // oneDNN takes void*; x is only read.
    dnnl::memory src(md, engine, const_cast<float*>(x));
    dnnl::memory dst(md, engine, y);
    cache_->Execute(*cache_->Get(EltwiseKey(Op::kEltwiseForward, (*recipe)->alg,
                                            *alpha, *n)),
                    {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    cache_->Scale((*recipe)->scale, dst, *n);
    return absl::OkStatus();
  });
}

absl::Status BaselineEngine::Backward(const ResolvedActivation& act,
                                      absl::Span<const int64_t> shape,
                                      const float* x, const float* dy,
                                      float* dx) {
  absl::StatusOr<const Recipe*> recipe = RecipeFor(act);
  if (!recipe.ok()) return recipe.status();
  absl::StatusOr<float> alpha = AlphaFor(**recipe, act);
  if (!alpha.ok()) return alpha.status();
  absl::StatusOr<int64_t> n = ElementCount(shape);
  if (!n.ok()) return n.status();
  if (*n == 0) return absl::OkStatus();
  if (x == nullptr || dy == nullptr || dx == nullptr) {
    return absl::InvalidArgumentError("null tensor pointer");
  }
  if (!cache_->init_status().ok()) return cache_->init_status();
  return CatchDnnl([&]() -> absl::Status {
    const dnnl::engine& engine = cache_->engine();
    const dnnl::memory::desc md = FlatDesc(*n);
    // oneDNN takes void*; x and dy are only read.
    dnnl::memory src(md, engine, const_cast<float*>(x));
    dnnl::memory diff_dst(md, engine, const_cast<float*>(dy));
    dnnl::memory diff_src(md, engine, dx);
    cache_->Execute(*cache_->Get(EltwiseKey(Op::kEltwiseBackward,
                                            (*recipe)->alg, *alpha, *n)),
                    {{DNNL_ARG_SRC, src},
                     {DNNL_ARG_DIFF_DST, diff_dst},
                     {DNNL_ARG_DIFF_SRC, diff_src}});
    // d(scale * f)/dx = scale * f'(x).
    cache_->Scale((*recipe)->scale, diff_src, *n);
    return absl::OkStatus();
  });
}

absl::Status BaselineEngine::PreluForward(const ChannelLayout& layout,
                                          const float* x, const float* slope,
                                          float* y) {
  if (absl::Status s = ValidateLayout(layout); !s.ok()) return s;
  if (layout.size() == 0) return absl::OkStatus();
  if (x == nullptr || slope == nullptr || y == nullptr) {
    return absl::InvalidArgumentError("null tensor pointer");
  }
  if (!cache_->init_status().ok()) return cache_->init_status();
  return CatchDnnl([&]() -> absl::Status {
    const PrimitiveKey key = PreluKey(Op::kPreluForward, layout);
    const dnnl::engine& engine = cache_->engine();
    // oneDNN takes void*; x and slope are only read.
    dnnl::memory src(PreluDataDesc(key.dims), engine, const_cast<float*>(x));
    dnnl::memory weights(PreluWeightsDesc(key.dims), engine,
                         const_cast<float*>(slope));
    dnnl::memory dst(PreluDataDesc(key.dims), engine, y);
    cache_->Execute(*cache_->Get(key), {{DNNL_ARG_SRC, src},
                                        {DNNL_ARG_WEIGHTS, weights},
                                        {DNNL_ARG_DST, dst}});
    return absl::OkStatus();
  });
}

absl::Status BaselineEngine::PreluBackward(const ChannelLayout& layout,
                                           const float* x, const float* slope,
                                           const float* dy, float* dx,
                                           float* dslope) {
  if (absl::Status s = ValidateLayout(layout); !s.ok()) return s;
  if (layout.size() == 0) {
    // An empty tensor still has a well-defined gradient per channel: zero.
    if (dslope != nullptr) std::fill_n(dslope, layout.channels, 0.0f);
    return absl::OkStatus();
  }
  if (x == nullptr || slope == nullptr || dy == nullptr || dx == nullptr ||
      dslope == nullptr) {
    return absl::InvalidArgumentError("null tensor pointer");
  }
  if (!cache_->init_status().ok()) return cache_->init_status();
  return CatchDnnl([&]() -> absl::Status {
    const PrimitiveKey key = PreluKey(Op::kPreluBackward, layout);
    const dnnl::engine& engine = cache_->engine();
    const dnnl::memory::desc data = PreluDataDesc(key.dims);
    const dnnl::memory::desc weights = PreluWeightsDesc(key.dims);
    // oneDNN takes void*; x, slope and dy are only read.
    cache_->Execute(
        *cache_->Get(key),
        {{DNNL_ARG_SRC, dnnl::memory(data, engine, const_cast<float*>(x))},
         {DNNL_ARG_WEIGHTS,
          dnnl::memory(weights, engine, const_cast<float*>(slope))},
         {DNNL_ARG_DIFF_DST,
          dnnl::memory(data, engine, const_cast<float*>(dy))},
         {DNNL_ARG_DIFF_SRC, dnnl::memory(data, engine, dx)},
         {DNNL_ARG_DIFF_WEIGHTS, dnnl::memory(weights, engine, dslope)}});
    return absl::OkStatus();
  });
}

std::string BaselineEngine::Version() {
  const dnnl_version_t* v = dnnl_version();
  return absl::StrCat("oneDNN ", v->major, ".", v->minor, ".", v->patch,
                      " (cpu isa: ", IsaName(dnnl::get_effective_cpu_isa()),
                      ")");
}

size_t BaselineEngine::CachedPrimitiveCount() const { return cache_->size(); }

}  // namespace actlab
