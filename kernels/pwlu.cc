// Copyright actlab authors.
//
// PWLU driver: validation, layouts, OpenMP partitioning and the parameter
// gradients derived from the kernels' per-region sums.
//
// Work is split statically (fixed boundaries for a given thread count) and
// partial sums are reduced in worker order, so results are bit-for-bit
// reproducible at a given thread count.

#include "kernels/pwlu.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/kernel_threads.h"
#include "kernels/pwlu_kernels.h"

namespace actlab {
namespace {

// Channels whose runs are shorter than this (NHWC: 1) are staged through a
// buffer (ForEachBlock) so the kernels still see long contiguous runs.
constexpr int64_t kMinRun = 64;
constexpr int64_t kStagedRun = 512;
constexpr int64_t kStagedBuffer = 16384;
// Kernel vectors never straddle worker boundaries below this alignment.
constexpr int64_t kSplitAlign = 16;
// Staged tensors this large are prefetched as they are transposed
// (Transfer); smaller ones are served from the caches, where the prefetches
// only cost: 256 KiB NHWC forward 19.5 -> 17.7 us on one core, while 4 MiB
// at two threads gained from them.
constexpr int64_t kPrefetchStaged = int64_t{1} << 19;
// Outputs of tensors this large (twice the L3 here) are written with
// non-temporal stores: they would leave the caches anyway, and streaming
// skips reading each output line first. Staged outputs go to a buffer and
// never stream.
constexpr int64_t kStreamElements = int64_t{16} << 20;

bool IsFinite(float v) { return std::isfinite(v); }

constexpr float kFloatMax = std::numeric_limits<float>::max();

absl::Status CheckLength(const char* field, size_t got, int64_t want) {
  if (static_cast<int64_t>(got) == want) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " has ", got, " entries, expected ", want));
}

absl::Status CheckFinite(const char* field, const std::vector<float>& v) {
  for (size_t j = 0; j < v.size(); ++j) {
    if (!IsFinite(v[j])) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", j, "] is not finite"));
    }
  }
  return absl::OkStatus();
}

// `prepared` says the params are bit for bit those of tables this thread
// built, so they were validated then.
absl::Status CheckRequest(const PwluKernel& kernel, const PwluParams& params,
                          const ChannelLayout& layout, bool pointers_set,
                          bool prepared) {
  if (!prepared) {
    if (absl::Status s = ValidatePwluParams(params); !s.ok()) return s;
  }
  if (!PwluIsaSupported(kernel.isa)) {
    return absl::FailedPreconditionError(
        absl::StrCat("kernel ", kernel.name, " cannot run on this CPU"));
  }
  if (params.intervals > kernel.max_intervals) {
    return absl::InvalidArgumentError(absl::StrCat(
        "intervals ", params.intervals, " exceeds the ", kernel.max_intervals,
        " kernel ", kernel.name, " supports"));
  }
  if (layout.outer < 0 || layout.channels < 0 || layout.inner < 0) {
    return absl::InvalidArgumentError("layout has a negative dimension");
  }
  if (params.units() > 1 && params.units() != layout.channels) {
    return absl::InvalidArgumentError(
        absl::StrCat("params have ", params.units(),
                     " units but layout.channels is ", layout.channels));
  }
  if (layout.size() > 0 && !pointers_set) {
    return absl::InvalidArgumentError("null tensor pointer");
  }
  return absl::OkStatus();
}

// The tables this thread last built for one direction, with a copy of the
// params they came from. A call whose params are bit for bit the same (a
// fixed unit applied batch after batch) skips validation and the build, as
// oneDNN's primitive cache skips creating a primitive it has seen; for 64
// units of N = 16 that is ~0.6 us of a 256 KiB forward's ~4.3. Params that
// change every call (training) pay a compare and a copy of the params,
// ~0.1 us. Bitwise, not ==: -0.0 and 0.0 build different tables.
class PreparedTables {
 public:
  // Tables above this many floats (512 KiB: 1024 units of N = 16 base-point
  // tables) are released after the call, so a thread keeps at most this
  // much and as much again of params per direction; a server may have a
  // thread per concurrent call.
  static constexpr int64_t kMaxKeptFloats = int64_t{1} << 17;

  bool Matches(const PwluParams& params, PwluPass pass) const {
    return valid_ && pass == pass_ && params.intervals == params_.intervals &&
           SameBits(params.left_bound, params_.left_bound) &&
           SameBits(params.right_bound, params_.right_bound) &&
           SameBits(params.left_slope, params_.left_slope) &&
           SameBits(params.right_slope, params_.right_slope) &&
           SameBits(params.values, params_.values);
  }

  // Sizes the tables for validated params; the caller builds every unit
  // and then calls Keep.
  PwluTables& Reset(const PwluParams& params, PwluPass pass) {
    valid_ = false;
    pass_ = pass;
    tables_.Reset(params, pass);
    return tables_;
  }
  void Keep(const PwluParams& params) {
    if (tables_.capacity() > kMaxKeptFloats) {
      tables_.Release();
      return;
    }
    params_ = params;
    valid_ = true;
  }
  PwluTables& tables() { return tables_; }

 private:
  static bool SameBits(const std::vector<float>& a,
                       const std::vector<float>& b) {
    return a.size() == b.size() &&
           std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  }

  bool valid_ = false;
  PwluPass pass_ = PwluPass::kForward;
  PwluParams params_;
  PwluTables tables_;
};

// One per calling thread and direction: the entry points may run on many
// threads at once (the server's), and each call only reads its own.
PreparedTables& ThreadPrepared(bool backward) {
  thread_local PreparedTables prepared[2];
  return prepared[backward ? 1 : 0];
}

// Layer-wise units see the whole tensor as one run whatever its layout.
ChannelLayout EffectiveLayout(const PwluParams& params,
                              const ChannelLayout& layout) {
  return params.units() == 1 ? FlatLayout(layout.size()) : layout;
}

int Workers(int64_t elements) { return KernelThreadsFor(elements); }

// Start of part `part` of [0, total) split into `parts`.
int64_t SplitPoint(int64_t total, int parts, int part, int64_t align) {
  if (part >= parts) return total;
  const int64_t point = total / parts * part + total % parts * part / parts;
  return point / align * align;
}

// Runs fn(w) for w in [0, workers): the same work items at any number of
// OpenMP threads actually granted.
template <class Fn>
void RunWorkers(int workers, const Fn& fn) {
  if (workers == 1) {
    fn(0);
    return;
  }
#pragma omp parallel for num_threads(workers) schedule(static, 1)
  for (int w = 0; w < workers; ++w) fn(w);
}

// Iterates the contiguous per-channel runs covering elements [begin, end).
template <class Fn>
void ForEachRun(const ChannelLayout& layout, int64_t begin, int64_t end,
                const Fn& fn) {
  int64_t pos = begin;
  while (pos < end) {
    const int64_t run = pos / layout.inner;
    const int64_t len =
        std::min(layout.inner - (pos - run * layout.inner), end - pos);
    fn(run % layout.channels, pos, len);
    pos += len;
  }
}

bool Staged(const ChannelLayout& layout) {
  return layout.channels > 1 && layout.inner < kMinRun;
}

// A staged block: `rows` rows and `channels` channels from (row, channel),
// held channel by channel ([channel][row][inner]) so that each kernel call
// sees one unit's elements contiguously. Channel runs are BufferStride()
// apart: the padding keeps the strided side of the transpose from mapping
// every channel to the same few L1 sets (runs are powers of two).
struct Block {
  int64_t row, rows, channel, channels;
};

constexpr int64_t kBufferPad = 16;

int64_t BufferStride(const ChannelLayout& l, const Block& b) {
  return b.rows * l.inner + kBufferPad;
}

// Moves a block between the tensor and its buffer, a transpose of
// [row][channel][inner] and [channel][row][inner]: copy(tensor_index,
// buffer_index) moves one element in the wanted direction. It goes in tiles
// of kTile rows and channels so that both sides touch few cache lines at a
// time; inner == 1 (NHWC) gets a loop the compiler keeps tight.
// With inner == 1 (NHWC) and AVX-512, whole 16 x 16 tiles go through
// PwluTranspose16x16Avx512; to_buffer says the direction.
template <class Copy>
void Transfer(const ChannelLayout& l, const Block& b, const Copy& copy,
              bool to_buffer, const float* src, float* dst) {
  constexpr int64_t kTile = 16;
  const int64_t run = BufferStride(l, b);
  const int64_t inner = l.inner;
  static const bool vector_transpose = PwluIsaSupported(PwluIsa::kAvx512);
  const bool prefetch = l.size() >= kPrefetchStaged;
  for (int64_t r0 = 0; r0 < b.rows; r0 += kTile) {
    const int64_t r1 = std::min(b.rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < b.channels; c0 += kTile) {
      const int64_t c1 = std::min(b.channels, c0 + kTile);
      if (inner == 1 && vector_transpose && r1 - r0 == kTile &&
          c1 - c0 == kTile) {
        const int64_t t = (b.row + r0) * l.channels + b.channel + c0;
        const int64_t f = c0 * run + r0;
        // The tensor side moves 16 rows (16 * C floats, often a page) per
        // tile, a stride the hardware prefetchers do not follow across
        // pages: fetch the rows kAhead tiles ahead (prefetches never fault).
        // 64 MiB NHWC forward: 36 -> 18 ms (kAhead 4: ~30 ms, 16: same).
        constexpr int64_t kAhead = 8;
        const float* ahead =
            (to_buffer ? src : dst) + t + kAhead * kTile * l.channels;
        // The read/write hint must be a constant, hence two loops.
        if (prefetch && to_buffer) {
          for (int64_t i = 0; i < kTile; ++i) {
            __builtin_prefetch(ahead + i * l.channels, 0);
          }
        } else if (prefetch) {
          for (int64_t i = 0; i < kTile; ++i) {
            __builtin_prefetch(ahead + i * l.channels, 1);
          }
        }
        if (to_buffer) {
          PwluTranspose16x16Avx512(src + t, l.channels, dst + f, run);
        } else {
          PwluTranspose16x16Avx512(src + f, run, dst + t, l.channels);
        }
        continue;
      }
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t t = ((b.row + r) * l.channels + b.channel) * inner;
        const int64_t f = r * inner;
        if (inner == 1) {
          for (int64_t c = c0; c < c1; ++c) copy(t + c, f + c * run);
          continue;
        }
        for (int64_t c = c0; c < c1; ++c) {
          for (int64_t i = 0; i < inner; ++i) {
            copy(t + c * inner + i, f + c * run + i);
          }
        }
      }
    }
  }
}
void ToBuffer(const ChannelLayout& l, const Block& b, const float* src,
              float* buffer) {
  Transfer(
      l, b, [=](int64_t t, int64_t f) { buffer[f] = src[t]; }, true, src,
      buffer);
}
void FromBuffer(const ChannelLayout& l, const Block& b, const float* buffer,
                float* dst) {
  Transfer(
      l, b, [=](int64_t t, int64_t f) { dst[t] = buffer[f]; }, false, buffer,
      dst);
}

// Calls fn(block) over rows [row_begin, row_end) x channels [c_begin, c_end)
// in blocks of about kStagedRun elements a channel and kStagedBuffer in all.
template <class Fn>
void ForEachBlock(const ChannelLayout& l, int64_t row_begin, int64_t row_end,
                  int64_t c_begin, int64_t c_end, const Fn& fn) {
  const int64_t rows = (kStagedRun + l.inner - 1) / l.inner;
  int64_t channels =
      std::max<int64_t>(1, kStagedBuffer / (rows * l.inner + kBufferPad));
  // Whole 16-channel tiles for the vector transpose (Transfer).
  if (channels > 16) channels = channels / 16 * 16;
  for (int64_t row = row_begin; row < row_end; row += rows) {
    for (int64_t c = c_begin; c < c_end; c += channels) {
      fn(Block{row, std::min(rows, row_end - row), c,
               std::min(channels, c_end - c)});
    }
  }
}

// Staging buffers of kStagedSize floats, two per thread, kept for the
// thread's lifetime: allocating them per call cost a page-faulting mmap
// (backward's pair is above malloc's mmap threshold) or a 64 KiB memset.
constexpr int64_t kStagedSize = kStagedBuffer + kStagedRun + kMinRun;
float* StagingBuffer(int which) {
  struct Buffers {
    alignas(64) float data[2][kStagedSize];
  };
  thread_local std::unique_ptr<Buffers> buffers;
  if (buffers == nullptr) buffers.reset(new Buffers);
  return buffers->data[which];
}

void ForwardStaged(const PwluKernel& kernel, const PwluTables& tables,
                   const ChannelLayout& l, const float* x, float* y,
                   int64_t row_begin, int64_t row_end, int64_t c_begin,
                   int64_t c_end) {
  float* buffer = StagingBuffer(0);
  ForEachBlock(l, row_begin, row_end, c_begin, c_end, [&](const Block& b) {
    const int64_t run = b.rows * l.inner;
    ToBuffer(l, b, x, buffer);
    for (int64_t c = 0; c < b.channels; ++c) {
      float* data = buffer + c * BufferStride(l, b);
      kernel.forward(tables.unit(b.channel + c), data, data, run);
    }
    FromBuffer(l, b, buffer, y);
  });
}

// Backward of units [first, end), each over a run of n elements; run_of(u)
// gives unit u's run. Pairs of units share a kernel call where the kernel
// has a two-unit backward.
template <class RunOf>
void BackwardUnits(const PwluKernel& kernel, int64_t first, int64_t end,
                   int64_t n, const RunOf& run_of) {
  int64_t u = first;
  if (kernel.backward_two != nullptr) {
    for (; u + 1 < end; u += 2)
      kernel.backward_two(run_of(u), run_of(u + 1), n);
  }
  for (; u < end; ++u) {
    const PwluBackwardRun r = run_of(u);
    kernel.backward(r.table, r.x, r.dy, r.dx, n, r.sums);
  }
}

void BackwardStaged(const PwluKernel& kernel, const PwluTables& tables,
                    const ChannelLayout& l, const float* x, const float* dy,
                    float* dx, int64_t row_begin, int64_t row_end,
                    int64_t c_begin, int64_t c_end, int64_t sums_stride,
                    double* sums) {
  float* xs = StagingBuffer(0);
  float* gs = StagingBuffer(1);
  ForEachBlock(l, row_begin, row_end, c_begin, c_end, [&](const Block& b) {
    const int64_t run = b.rows * l.inner;
    const int64_t stride = BufferStride(l, b);
    ToBuffer(l, b, x, xs);
    ToBuffer(l, b, dy, gs);
    BackwardUnits(kernel, 0, b.channels, run, [&](int64_t c) {
      return PwluBackwardRun{tables.unit(b.channel + c), xs + c * stride,
                             gs + c * stride, gs + c * stride,
                             sums + (b.channel + c) * sums_stride};
    });
    FromBuffer(l, b, gs, dx);
  });
}

// Gives grad params' shape, reusing its storage when it already has it;
// GradientsFromSums writes every entry.
void ShapeGradients(const PwluParams& params, PwluParams* grad) {
  const int n = params.intervals;
  const int64_t units = params.units();
  grad->intervals = n;
  grad->left_bound.resize(units);
  grad->right_bound.resize(units);
  grad->values.resize(units * (n + 1));
  grad->left_slope.resize(units);
  grad->right_slope.resize(units);
}

// Turns per-region sums (see pwlu_kernels.h) into parameter gradients:
// interior region i with A = sum g, V = sum g * u and w = (A i + V) / N
// feeds
//   dY[i] += A - V, dY[i+1] += V, dB_L += -k_i (A - w), dB_R += -k_i w;
// the tails feed dY[0] / dY[N], dK = V and dB = -K * A.
// Units [first, end) only, so that workers owning whole channels turn their
// own sums into gradients. grad must already have params' shape
// (ShapeGradients).
inline __attribute__((always_inline)) void GradientsFromSumsBody(
    const PwluParams& params, const double* all_sums, int64_t sums_stride,
    int64_t first, int64_t end, PwluParams* grad) {
  const int n = params.intervals;
  const double inv_n = 1.0 / n;
  for (int64_t u = first; u < end; ++u) {
    const double* sums = all_sums + u * sums_stride;
    const float* values = params.unit_values(u);
    const double width =
        static_cast<double>(params.right_bound[u]) - params.left_bound[u];
    const double scale = n / width;
    const double a_left = sums[0];
    const double a_right = sums[2 * (n + 1)];
    // dY[j] = V[j-1] + (A[j] - V[j]) with the tails at the ends, each
    // written once (no chain through memory).
    float* gv = grad->values.data() + u * (n + 1);
    gv[0] = static_cast<float>(a_left + (sums[2] - sums[3]));
    for (int j = 1; j < n; ++j) {
      gv[j] = static_cast<float>(sums[2 * j + 1] +
                                 (sums[2 * (j + 1)] - sums[2 * (j + 1) + 1]));
    }
    gv[n] = static_cast<float>(sums[2 * n + 1] + a_right);
    // sum k_i A_i and sum k_i w_i in four interleaved partial sums (a fixed
    // order, so still deterministic), which vectorize.
    double ka[4] = {0, 0, 0, 0};
    double kw[4] = {0, 0, 0, 0};
    auto add = [&](int i, int l) {
      const double a = sums[2 * (i + 1)];
      const double v = sums[2 * (i + 1) + 1];
      const double slope =
          (static_cast<double>(values[i + 1]) - values[i]) * scale;
      ka[l] += slope * a;
      kw[l] += slope * ((a * i + v) * inv_n);
    };
    // Whole groups of four first, with the lane as a constant: written as
    // one loop over i & 3 it did not vectorize.
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      for (int l = 0; l < 4; ++l) add(i + l, l);
    }
    for (; i < n; ++i) add(i, i & 3);
    const double sum_ka = (ka[0] + ka[1]) + (ka[2] + ka[3]);
    const double sum_kw = (kw[0] + kw[1]) + (kw[2] + kw[3]);
    grad->left_bound[u] =
        static_cast<float>(-static_cast<double>(params.left_slope[u]) * a_left -
                           (sum_ka - sum_kw));
    grad->right_bound[u] = static_cast<float>(
        -static_cast<double>(params.right_slope[u]) * a_right - sum_kw);
    grad->left_slope[u] = static_cast<float>(sums[1]);
    grad->right_slope[u] = static_cast<float>(sums[2 * (n + 1) + 1]);
  }
}

// Built for AVX2 where the CPU has it, like the validation prefilter below.
__attribute__((target("avx2,fma"))) void GradientsFromSumsAvx2(
    const PwluParams& params, const double* all_sums, int64_t sums_stride,
    int64_t first, int64_t end, PwluParams* grad) {
  GradientsFromSumsBody(params, all_sums, sums_stride, first, end, grad);
}

void GradientsFromSums(const PwluParams& params, const double* all_sums,
                       int64_t sums_stride, int64_t first, int64_t end,
                       PwluParams* grad) {
  static const bool avx2 = PwluIsaSupported(PwluIsa::kAvx2);
  if (avx2) {
    GradientsFromSumsAvx2(params, all_sums, sums_stride, first, end, grad);
  } else {
    GradientsFromSumsBody(params, all_sums, sums_stride, first, end, grad);
  }
}

}  // namespace

PwluParams PwluParams::Zeros(int intervals, int64_t units) {
  PwluParams p;
  p.intervals = intervals;
  p.left_bound.assign(units, 0.0f);
  p.right_bound.assign(units, 0.0f);
  p.values.assign(units * (intervals + 1), 0.0f);
  p.left_slope.assign(units, 0.0f);
  p.right_slope.assign(units, 0.0f);
  return p;
}

namespace {

// The branch-free prefilter of ValidatePwluParams: true only if every
// check passes, finiteness included (float bounds with a factor-2 margin
// below the exact limits; NaN comparisons count as failures, and a
// non-finite Y makes some rise non-finite). Integer flags and no early exit
// let it vectorize.
inline __attribute__((always_inline)) bool PlausibleBody(
    const PwluParams& params) {
  const int n = params.intervals;
  const int64_t units = params.units();
  const float* left = params.left_bound.data();
  const float* right = params.right_bound.data();
  const float* kl = params.left_slope.data();
  const float* kr = params.right_slope.data();
  const float* values = params.values.data();
  const float nf = static_cast<float>(n);
  // Per-unit bounds, and the largest scale as float bits (non-negative
  // floats order like their bits; integer max vectorizes).
  int bad = 0;
  uint32_t max_scale = 0;
  for (int64_t u = 0; u < units; ++u) {
    // In float: a width that overflows gives scale 0, and then every slope
    // is far below the limit anyway.
    const float scale = nf / (right[u] - left[u]);
    // Integer | rather than ||: no branch per check, so the loop vectorizes.
    bad |= int{!(left[u] < right[u])} | int{!(scale < 0x1p125f)} |
           int{!(std::abs(left[u]) <= kFloatMax)} |
           int{!(std::abs(right[u]) <= kFloatMax)} |
           int{!(std::abs(kl[u]) < 5e37f)} | int{!(std::abs(kr[u]) < 5e37f)};
    uint32_t bits;
    std::memcpy(&bits, &scale, sizeof(bits));
    max_scale = bits > max_scale ? bits : max_scale;
  }
  // The largest |Y[j+1] - Y[j]| over the whole array, including the pairs
  // that straddle two units: an upper bound on every interval's rise.
  const int64_t count = units * (n + 1);
  uint32_t max_rise = 0;
  for (int64_t j = 0; j + 1 < count; ++j) {
    const float rise = std::abs(values[j + 1] - values[j]);
    uint32_t bits;
    std::memcpy(&bits, &rise, sizeof(bits));
    max_rise = bits > max_rise ? bits : max_rise;
  }
  float rise, scale;
  std::memcpy(&rise, &max_rise, sizeof(rise));
  std::memcpy(&scale, &max_scale, sizeof(scale));
  bad |= !(rise * scale < 5e37f);
  return bad == 0;
}

// Validation runs on every call, and the prefilter built for AVX2 takes a
// third of the time of the portable build (0.15 vs 0.5 us for 64 units of
// N = 16). A target attribute and a run-time check rather than
// target_clones, whose ifunc resolver runs before a ThreadSanitizer runtime
// starts and crashes instrumented binaries.
__attribute__((target("avx2,fma"))) bool PlausibleAvx2(
    const PwluParams& params) {
  return PlausibleBody(params);
}

bool Plausible(const PwluParams& params) {
  static const bool avx2 = PwluIsaSupported(PwluIsa::kAvx2);
  return avx2 ? PlausibleAvx2(params) : PlausibleBody(params);
}

}  // namespace

absl::Status ValidatePwluParams(const PwluParams& params) {
  const int n = params.intervals;
  if (n < kPwluMinIntervals || n > kPwluMaxIntervals) {
    return absl::InvalidArgumentError(
        absl::StrCat("intervals ", n, " is outside [", kPwluMinIntervals, ", ",
                     kPwluMaxIntervals, "]"));
  }
  const int64_t units = params.units();
  if (units == 0) return absl::InvalidArgumentError("left_bound is empty");
  for (absl::Status s :
       {CheckLength("right_bound", params.right_bound.size(), units),
        CheckLength("values", params.values.size(), units * (n + 1)),
        CheckLength("left_slope", params.left_slope.size(), units),
        CheckLength("right_slope", params.right_slope.size(), units)}) {
    if (!s.ok()) return s;
  }
  // Kernels rescale by powers of two up to 2^127 and slopes by up to 2, in
  // float: keep the derived values below the float range.
  constexpr double kMaxScale = 0x1p126;
  constexpr double kMaxSlope = 1e38;
  // Well-formed params pass the branch-free prefilter; only a failure takes
  // the exact passes below, which name the field.
  if (Plausible(params)) return absl::OkStatus();
  for (absl::Status s : {CheckFinite("left_bound", params.left_bound),
                         CheckFinite("right_bound", params.right_bound),
                         CheckFinite("values", params.values),
                         CheckFinite("left_slope", params.left_slope),
                         CheckFinite("right_slope", params.right_slope)}) {
    if (!s.ok()) return s;
  }
  for (int64_t u = 0; u < units; ++u) {
    const double left = params.left_bound[u];
    const double right = params.right_bound[u];
    if (!(left < right)) {
      return absl::InvalidArgumentError(
          absl::StrCat("left_bound[", u, "] = ", left,
                       " must be below right_bound[", u, "] = ", right));
    }
    const double scale = n / (right - left);
    if (scale > kMaxScale) {
      return absl::InvalidArgumentError(
          absl::StrCat("right_bound[", u, "] - left_bound[", u,
                       "] is too small for ", n, " intervals"));
    }
    const float* values = params.unit_values(u);
    for (int i = 0; i < n; ++i) {
      const double slope =
          (static_cast<double>(values[i + 1]) - values[i]) * scale;
      if (std::abs(slope) > kMaxSlope) {
        return absl::InvalidArgumentError(absl::StrCat(
            "values[", u * (n + 1) + i + 1, "]: the slope of its interval ",
            "exceeds ", kMaxSlope, " in magnitude"));
      }
    }
    if (std::abs(params.left_slope[u]) > kMaxSlope) {
      return absl::InvalidArgumentError(absl::StrCat(
          "left_slope[", u, "] exceeds ", kMaxSlope, " in magnitude"));
    }
    if (std::abs(params.right_slope[u]) > kMaxSlope) {
      return absl::InvalidArgumentError(absl::StrCat(
          "right_slope[", u, "] exceeds ", kMaxSlope, " in magnitude"));
    }
  }
  return absl::OkStatus();
}

// With many channels, workers own whole channels and build only their own
// units' tables, so table building is parallel too (when params change,
// it costs about as much as a small tensor). A single worker goes channel
// by channel as well, so that the backward can take channels in pairs.
bool ByChannel(int workers, int64_t units) { return units >= 4 * workers; }

absl::Status PwluForwardWithKernel(const PwluKernel& kernel,
                                   const PwluParams& params,
                                   const ChannelLayout& layout, const float* x,
                                   float* y) {
  PreparedTables& prepared = ThreadPrepared(/*backward=*/false);
  const bool ready = prepared.Matches(params, kernel.forward_tables);
  if (absl::Status s = CheckRequest(kernel, params, layout,
                                    x != nullptr && y != nullptr, ready);
      !s.ok()) {
    return s;
  }
  const ChannelLayout l = EffectiveLayout(params, layout);
  const int64_t size = l.size();
  if (size == 0) return absl::OkStatus();
  const int64_t units = params.units();
  const int workers = Workers(size);
  PwluTables& tables =
      ready ? prepared.tables() : prepared.Reset(params, kernel.forward_tables);
  tables.set_stream_stores(!Staged(l) && size >= kStreamElements);
  if (ByChannel(workers, units)) {
    RunWorkers(workers, [&](int w) {
      const int64_t c_begin = SplitPoint(units, workers, w, 1);
      const int64_t c_end = SplitPoint(units, workers, w + 1, 1);
      if (!ready) tables.Build(params, c_begin, c_end);
      if (Staged(l)) {
        ForwardStaged(kernel, tables, l, x, y, 0, l.outer, c_begin, c_end);
        return;
      }
      for (int64_t o = 0; o < l.outer; ++o) {
        for (int64_t c = c_begin; c < c_end; ++c) {
          const int64_t pos = (o * l.channels + c) * l.inner;
          kernel.forward(tables.unit(c), x + pos, y + pos, l.inner);
        }
      }
    });
  } else if (!Staged(l)) {
    if (!ready) tables.Build(params, 0, units);
    RunWorkers(workers, [&](int w) {
      ForEachRun(l, SplitPoint(size, workers, w, kSplitAlign),
                 SplitPoint(size, workers, w + 1, kSplitAlign),
                 [&](int64_t c, int64_t pos, int64_t len) {
                   kernel.forward(tables.unit(c), x + pos, y + pos, len);
                 });
    });
  } else {
    // Few channels: split rows (a staged tensor this large has many).
    if (!ready) tables.Build(params, 0, units);
    RunWorkers(workers, [&](int w) {
      ForwardStaged(kernel, tables, l, x, y, SplitPoint(l.outer, workers, w, 1),
                    SplitPoint(l.outer, workers, w + 1, 1), 0, l.channels);
    });
  }
  if (!ready) prepared.Keep(params);
  return absl::OkStatus();
}

absl::Status PwluBackwardWithKernel(const PwluKernel& kernel,
                                    const PwluParams& params,
                                    const ChannelLayout& layout, const float* x,
                                    const float* dy, float* dx,
                                    PwluParams* grad) {
  if (grad == nullptr) return absl::InvalidArgumentError("grad is null");
  PreparedTables& prepared = ThreadPrepared(/*backward=*/true);
  const bool ready = prepared.Matches(params, kernel.backward_tables);
  if (absl::Status s =
          CheckRequest(kernel, params, layout,
                       x != nullptr && dy != nullptr && dx != nullptr, ready);
      !s.ok()) {
    return s;
  }
  const ChannelLayout l = EffectiveLayout(params, layout);
  const int64_t size = l.size();
  const int64_t units = params.units();
  const int64_t stride = 2 * (params.intervals + 2);
  std::vector<double> sums(units * stride, 0.0);
  int workers = Workers(size);

  ShapeGradients(params, grad);
  PwluTables& tables = ready ? prepared.tables()
                             : prepared.Reset(params, kernel.backward_tables);
  tables.set_stream_stores(!Staged(l) && size >= kStreamElements);
  if (ByChannel(workers, units)) {
    // Each worker owns whole channels: no reduction needed.
    RunWorkers(workers, [&](int w) {
      const int64_t c_begin = SplitPoint(units, workers, w, 1);
      const int64_t c_end = SplitPoint(units, workers, w + 1, 1);
      if (!ready) tables.Build(params, c_begin, c_end);
      if (Staged(l)) {
        BackwardStaged(kernel, tables, l, x, dy, dx, 0, l.outer, c_begin, c_end,
                       stride, sums.data());
      } else {
        for (int64_t o = 0; o < l.outer; ++o) {
          BackwardUnits(kernel, c_begin, c_end, l.inner, [&](int64_t c) {
            const int64_t pos = (o * l.channels + c) * l.inner;
            return PwluBackwardRun{tables.unit(c), x + pos, dy + pos, dx + pos,
                                   sums.data() + c * stride};
          });
        }
      }
      GradientsFromSums(params, sums.data(), stride, c_begin, c_end, grad);
    });
    if (!ready) prepared.Keep(params);
    return absl::OkStatus();
  }
  if (!ready) tables.Build(params, 0, units);
  if (Staged(l) && l.outer < workers) workers = 1;
  // Per-worker partial sums, added in worker order.
  std::vector<double> partial(workers * units * stride, 0.0);
  RunWorkers(workers, [&](int w) {
    double* mine = partial.data() + w * units * stride;
    if (Staged(l)) {
      BackwardStaged(
          kernel, tables, l, x, dy, dx, SplitPoint(l.outer, workers, w, 1),
          SplitPoint(l.outer, workers, w + 1, 1), 0, l.channels, stride, mine);
      return;
    }
    ForEachRun(l, SplitPoint(size, workers, w, kSplitAlign),
               SplitPoint(size, workers, w + 1, kSplitAlign),
               [&](int64_t c, int64_t pos, int64_t len) {
                 kernel.backward(tables.unit(c), x + pos, dy + pos, dx + pos,
                                 len, mine + c * stride);
               });
  });
  for (int w = 0; w < workers; ++w) {
    const double* p = partial.data() + w * units * stride;
    for (int64_t j = 0; j < units * stride; ++j) sums[j] += p[j];
  }
  GradientsFromSums(params, sums.data(), stride, 0, units, grad);
  if (!ready) prepared.Keep(params);
  return absl::OkStatus();
}

absl::Status PwluForward(const PwluParams& params, const ChannelLayout& layout,
                         const float* x, float* y) {
  return PwluForwardWithKernel(PwluSelectKernel(params.intervals), params,
                               layout, x, y);
}

absl::Status PwluBackward(const PwluParams& params, const ChannelLayout& layout,
                          const float* x, const float* dy, float* dx,
                          PwluParams* grad) {
  return PwluBackwardWithKernel(PwluSelectKernel(params.intervals), params,
                                layout, x, dy, dx, grad);
}

const char* PwluKernelName(int intervals) {
  return PwluSelectKernel(intervals).name;
}

}  // namespace actlab
