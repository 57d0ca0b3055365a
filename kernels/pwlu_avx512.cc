// Copyright actlab authors.
//
// AVX-512 PWLU kernels. Compiled with AVX-512 flags (kernels/CMakeLists.txt);
// only reached after PwluIsaSupported(PwluIsa::kAvx512).
//
// Forward. "regtable" (N <= 30) and "regtable64" (N <= 64) keep the
// base-point tables (pwlu_kernels.h) in one, two or four zmm registers per
// table: one FMA, a one-sided clamp and an unsigned rounding conversion
// give the region, three permutexvar / permutex2var lookups, a subtraction
// and an FMA the value (8 vector ops; the two-sided clamp took 9, ~6.4
// against ~5.9 cycles per 16 elements here, and the lerp form 12). Four
// registers add a blend on bit 5 of the index per lookup; for N > 61 the
// registers hold the N interval entries and the tails come from two exact
// compares on x. "gather" reads the lerp tables with vgatherdps for any N:
// two gathers instead of three.
//
// Backward classifies regions with exact compares (x == B_L is interior,
// x == B_R the right tail), writes dx, and stages each vector's regions and
// (g, g * v) values in a small ring; scalar code adds them into float
// histograms of the per-region sums, six vectors behind the vector work so
// the two overlap in the core, and folds them into double every few
// thousand elements. For N <= 29 the histogram is 2-D: lanes e and e + 8
// form a pair keyed by both regions, one 16-byte update per two elements
// (PairHistogram). Two channels of the same run length can share one pair
// histogram, an element of each per pair (BackwardTwo), so that they share
// its clear and fold. Larger N use lane-private 1-D copies, one 8-byte
// update per element (LaneHistogram). On this machine (Zen 4 under KVM), 32K
// elements of N = 16 in L2 take ~13 us on one core: the vector stage ~7
// (about 20 zmm operations a vector, which is what this core sustains at
// two a cycle), the pair updates ~4 and the folds ~1.3; the 1-D histogram
// took ~16. Measured slower: taking regions and values straight from
// registers (extracts), masked per-region compares (three vector operations
// per region per vector), per-lane histograms updated with vgatherdpd /
// vscatterdpd (1.7x slower than the scalar stream), regions from t as in
// the forward's base-point form (fewer masks, four table lookups), and
// 16-bit keys (fewer loads, more ALU work).

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/pwlu_kernels.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and then warn
// about it at every inlined use (GCC bug 105593); the values are fully
// written by the instruction.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace actlab {
namespace {

constexpr int kLanes = 16;
// Backward's software prefetch of x and dy: into L1 2 KiB ahead and into
// L2 16 KiB ahead. The scalar histogram stream fills the out-of-order
// window, so the core cannot run ahead to the next cache misses on its own:
// the L1 prefetch took backward on 64 MiB from ~27 to ~17 ns per 16
// elements, and the L2 one (whose miss buffers outnumber L1's) a further
// ~13% at two threads. Forward keeps no prefetch: its short loop lets the
// hardware prefetchers run ahead, and software prefetches there cost ~12%
// on 64 MiB.
inline void Prefetch(const float* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + 512), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(p + 4096), _MM_HINT_T1);
}
constexpr int kMaxRegions = kPwluMaxIntervals + 2;
// Largest histogram: 4 copies of N + 3 regions rounded up to 8 (gather,
// large N).
constexpr int kMaxStride = (kMaxRegions + 1 + 7) / 8 * 8;
constexpr int kHistogramFloats = 4 * 2 * kMaxStride;

// One, two or four zmm registers holding a table of up to 16, 32 or 64
// entries. Four registers take two permutex2var and a blend on bit 5 of the
// index.
template <int kRegs>
class RegisterTable {
 public:
  // Tables are padded to at least 32 entries, 64 beyond 31 (PwluTableStride).
  explicit RegisterTable(const float* t) {
    for (int j = 0; j < kLoaded; ++j) t_[j] = _mm512_loadu_ps(t + j * kLanes);
  }

  // The table with entry 0 also in the last entry (16 kRegs - 1), where an
  // index of all ones lands.
  static RegisterTable WithLeftInLast(const float* t) {
    RegisterTable table(t);
    __m512& last = table.t_[kRegs - 1];
    last = _mm512_mask_mov_ps(last, static_cast<__mmask16>(1u << (kLanes - 1)),
                              _mm512_set1_ps(t[0]));
    return table;
  }

  __m512 operator()(__m512i r) const {
    if constexpr (kRegs == 1) {
      return _mm512_permutexvar_ps(r, t_[0]);
    } else if constexpr (kRegs == 2) {
      return _mm512_permutex2var_ps(t_[0], r, t_[1]);
    } else {
      const __mmask16 upper =
          _mm512_test_epi32_mask(r, _mm512_set1_epi32(2 * kLanes));
      return _mm512_mask_blend_ps(upper,
                                  _mm512_permutex2var_ps(t_[0], r, t_[1]),
                                  _mm512_permutex2var_ps(t_[2], r, t_[3]));
    }
  }

 private:
  static constexpr int kLoaded = kRegs == 4 ? 4 : 2;
  __m512 t_[kLoaded];
};

class GatherTable {
 public:
  explicit GatherTable(const float* t) : t_(t) {}
  __m512 operator()(__m512i r) const { return _mm512_i32gather_ps(r, t_, 4); }

 private:
  const float* t_;
};

template <class Table>
class LerpForward {
 public:
  explicit LerpForward(const PwluUnitTable& t)
      : y_(t.lerp_y()),
        d_(t.lerp_d()),
        scale_(_mm512_set1_ps(t.t_scale())),
        offset_(_mm512_set1_ps(t.t_offset())),
        unscale_(_mm512_set1_ps(t.t_unscale())),
        minus_rescale_(_mm512_set1_ps(-t.t_rescale())),
        low_(_mm512_set1_ps(t.t_low())),
        high_(_mm512_set1_ps(t.t_high())),
        last_(_mm512_set1_ps(static_cast<float>(t.intervals + 1))) {}

  __m512 operator()(__m512 x) const {
    __m512 ts = _mm512_fmadd_ps(x, scale_, offset_);
    // max / min return their second operand for NaN: NaN stays in ts but
    // becomes region 0 in the index.
    ts = _mm512_min_ps(high_, _mm512_max_ps(low_, ts));
    __m512 index = _mm512_mul_ps(ts, unscale_);
    index = _mm512_min_ps(_mm512_max_ps(index, _mm512_setzero_ps()), last_);
    const __m512 rf =
        _mm512_roundscale_ps(index, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512i r = _mm512_cvttps_epi32(rf);
    const __m512 u = _mm512_fmadd_ps(rf, minus_rescale_, ts);
    return _mm512_fmadd_ps(d_(r), u, y_(r));
  }

 private:
  Table y_, d_;
  __m512 scale_, offset_, unscale_, minus_rescale_, low_, high_, last_;
};

// The base-point form (pwlu_kernels.h): one FMA, a clamp and a rounding
// conversion give the region, three lookups, a subtraction and an FMA the
// value. The clamp is only from above: converted to unsigned, every t < 0
// is out of range and becomes all ones (the integer indefinite), whose low
// bits index the last table entry, a copy of the left tail's. Regions 0 to
// N + 1 and that copy fit 16 kRegs entries for N <= 16 kRegs - 3. kClamp
// bounds x for flat tails.
template <int kRegs, bool kClamp>
class BaseForward {
 public:
  static constexpr int kMaxIntervals = 16 * kRegs - 3;

  explicit BaseForward(const PwluUnitTable& t)
      : p_(RegisterTable<kRegs>::WithLeftInLast(t.base_p())),
        y_(RegisterTable<kRegs>::WithLeftInLast(t.base_y())),
        k_(RegisterTable<kRegs>::WithLeftInLast(t.base_k())),
        scale_(_mm512_set1_ps(t.base_scale())),
        offset_(_mm512_set1_ps(t.base_offset())),
        low_(_mm512_set1_ps(t.x_low())),
        high_(_mm512_set1_ps(t.x_high())),
        last_(_mm512_set1_ps(static_cast<float>(t.intervals + 1))) {}

  __m512 operator()(__m512 x) const {
    if constexpr (kClamp) {
      // max / min return their second operand for NaN: NaN stays NaN.
      x = _mm512_min_ps(high_, _mm512_max_ps(low_, x));
    }
    // NaN t becomes the right tail's region; x - p keeps the NaN.
    const __m512 t = _mm512_min_ps(_mm512_fmadd_ps(x, scale_, offset_), last_);
    const __m512i r =
        _mm512_cvt_roundps_epu32(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    return _mm512_fmadd_ps(k_(r), _mm512_sub_ps(x, p_(r)), y_(r));
  }

 private:
  RegisterTable<kRegs> p_, y_, k_;
  __m512 scale_, offset_, low_, high_, last_;
};

// BaseForward for N > 61 (N <= 64): four-register tables of
// the N interval entries (1..N), the tails from exact compares on x
// (x < B_L left, x >= B_R right, neither for NaN).
template <bool kClamp>
class BaseForwardTails {
 public:
  explicit BaseForwardTails(const PwluUnitTable& t)
      : p_(t.base_p() + 1),
        y_(t.base_y() + 1),
        k_(t.base_k() + 1),
        scale_(_mm512_set1_ps(t.base_scale())),
        offset_(_mm512_set1_ps(t.base_offset() - 1.0f)),
        low_(_mm512_set1_ps(t.x_low())),
        high_(_mm512_set1_ps(t.x_high())),
        last_(_mm512_set1_ps(static_cast<float>(t.intervals - 1))),
        left_p_(_mm512_set1_ps(t.base_p()[0])),
        left_y_(_mm512_set1_ps(t.base_y()[0])),
        left_k_(_mm512_set1_ps(t.base_k()[0])),
        right_p_(_mm512_set1_ps(t.base_p()[t.intervals + 1])),
        right_y_(_mm512_set1_ps(t.base_y()[t.intervals + 1])),
        right_k_(_mm512_set1_ps(t.base_k()[t.intervals + 1])) {}

  __m512 operator()(__m512 x) const {
    if constexpr (kClamp) {
      x = _mm512_min_ps(high_, _mm512_max_ps(low_, x));
    }
    __m512 t = _mm512_fmadd_ps(x, scale_, offset_);
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), last_);
    const __m512i i =
        _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __mmask16 below = _mm512_cmp_ps_mask(x, left_p_, _CMP_LT_OQ);
    const __mmask16 above = _mm512_cmp_ps_mask(x, right_p_, _CMP_GE_OQ);
    auto pick = [&](const RegisterTable<4>& table, __m512 left, __m512 right) {
      return _mm512_mask_mov_ps(_mm512_mask_mov_ps(table(i), below, left),
                                above, right);
    };
    const __m512 p = pick(p_, left_p_, right_p_);
    return _mm512_fmadd_ps(pick(k_, left_k_, right_k_), _mm512_sub_ps(x, p),
                           pick(y_, left_y_, right_y_));
  }

 private:
  RegisterTable<4> p_, y_, k_;
  __m512 scale_, offset_, low_, high_, last_;
  __m512 left_p_, left_y_, left_k_, right_p_, right_y_, right_k_;
};

template <class Forward>
void ForwardMasked(const Forward& f, const float* x, float* y, int64_t n) {
  for (int64_t e = 0; e < n; e += kLanes) {
    const __mmask16 m = n - e >= kLanes
                            ? static_cast<__mmask16>(0xFFFF)
                            : static_cast<__mmask16>((1u << (n - e)) - 1);
    _mm512_mask_storeu_ps(y + e, m, f(_mm512_maskz_loadu_ps(m, x + e)));
  }
}

template <class Forward>
void ForwardLoop(const PwluUnitTable& table, const float* x, float* y,
                 int64_t n) {
  const Forward f(table);
  int64_t e = 0;
  if (table.stream_stores) {
    // Non-temporal stores need 64-byte alignment: a masked head gets there.
    const int64_t misaligned = reinterpret_cast<uintptr_t>(y) % 64 / 4;
    const int64_t head = misaligned == 0 ? 0 : kLanes - misaligned;
    e = head < n ? head : n;
    ForwardMasked(f, x, y, e);
    for (; e + kLanes <= n; e += kLanes) {
      _mm512_stream_ps(y + e, f(_mm512_loadu_ps(x + e)));
    }
    ForwardMasked(f, x + e, y + e, n - e);
    _mm_sfence();
    return;
  }
  for (; e + 2 * kLanes <= n; e += 2 * kLanes) {
    const __m512 a = _mm512_loadu_ps(x + e);
    const __m512 b = _mm512_loadu_ps(x + e + kLanes);
    _mm512_storeu_ps(y + e, f(a));
    _mm512_storeu_ps(y + e + kLanes, f(b));
  }
  ForwardMasked(f, x + e, y + e, n - e);
}

// What a backward stage hands the histogram for one vector: each lane's
// region, its g and g * v. Region N + 2 is a trash slot for elements that
// must not count (x NaN or +-inf); it is never folded.
struct StagedVector {
  __m512i region;
  __m512 g;
  __m512 gv;
};

// One ring slot of staged vectors for the scalar histogram stream: 32 bytes
// of keys and 32 floats (plus padding) of values, in the layout the
// histogram's Stage writes and its Add reads.
struct Staged {
  uint32_t* keys;
  float* values;
};

// How a vector's dx is written: all 16 lanes, all 16 lanes with a
// non-temporal store (64-byte aligned), or the lanes in the mask.
enum class Store { kFull, kStream, kMasked };

// Writes dx = slope * g (NaN where x is NaN) and returns what the histogram
// needs.
template <Store kStore>
StagedVector Finish(__mmask16 m, __m512 x, __m512 g, __m512i region,
                    __m512 slope, __m512 v, __m512i trash, float* dx) {
  // fpclass 0x99: QNaN, SNaN, +inf, -inf. Vectors without any take the
  // short path: two fewer vector operations of the stage's ~20.
  const __mmask16 odd = _mm512_fpclass_ps_mask(x, 0x99);
  __m512 dxv;
  if (__builtin_expect(odd == 0, 1)) {
    dxv = _mm512_mul_ps(slope, g);
  } else {
    dxv = _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), slope, g);
    region = _mm512_mask_mov_epi32(region, odd, trash);
  }
  if constexpr (kStore == Store::kFull) {
    _mm512_storeu_ps(dx, dxv);
  } else if constexpr (kStore == Store::kStream) {
    _mm512_stream_ps(dx, dxv);
  } else {
    _mm512_mask_storeu_ps(dx, m, dxv);
  }
  return {region, g, _mm512_mul_ps(g, v)};
}

// Lanes outside m read as x = 0, g = 0 and so add exact zeros.
template <Store kStore>
__m512 Load(__mmask16 m, const float* p) {
  if constexpr (kStore == Store::kMasked) {
    return _mm512_maskz_loadu_ps(m, p);
  } else {
    return _mm512_loadu_ps(p);
  }
}

// Exact region classification shared by the backward stages: x == B_L is
// interior, x == B_R the right tail.
class Regions {
 public:
  explicit Regions(const PwluUnitTable& t)
      : left_(_mm512_set1_ps(t.left_bound())),
        right_(_mm512_set1_ps(t.right_bound())),
        scale_(_mm512_set1_ps(t.scale())),
        last_(_mm512_set1_epi32(t.intervals - 1)),
        right_region_(_mm512_set1_epi32(t.intervals + 1)),
        trash_(_mm512_set1_epi32(t.intervals + 2)) {}

  // (x - B_L) * scale given s = x - B_L.
  __m512 t(__m512 s) const { return _mm512_mul_ps(s, scale_); }
  // The interval of t clamped to at most N - 1. Truncation is floor for
  // t >= 0; lanes with t < 0 are left-tail lanes, and out-of-range and NaN
  // t (INT_MIN) are tail or trash lanes: the masks override them all.
  __m512i Interval(__m512 t) const {
    return _mm512_min_epi32(_mm512_cvttps_epi32(t), last_);
  }
  __mmask16 Below(__m512 x) const {
    return _mm512_cmp_ps_mask(x, left_, _CMP_LT_OQ);
  }
  __mmask16 Above(__m512 x) const {
    return _mm512_cmp_ps_mask(x, right_, _CMP_GE_OQ);
  }

  __m512 left() const { return left_; }
  __m512 right() const { return right_; }
  __m512i right_region() const { return right_region_; }
  __m512i trash() const { return trash_; }

 private:
  __m512 left_, right_, scale_;
  __m512i last_, right_region_, trash_;
};

// Register tables. permutexvar / permutex2var read only the low bits of the
// region, so out-of-range indices of lanes the masks override are harmless.
// v = t - i inside (t carries at most a few ulps of N + 1 <= 31, so u is
// good to ~2e-6), x - B on the tails. An x just below B_R whose t rounds up
// to N lands in the right tail with v = 0 rather than in interval N - 1
// with u = 1: the same Y gradient, and the slope of the tail instead of the
// interval's, as for any element t rounds across a breakpoint. Skipping
// the clamp to N - 1 and taking v with one vreduceps saves two of the
// stage's ~23 vector operations. kTails (N + 2 > 64): the table holds the
// N <= 64 interval slopes only (entries 1..N, indexed by the interval) and
// the tails come from the masks.
template <int kRegs, bool kTails = false>
class RegisterStage {
 public:
  explicit RegisterStage(const PwluUnitTable& t)
      : regions_(t),
        k_(kTails ? t.k() + 1 : t.k()),
        left_slope_(_mm512_set1_ps(t.k()[0])),
        right_slope_(_mm512_set1_ps(t.k()[t.intervals + 1])) {}

  template <Store kStore>
  StagedVector Run(__mmask16 m, const float* x, const float* dy,
                   float* dx) const {
    const __m512 xv = Load<kStore>(m, x);
    const __m512 g = Load<kStore>(m, dy);
    const __m512 s = _mm512_sub_ps(xv, regions_.left());
    const __m512 t = regions_.t(s);
    // Not clamped to N - 1 (see the class comment); v = t - floor(t).
    const __m512i i = _mm512_cvttps_epi32(t);
    const __mmask16 below = regions_.Below(xv);
    const __mmask16 above = regions_.Above(xv);
    __m512i r = _mm512_add_epi32(i, _mm512_set1_epi32(1));
    r = _mm512_maskz_mov_epi32(static_cast<__mmask16>(~below), r);
    r = _mm512_mask_mov_epi32(r, above, regions_.right_region());
    __m512 v = _mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    v = _mm512_mask_mov_ps(v, below, s);
    v = _mm512_mask_sub_ps(v, above, xv, regions_.right());
    __m512 slope;
    if constexpr (kTails) {
      slope = _mm512_mask_mov_ps(k_(i), below, left_slope_);
      slope = _mm512_mask_mov_ps(slope, above, right_slope_);
    } else {
      slope = k_(r);
    }
    return Finish<kStore>(m, xv, g, r, slope, v, regions_.trash(), dx);
  }

 private:
  Regions regions_;
  RegisterTable<kRegs> k_;
  __m512 left_slope_, right_slope_;
};

// Any N: v = (x - p) * s + c from the compensated tables, which keeps u
// accurate when N is large. Gathers read memory, so every index is clamped
// into the table before the masks pick the tails.
class GatherStage {
 public:
  explicit GatherStage(const PwluUnitTable& t)
      : regions_(t), p_(t.p()), k_(t.k()), s_(t.s()), c_(t.c()) {}

  template <Store kStore>
  StagedVector Run(__mmask16 m, const float* x, const float* dy,
                   float* dx) const {
    const __m512 xv = Load<kStore>(m, x);
    const __m512 g = Load<kStore>(m, dy);
    const __m512i i = _mm512_max_epi32(
        regions_.Interval(regions_.t(_mm512_sub_ps(xv, regions_.left()))),
        _mm512_setzero_si512());
    __m512i r = _mm512_add_epi32(i, _mm512_set1_epi32(1));
    r = _mm512_mask_mov_epi32(r, regions_.Below(xv), _mm512_setzero_si512());
    r = _mm512_mask_mov_epi32(r, regions_.Above(xv), regions_.right_region());
    const __m512 v = _mm512_fmadd_ps(_mm512_sub_ps(xv, p_(r)), s_(r), c_(r));
    return Finish<kStore>(m, xv, g, r, k_(r), v, regions_.trash(), dx);
  }

 private:
  Regions regions_;
  GatherTable p_, k_, s_, c_;
};

// A zero the compiler cannot see through: clearing loops with a visible
// zero become rep stos or memset calls with a long startup (and, inside a
// kernel, spills of every live register around the call).
__m512 HiddenZero() {
  __m512 zero = _mm512_setzero_ps();
  asm("" : "+v"(zero));
  return zero;
}

// Per-region sums through one 8-byte load, add and store per element into
// lane-private copies kStride pairs apart: lane e uses copy e % kCopies, so
// the lanes of a vector never conflict, and a copy's consecutive updates
// are a vector apart. For any N the kernels support.
template <int kCopies, int kStride>
class LaneHistogram {
 public:
  // Elements between folds into double: each float sum then holds at most
  // kFold / 16 terms.
  static constexpr int64_t kFold = 4096;
  static_assert(kStride % 8 == 0 && kCopies * kStride * 2 <= kHistogramFloats);

  explicit LaneHistogram(int regions) : regions_(regions) { Clear(); }

  // Keys: each lane's region as 16 bits in lane order; values: the (g, g v)
  // pairs in the order unpacklo / unpackhi leave them.
  static void Stage(const StagedVector& sv, Staged out) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.keys),
                        _mm512_cvtepi32_epi16(sv.region));
    _mm512_storeu_ps(out.values, _mm512_unpacklo_ps(sv.g, sv.gv));
    _mm512_storeu_ps(out.values + kLanes, _mm512_unpackhi_ps(sv.g, sv.gv));
  }

  // The regions come in as four 8-byte words and are taken apart with
  // shifts, and the copy and pair offsets are constants: only the histogram
  // and the pairs are loaded per element.
  void Add(Staged in) {
    double* h = reinterpret_cast<double*>(h_);
    const double* p = reinterpret_cast<const double*>(in.values);
    uint64_t words[4];
    std::memcpy(words, in.keys, sizeof(words));
#pragma GCC unroll 16
    for (int e = 0; e < kLanes; ++e) {
      const int r = static_cast<int>((words[e / 4] >> (16 * (e % 4))) & 0xFFFF);
      // unpacklo holds the pairs of lanes 0, 1, 4, 5, ..., unpackhi 2, 3, 6, 7.
      const int pair = (e & 2) * 4 + (e >> 2) * 2 + (e & 1);
      double* slot = h + (e % kCopies) * kStride + r;
      // The 16-byte load also reads the next pair (the ring is padded); only
      // the low pair is stored, and the load folds into the add.
      const __m128 sum = _mm_add_ps(
          _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<__m128i*>(slot))),
          _mm_loadu_ps(reinterpret_cast<const float*>(p + pair)));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(slot), _mm_castps_si128(sum));
    }
  }

  // Adds the copies together in float, in copy order (deterministic), then
  // into sums in double, and clears them unless this is the last fold.
  void Fold(bool clear, double* sums) {
    for (int j = 0; j < 2 * regions_; j += kLanes) {
      __m512 total = _mm512_load_ps(h_ + j);
      for (int copy = 1; copy < kCopies; ++copy) {
        total = _mm512_add_ps(total, _mm512_load_ps(h_ + copy * kWidth + j));
      }
      alignas(64) float lanes[kLanes];
      _mm512_store_ps(lanes, total);
      const int end = 2 * regions_ - j < kLanes ? 2 * regions_ - j : kLanes;
      for (int l = 0; l < end; ++l) sums[j + l] += lanes[l];
    }
    if (clear) Clear();
  }

 private:
  static constexpr int kWidth = 2 * kStride;
  // The floats of each copy that can be nonzero: the regions and the trash
  // slot.
  void Clear() {
    const __m512 zero = HiddenZero();
    const int vectors = (2 * (regions_ + 1) + 15) / 16;
    for (int copy = 0; copy < kCopies; ++copy) {
      for (int j = 0; j < vectors; ++j) {
        _mm512_store_ps(h_ + copy * kWidth + j * kLanes, zero);
      }
    }
  }

  int regions_;
  alignas(64) float h_[kCopies * kWidth];
};

// Per-region sums for up to 4 kRowVectors regions (the trash slot
// included), two elements per update: lanes e and e + 8 form a pair whose
// regions (r, r') index a 2-D histogram of (sum g, sum g v for r; the same
// for r') entries, updated with one 16-byte load, add and store. That
// halves the scalar stream, and two updates in flight meet on one entry
// far more rarely than on a 1-D slot, so no lane-private copies are needed.
// Folding sums each row's first half (region r) and each column's second
// half (region r'); kRowVectors is a constant so that the column sums stay
// in registers (a fold with them in memory cost ~190 ns, as much as
// staging 1000 elements).
template <int kRowVectors>
class PairHistogram {
 public:
  static_assert(kRowVectors >= 1 && kRowVectors <= 8);
  // Regions the histogram takes, the trash slot not counted.
  static constexpr int kMaxRegions = 4 * kRowVectors - 1;
  // Each float entry then holds at most 1024 terms, so float rounding stays
  // below 1024 * 2^-24 (6e-5) of the terms' magnitude.
  static constexpr int64_t kFold = 2048;

  explicit PairHistogram(int regions) : regions_(regions) {
    const __m512 zero = HiddenZero();
    for (int r = 0; r <= regions_; ++r) {
      for (int k = 0; k < kRowVectors; ++k) {
        _mm512_store_ps(h_ + r * kRowFloats + k * kLanes, zero);
      }
    }
  }

  // Keys: the entry's byte offset for pairs (e, e + 8), 8 x 32 bits; values:
  // the entries' addends (g_e, gv_e, g_e+8, gv_e+8) in pair order.
  static void Stage(const StagedVector& sv, Staged out) {
    static_assert(kRowFloats * sizeof(float) == 1 << 9);
    const __m512i shifted = _mm512_sllv_epi32(
        sv.region,
        _mm512_set_epi32(4, 4, 4, 4, 4, 4, 4, 4, 9, 9, 9, 9, 9, 9, 9, 9));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.keys),
                        _mm256_or_si256(_mm512_castsi512_si256(shifted),
                                        _mm512_extracti32x8_epi32(shifted, 1)));
    const __m512i first = _mm512_set_epi32(27, 11, 19, 3, 26, 10, 18, 2, 25, 9,
                                           17, 1, 24, 8, 16, 0);
    const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(4));
    _mm512_storeu_ps(out.values, _mm512_permutex2var_ps(sv.g, first, sv.gv));
    _mm512_storeu_ps(out.values + kLanes,
                     _mm512_permutex2var_ps(sv.g, second, sv.gv));
  }

  void Add(Staged in) {
    char* base = reinterpret_cast<char*>(h_);
#pragma GCC unroll 8
    for (int j = 0; j < kLanes / 2; ++j) {
      float* entry = reinterpret_cast<float*>(base + in.keys[j]);
      _mm_storeu_ps(entry, _mm_add_ps(_mm_loadu_ps(entry),
                                      _mm_loadu_ps(in.values + 4 * j)));
    }
  }

  // Row sums and column sums in float, in a fixed order (deterministic),
  // then into sums in double; each vector is cleared as it is read unless
  // this is the last fold. The trash row and column are never read out.
  void Fold(bool clear, double* sums) { Fold(clear, sums, sums); }

  // Two units at once (BackwardTwo): element e of a vector of unit a pairs
  // with element e of unit b's vector. Keys: 16 x 32 bits; values: four
  // vectors of pairs 4q + k at 16 k + 4 q, as the unpacks leave them.
  static void StageTwo(const StagedVector& a, const StagedVector& b,
                       Staged out) {
    _mm512_storeu_si512(out.keys,
                        _mm512_or_si512(_mm512_slli_epi32(a.region, 9),
                                        _mm512_slli_epi32(b.region, 4)));
    const __m512d la = _mm512_castps_pd(_mm512_unpacklo_ps(a.g, a.gv));
    const __m512d ha = _mm512_castps_pd(_mm512_unpackhi_ps(a.g, a.gv));
    const __m512d lb = _mm512_castps_pd(_mm512_unpacklo_ps(b.g, b.gv));
    const __m512d hb = _mm512_castps_pd(_mm512_unpackhi_ps(b.g, b.gv));
    _mm512_storeu_pd(out.values, _mm512_unpacklo_pd(la, lb));
    _mm512_storeu_pd(out.values + kLanes, _mm512_unpackhi_pd(la, lb));
    _mm512_storeu_pd(out.values + 2 * kLanes, _mm512_unpacklo_pd(ha, hb));
    _mm512_storeu_pd(out.values + 3 * kLanes, _mm512_unpackhi_pd(ha, hb));
  }

  void AddTwo(Staged in) {
    char* base = reinterpret_cast<char*>(h_);
#pragma GCC unroll 16
    for (int j = 0; j < kLanes; ++j) {
      float* entry = reinterpret_cast<float*>(base + in.keys[j]);
      const float* add = in.values + 16 * (j % 4) + 4 * (j / 4);
      _mm_storeu_ps(entry, _mm_add_ps(_mm_loadu_ps(entry), _mm_loadu_ps(add)));
    }
  }

  // Fold with the row sums (the first element's regions) going to rows and
  // the column sums to columns.
  void Fold(bool clear, double* rows, double* columns_out) {
    const __m512 zero = HiddenZero();
    __m512 columns[kRowVectors];
    for (int k = 0; k < kRowVectors; ++k) columns[k] = zero;
    for (int r = 0; r <= regions_; ++r) {
      float* row = h_ + r * kRowFloats;
      __m512 total = zero;
      for (int k = 0; k < kRowVectors; ++k) {
        const __m512 v = _mm512_load_ps(row + k * kLanes);
        if (clear) _mm512_store_ps(row + k * kLanes, zero);
        columns[k] = _mm512_add_ps(columns[k], v);
        total = _mm512_add_ps(total, v);
      }
      // Entry r holds region r's first half in its (x, y).
      if (r < regions_) AddRowSum(total, rows + 2 * r);
    }
    // Entry r' of the column sums holds region r''s second half in (z, w).
    for (int k = 0; k < kRowVectors && 4 * k < regions_; ++k) {
      AddColumnSums(columns[k], 4 * k, std::min(4, regions_ - 4 * k),
                    columns_out);
    }
  }

 private:
  static constexpr int kRowFloats = 128;  // 32 entries: key = r * 32 + r'

  // sums[0..1] += the (x, y) of the sum of v's four entries, in double.
  static void AddRowSum(__m512 v, double* sums) {
    const __m256 half =
        _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 quarter = _mm_add_ps(_mm256_castps256_ps128(half),
                                      _mm256_extractf128_ps(half, 1));
    _mm_storeu_pd(sums, _mm_add_pd(_mm_loadu_pd(sums), _mm_cvtps_pd(quarter)));
  }

  // sums[2r..2r+1] += the (z, w) of entry q of v, in double, for the
  // regions r = first + q, q < count.
  static void AddColumnSums(__m512 v, int first, int count, double* sums) {
    const __m512i pick =
        _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 15, 14, 11, 10, 7, 6, 3, 2);
    const __m512d add =
        _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_permutexvar_ps(pick, v)));
    const __mmask8 m = static_cast<__mmask8>((1u << (2 * count)) - 1);
    double* at = sums + 2 * first;
    _mm512_mask_storeu_pd(at, m,
                          _mm512_add_pd(_mm512_maskz_loadu_pd(m, at), add));
  }

  int regions_;
  alignas(64) float h_[4 * kRowVectors * kRowFloats];
};

// What the staging pipeline (Pipeline) runs for one unit: a slot is one
// vector, eight keys and its (g, g v) values.
template <class Stage, class Histogram>
class OneUnit {
 public:
  static constexpr int kKeys = kLanes / 2;
  static constexpr int kValues = 2 * kLanes;
  static constexpr int kElements = kLanes;
  static constexpr int kLag = 6;

  OneUnit(const PwluUnitTable& table, const float* x, const float* dy,
          float* dx, double* sums)
      : regions_(table.intervals + 2),
        stage_(table),
        x_(x),
        dy_(dy),
        dx_(dx),
        sums_(sums) {}

  int regions() const { return regions_; }
  void Prefetch(int64_t e) const {
    actlab::Prefetch(x_ + e);
    actlab::Prefetch(dy_ + e);
  }
  template <Store kStore>
  void StageSlot(__mmask16 m, int64_t e, Staged out) const {
    Histogram::Stage(stage_.template Run<kStore>(m, x_ + e, dy_ + e, dx_ + e),
                     out);
  }
  static void Add(Histogram& histogram, Staged in) { histogram.Add(in); }
  void Fold(Histogram& histogram, bool clear) const {
    histogram.Fold(clear, sums_);
  }

 private:
  const int regions_;
  const Stage stage_;
  const float* x_;
  const float* dy_;
  float* dx_;
  double* sums_;
};

// Two units of the same N over runs of equal length, one pair histogram
// for both: element e of a vector of unit a pairs with element e of unit
// b's, rows sum into a's sums and columns into b's. Two channels then
// share one clear, one fold and one ramp of the ring, which for
// 1024-element channels cost about a quarter of a channel's work. A slot is
// two vectors, so the lag is half OneUnit's.
template <class Stage, class Histogram>
class TwoUnits {
 public:
  static constexpr int kKeys = kLanes;
  static constexpr int kValues = 4 * kLanes;
  static constexpr int kElements = 2 * kLanes;
  static constexpr int kLag = 3;

  TwoUnits(const PwluBackwardRun& a, const PwluBackwardRun& b)
      : regions_(a.table.intervals + 2),
        stage_a_(a.table),
        stage_b_(b.table),
        a_(a),
        b_(b) {}

  int regions() const { return regions_; }
  void Prefetch(int64_t e) const {
    actlab::Prefetch(a_.x + e);
    actlab::Prefetch(a_.dy + e);
    actlab::Prefetch(b_.x + e);
    actlab::Prefetch(b_.dy + e);
  }
  template <Store kStore>
  void StageSlot(__mmask16 m, int64_t e, Staged out) const {
    Histogram::StageTwo(
        stage_a_.template Run<kStore>(m, a_.x + e, a_.dy + e, a_.dx + e),
        stage_b_.template Run<kStore>(m, b_.x + e, b_.dy + e, b_.dx + e), out);
  }
  static void Add(Histogram& histogram, Staged in) { histogram.AddTwo(in); }
  void Fold(Histogram& histogram, bool clear) const {
    histogram.Fold(clear, a_.sums, b_.sums);
  }

 private:
  const int regions_;
  const Stage stage_a_, stage_b_;
  const PwluBackwardRun a_, b_;
};

// The backward loop over n elements of a Work (OneUnit or TwoUnits) built
// from args: slot v is added to the histogram while slot v + kLag is
// staged, so the scalar adds and the vector work overlap in the core, and
// the adds read stores that have completed. With `stream_dx` (the one
// unit's dx, for tensors beyond the caches) dx goes out with non-temporal
// stores. The work and the histogram are separate locals here: with the
// histogram inside the work object, the compiler could not tell the
// histogram's stores from the table registers and reloaded them (~15%).
template <class Work, class Histogram, class... Args>
void Pipeline(int64_t n, const float* stream_dx, const Args&... args) {
  constexpr int kRing = 8;
  static_assert(Work::kLag < kRing);
  const Work work(args...);
  Histogram histogram(work.regions());
  alignas(64) uint32_t keys[kRing * Work::kKeys];
  // Slots stay 64-byte aligned; the padding is for LaneHistogram's Add,
  // which reads 16 bytes where it uses 8.
  alignas(64) float values[kRing * Work::kValues + 2];
  auto staged = [&](int64_t v) {
    const int at = static_cast<int>(v % kRing);
    return Staged{keys + at * Work::kKeys, values + at * Work::kValues};
  };
  int64_t staged_slots = 0;
  int64_t since_fold = 0;
  // Stages one slot from element e, then adds the one kLag before it.
  auto step = [&](auto store, __mmask16 m, int64_t e) {
    work.template StageSlot<decltype(store)::value>(m, e, staged(staged_slots));
    if (staged_slots >= Work::kLag) {
      Work::Add(histogram, staged(staged_slots - Work::kLag));
      since_fold += Work::kElements;
      if (since_fold >= Histogram::kFold) {
        work.Fold(histogram, true);
        since_fold = 0;
      }
    }
    ++staged_slots;
  };
  using Full = std::integral_constant<Store, Store::kFull>;
  using Stream = std::integral_constant<Store, Store::kStream>;
  using Masked = std::integral_constant<Store, Store::kMasked>;
  auto mask = [](int64_t lanes) {
    return static_cast<__mmask16>((1u << lanes) - 1);
  };
  int64_t e = 0;
  if (stream_dx != nullptr) {
    // Non-temporal stores need 64-byte alignment: a masked head gets there.
    const int64_t misaligned = reinterpret_cast<uintptr_t>(stream_dx) % 64 / 4;
    const int64_t head = misaligned == 0 ? 0 : kLanes - misaligned;
    if (head > 0 && head < n) {
      step(Masked(), mask(head), 0);
      e = head;
    }
    for (; e + kLanes <= n; e += kLanes) {
      work.Prefetch(e);
      step(Stream(), 0xFFFF, e);
    }
  }
  for (; e + kLanes <= n; e += kLanes) {
    work.Prefetch(e);
    step(Full(), 0xFFFF, e);
  }
  if (e < n) step(Masked(), mask(n - e), e);
  if (stream_dx != nullptr) _mm_sfence();
  for (int64_t v = staged_slots > Work::kLag ? staged_slots - Work::kLag : 0;
       v < staged_slots; ++v) {
    Work::Add(histogram, staged(v));
    since_fold += Work::kElements;
  }
  if (since_fold > 0) work.Fold(histogram, false);
}

template <class Stage, class Histogram>
void Backward(const PwluUnitTable& table, const float* x, const float* dy,
              float* dx, int64_t n, double* sums) {
  Pipeline<OneUnit<Stage, Histogram>, Histogram>(
      n, table.stream_stores ? dx : nullptr, table, x, dy, dx, sums);
}

template <class Stage, class Histogram>
void BackwardTwo(const PwluBackwardRun& a, const PwluBackwardRun& b,
                 int64_t n) {
  Pipeline<TwoUnits<Stage, Histogram>, Histogram>(n, nullptr, a, b);
}

// BackwardTwo with the smallest pair histogram that holds N + 2 regions.
template <class Stage>
void BackwardTwoPaired(const PwluBackwardRun& a, const PwluBackwardRun& b,
                       int64_t n) {
  const int regions = a.table.intervals + 2;
  if (regions <= PairHistogram<2>::kMaxRegions) {
    BackwardTwo<Stage, PairHistogram<2>>(a, b, n);
  } else if (regions <= PairHistogram<5>::kMaxRegions) {
    BackwardTwo<Stage, PairHistogram<5>>(a, b, n);
  } else {
    BackwardTwo<Stage, PairHistogram<8>>(a, b, n);
  }
}

// Backward with the smallest pair histogram that holds N + 2 regions.
template <class Stage>
void BackwardPaired(const PwluUnitTable& table, const float* x, const float* dy,
                    float* dx, int64_t n, double* sums) {
  const int regions = table.intervals + 2;
  if (regions <= PairHistogram<2>::kMaxRegions) {
    Backward<Stage, PairHistogram<2>>(table, x, dy, dx, n, sums);
  } else if (regions <= PairHistogram<5>::kMaxRegions) {
    Backward<Stage, PairHistogram<5>>(table, x, dy, dx, n, sums);
  } else {
    Backward<Stage, PairHistogram<8>>(table, x, dy, dx, n, sums);
  }
}

}  // namespace

void PwluTranspose16x16Avx512(const float* src, int64_t src_stride, float* dst,
                              int64_t dst_stride) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * src_stride);
  // 4x4 transposes inside each 128-bit lane: afterwards lane k of
  // r[4 * q + m] holds rows 4q..4q+3 of column 4k + m.
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int q = 0; q < 16; q += 4) {
    const __m512d a = _mm512_castps_pd(t[q]);
    const __m512d b = _mm512_castps_pd(t[q + 1]);
    const __m512d c = _mm512_castps_pd(t[q + 2]);
    const __m512d d = _mm512_castps_pd(t[q + 3]);
    r[q] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // Gather lane k of r[m], r[4 + m], r[8 + m], r[12 + m] into row 4k + m.
  for (int m = 0; m < 4; ++m) {
    const __m512 ab_lo = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x44);
    const __m512 ab_hi = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xEE);
    const __m512 cd_lo = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x44);
    const __m512 cd_hi = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xEE);
    _mm512_storeu_ps(dst + m * dst_stride,
                     _mm512_shuffle_f32x4(ab_lo, cd_lo, 0x88));
    _mm512_storeu_ps(dst + (4 + m) * dst_stride,
                     _mm512_shuffle_f32x4(ab_lo, cd_lo, 0xDD));
    _mm512_storeu_ps(dst + (8 + m) * dst_stride,
                     _mm512_shuffle_f32x4(ab_hi, cd_hi, 0x88));
    _mm512_storeu_ps(dst + (12 + m) * dst_stride,
                     _mm512_shuffle_f32x4(ab_hi, cd_hi, 0xDD));
  }
}

void PwluBuildBaseTablesAvx512(int intervals, double left, double step,
                               double scale, const float* values, float* bp,
                               float* by, float* bk) {
  // Entries 1..N in vectors of 8 doubles; each lane computes exactly what
  // the portable loop does (same operations, same roundings).
  const __m512d left_v = _mm512_set1_pd(left);
  const __m512d step_v = _mm512_set1_pd(step);
  const __m512d scale_v = _mm512_set1_pd(scale);
  for (int i = 0; i < intervals; i += 8) {
    const int lanes = intervals - i < 8 ? intervals - i : 8;
    const __mmask8 m = static_cast<__mmask8>((1u << lanes) - 1);
    const __m512d index = _mm512_cvtepi32_pd(_mm256_add_epi32(
        _mm256_set1_epi32(i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    const __m512d anchor = _mm512_add_pd(left_v, _mm512_mul_pd(index, step_v));
    const __m256 anchor_f = _mm512_cvtpd_ps(anchor);
    const __m512d v0 = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, values + i));
    const __m512d v1 =
        _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, values + i + 1));
    const __m512d slope = _mm512_mul_pd(_mm512_sub_pd(v1, v0), scale_v);
    const __m512d y = _mm512_add_pd(
        v0,
        _mm512_mul_pd(slope, _mm512_sub_pd(_mm512_cvtps_pd(anchor_f), anchor)));
    _mm256_mask_storeu_ps(bp + i + 1, m, anchor_f);
    _mm256_mask_storeu_ps(by + i + 1, m, _mm512_cvtpd_ps(y));
    _mm256_mask_storeu_ps(bk + i + 1, m, _mm512_cvtpd_ps(slope));
  }
}

namespace {

template <int kRegs>
void ForwardBase(const PwluUnitTable& table, const float* x, float* y,
                 int64_t n) {
  if (table.x_low() != -__builtin_inff() ||
      table.x_high() != __builtin_inff()) {
    ForwardLoop<BaseForward<kRegs, true>>(table, x, y, n);
  } else {
    ForwardLoop<BaseForward<kRegs, false>>(table, x, y, n);
  }
}

}  // namespace

void PwluForwardAvx512RegTable(const PwluUnitTable& table, const float* x,
                               float* y, int64_t n) {
  if (table.intervals <= BaseForward<1, false>::kMaxIntervals) {
    ForwardBase<1>(table, x, y, n);
  } else if (table.intervals <= BaseForward<2, false>::kMaxIntervals) {
    ForwardBase<2>(table, x, y, n);
  } else {
    ForwardBase<4>(table, x, y, n);
  }
}

void PwluBackwardAvx512RegTable(const PwluUnitTable& table, const float* x,
                                const float* dy, float* dx, int64_t n,
                                double* sums) {
  const int regions = table.intervals + 2;
  if (regions <= kLanes) {
    BackwardPaired<RegisterStage<1>>(table, x, dy, dx, n, sums);
  } else if (regions <= PairHistogram<8>::kMaxRegions) {
    BackwardPaired<RegisterStage<2>>(table, x, dy, dx, n, sums);
  } else {
    // The lane histogram's stride must exceed the trash region N + 2.
    Backward<RegisterStage<2>, LaneHistogram<16, 64>>(table, x, dy, dx, n,
                                                      sums);
  }
}

void PwluBackwardTwoAvx512RegTable(const PwluBackwardRun& a,
                                   const PwluBackwardRun& b, int64_t n) {
  const int regions = a.table.intervals + 2;
  // Streamed outputs (tensors beyond the caches) have long runs, where the
  // per-run costs this saves do not matter.
  if (a.table.stream_stores || regions > PairHistogram<8>::kMaxRegions) {
    PwluBackwardAvx512RegTable(a.table, a.x, a.dy, a.dx, n, a.sums);
    PwluBackwardAvx512RegTable(b.table, b.x, b.dy, b.dx, n, b.sums);
  } else if (regions <= kLanes) {
    BackwardTwoPaired<RegisterStage<1>>(a, b, n);
  } else {
    BackwardTwoPaired<RegisterStage<2>>(a, b, n);
  }
}

void PwluForwardAvx512RegTable64(const PwluUnitTable& table, const float* x,
                                 float* y, int64_t n) {
  if (table.intervals <= BaseForward<4, false>::kMaxIntervals) {
    PwluForwardAvx512RegTable(table, x, y, n);
  } else if (table.x_low() != -__builtin_inff() ||
             table.x_high() != __builtin_inff()) {
    ForwardLoop<BaseForwardTails<true>>(table, x, y, n);
  } else {
    ForwardLoop<BaseForwardTails<false>>(table, x, y, n);
  }
}

void PwluBackwardAvx512RegTable64(const PwluUnitTable& table, const float* x,
                                  const float* dy, float* dx, int64_t n,
                                  double* sums) {
  if (table.intervals + 2 <= 2 * kLanes) {
    PwluBackwardAvx512RegTable(table, x, dy, dx, n, sums);
    return;
  }
  if (table.intervals + 2 > 4 * kLanes) {
    Backward<RegisterStage<4, true>, LaneHistogram<16, 128>>(table, x, dy, dx,
                                                             n, sums);
    return;
  }
  if (table.intervals + 3 <= 64) {
    Backward<RegisterStage<4>, LaneHistogram<16, 64>>(table, x, dy, dx, n,
                                                      sums);
  } else {
    Backward<RegisterStage<4>, LaneHistogram<16, 128>>(table, x, dy, dx, n,
                                                       sums);
  }
}

void PwluForwardAvx512Gather(const PwluUnitTable& table, const float* x,
                             float* y, int64_t n) {
  ForwardLoop<LerpForward<GatherTable>>(table, x, y, n);
}

void PwluBackwardAvx512Gather(const PwluUnitTable& table, const float* x,
                              const float* dy, float* dx, int64_t n,
                              double* sums) {
  // Sixteen copies of a large histogram would not fit in L1.
  if (table.intervals + 2 <= 64) {
    Backward<GatherStage, LaneHistogram<16, 72>>(table, x, dy, dx, n, sums);
  } else {
    Backward<GatherStage, LaneHistogram<4, kMaxStride>>(table, x, dy, dx, n,
                                                        sums);
  }
}

}  // namespace actlab
