// Copyright actlab authors.
//
// AVX-512 PWLU kernels. Compiled with AVX-512 flags (kernels/CMakeLists.txt);
// only reached after PwluIsaSupported(PwluIsa::kAvx512).
//
// Forward uses the lerp tables (pwlu_kernels.h): one FMA gives the region and
// the fraction, two lookups and one FMA the value. "regtable" keeps the
// N + 2 <= 32 entry tables in zmm registers and looks them up with
// permutexvar / permutex2var; "gather" reads them with vgatherdps for any N.
//
// Backward classifies regions with exact compares (x == B_L is interior,
// x == B_R the right tail), writes dx, and stages each vector's histogram
// slots and (g, g * v) pairs in a small ring. Scalar code adds each pair into
// a lane-private float histogram with one 8-byte load, add and store: lane l
// updates copy l, so the lanes of a vector never conflict. A vector is added
// two vectors after it is staged, so the scalar stream overlaps the vector
// work. On the target (Zen 4) this takes ~10 ns per 16 elements for N = 16,
// about half in each stream; taking slots and pairs straight from registers
// (extracts into general registers) measured slower, ~13 ns. Masked
// per-region compares would cost three vector ops per region per vector
// (54 for N = 16).

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "kernels/pwlu_kernels.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and then warn
// about it at every inlined use (GCC bug 105593); the values are fully
// written by the instruction.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace actlab {
namespace {

constexpr int kLanes = 16;
// Software prefetch distance in floats. The scalar histogram stream fills
// the out-of-order window, so the core cannot run ahead to the next cache
// misses on its own: prefetching 2 KiB ahead of x and dy took backward on
// 64 MiB from ~27 to ~17 ns per 16 elements here.
constexpr int64_t kPrefetch = 512;

inline void Prefetch(const float* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetch), _MM_HINT_T0);
}
constexpr int64_t kFold = 4096;  // elements between folds into double
constexpr int kMaxRegions = kPwluMaxIntervals + 2;
// Largest histogram: 4 copies of N + 3 regions rounded up to 8 (gather,
// large N).
constexpr int kHistogramFloats = 4 * 2 * ((kMaxRegions + 1 + 7) / 8 * 8);

// One or two zmm registers holding a table of up to 16 or 32 entries.
template <int kRegs>
class RegisterTable {
 public:
  // Tables are padded to at least 32 entries (PwluTableStride).
  explicit RegisterTable(const float* t)
      : lo_(_mm512_loadu_ps(t)), hi_(_mm512_loadu_ps(t + kLanes)) {}

  __m512 operator()(__m512i r) const {
    if constexpr (kRegs == 1) {
      return _mm512_permutexvar_ps(r, lo_);
    } else {
      return _mm512_permutex2var_ps(lo_, r, hi_);
    }
  }

 private:
  __m512 lo_, hi_;
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
      : y_(t.lerp_y),
        d_(t.lerp_d),
        scale_(_mm512_set1_ps(t.t_scale)),
        offset_(_mm512_set1_ps(t.t_offset)),
        unscale_(_mm512_set1_ps(t.t_unscale)),
        minus_rescale_(_mm512_set1_ps(-t.t_rescale)),
        low_(_mm512_set1_ps(t.t_low)),
        high_(_mm512_set1_ps(t.t_high)),
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
      Prefetch(x + e);
      _mm512_stream_ps(y + e, f(_mm512_loadu_ps(x + e)));
    }
    ForwardMasked(f, x + e, y + e, n - e);
    _mm_sfence();
    return;
  }
  for (; e + 2 * kLanes <= n; e += 2 * kLanes) {
    Prefetch(x + e);
    const __m512 a = _mm512_loadu_ps(x + e);
    const __m512 b = _mm512_loadu_ps(x + e + kLanes);
    _mm512_storeu_ps(y + e, f(a));
    _mm512_storeu_ps(y + e + kLanes, f(b));
  }
  ForwardMasked(f, x + e, y + e, n - e);
}

// Per-vector output of the backward stage: histogram slots in `slot` and
// (g, g * v) pairs in `pairs`, both in the order unpacklo/unpackhi leave the
// pairs. The histogram holds copies of `stride` regions each; lane e uses
// copy e % copies, so its slot is base[e] + r. Region `regions` of each
// copy is a trash slot for elements that must not count (x NaN or +-inf);
// it is never folded.
struct Staged {
  int32_t* slot;
  float* pairs;
};

struct Slots {
  __m512i base;   // copy offset of each lane
  __m512i trash;  // base + regions
};

// How a vector's dx is written: all 16 lanes, all 16 lanes with a
// non-temporal store (64-byte aligned), or the lanes in the mask.
enum class Store { kFull, kStream, kMasked };

// dx = slope * g (NaN where x is NaN) and the staged slot / pairs.
template <Store kStore>
void Finish(__mmask16 m, __m512 x, __m512 g, __m512i slot, __m512 slope,
            __m512 v, const Slots& slots, float* dx, Staged out) {
  const __m512 dxv =
      _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), slope, g);
  if constexpr (kStore == Store::kFull) {
    _mm512_storeu_ps(dx, dxv);
  } else if constexpr (kStore == Store::kStream) {
    _mm512_stream_ps(dx, dxv);
  } else {
    _mm512_mask_storeu_ps(dx, m, dxv);
  }
  // fpclass 0x99: QNaN, SNaN, +inf, -inf.
  slot =
      _mm512_mask_mov_epi32(slot, _mm512_fpclass_ps_mask(x, 0x99), slots.trash);
  const __m512 gv = _mm512_mul_ps(g, v);
  // Not a namespace-scope constant: its initializer would run AVX-512 code
  // at load time on every CPU.
  const __m512i pair_order =
      _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  _mm512_storeu_si512(out.slot, _mm512_permutexvar_epi32(pair_order, slot));
  _mm512_storeu_ps(out.pairs, _mm512_unpacklo_ps(g, gv));
  _mm512_storeu_ps(out.pairs + kLanes, _mm512_unpackhi_ps(g, gv));
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
      : left_(_mm512_set1_ps(t.left_bound)),
        right_(_mm512_set1_ps(t.right_bound)),
        scale_(_mm512_set1_ps(t.scale)),
        last_(_mm512_set1_epi32(t.intervals - 1)),
        right_region_(_mm512_set1_epi32(t.intervals + 1)) {}

  // (x - B_L) * scale and its interval, clamped to [0, N - 1]. Out-of-range
  // and NaN t convert to INT_MIN; the clamp keeps every index inside the
  // table and the tail masks then override the region.
  __m512 t(__m512 x) const {
    return _mm512_mul_ps(_mm512_sub_ps(x, left_), scale_);
  }
  __m512i Interval(__m512 t) const {
    return _mm512_min_epi32(
        _mm512_max_epi32(_mm512_cvttps_epi32(t), _mm512_setzero_si512()),
        last_);
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

 private:
  __m512 left_, right_, scale_;
  __m512i last_, right_region_;
};

// Register tables. The histogram stride is a multiple of 32 regions, so
// slot = base + r keeps r in its low 5 bits, which is all permutex2var reads:
// the slot indexes the slope table directly. v = t - i inside (t carries at
// most a few ulps of N + 1 <= 31, so u is good to ~2e-6), x - B on the tails.
template <int kRegs>
class RegisterStage {
 public:
  // A multiple of 32 above the trash region (regions <= 32).
  static int Stride(int regions) { return regions < 32 ? 32 : 64; }

  RegisterStage(const PwluUnitTable& t, const Slots& slots)
      : regions_(t),
        k_(t.k),
        left_slot_(slots.base),
        first_slot_(_mm512_add_epi32(slots.base, _mm512_set1_epi32(1))),
        right_slot_(_mm512_add_epi32(slots.base, regions_.right_region())) {}

  template <Store kStore>
  void Run(__mmask16 m, const Slots& slots, const float* x, const float* dy,
           float* dx, Staged out) const {
    const __m512 xv = Load<kStore>(m, x);
    const __m512 g = Load<kStore>(m, dy);
    const __m512 t = regions_.t(xv);
    const __m512i i = regions_.Interval(t);
    const __mmask16 below = regions_.Below(xv);
    const __mmask16 above = regions_.Above(xv);
    __m512i slot = _mm512_add_epi32(i, first_slot_);
    slot = _mm512_mask_mov_epi32(slot, below, left_slot_);
    slot = _mm512_mask_mov_epi32(slot, above, right_slot_);
    __m512 v = _mm512_sub_ps(t, _mm512_cvtepi32_ps(i));
    v = _mm512_mask_sub_ps(v, below, xv, regions_.left());
    v = _mm512_mask_sub_ps(v, above, xv, regions_.right());
    Finish<kStore>(m, xv, g, slot, k_(slot), v, slots, dx, out);
  }

 private:
  Regions regions_;
  RegisterTable<kRegs> k_;
  __m512i left_slot_, first_slot_, right_slot_;
};

// Any N: v = (x - p) * s + c from the compensated tables, which keeps u
// accurate when N is large.
class GatherStage {
 public:
  static int Stride(int regions) { return (regions + 1 + 7) / 8 * 8; }

  GatherStage(const PwluUnitTable& t, const Slots&)
      : regions_(t), p_(t.p), k_(t.k), s_(t.s), c_(t.c) {}

  template <Store kStore>
  void Run(__mmask16 m, const Slots& slots, const float* x, const float* dy,
           float* dx, Staged out) const {
    const __m512 xv = Load<kStore>(m, x);
    const __m512 g = Load<kStore>(m, dy);
    __m512i r = _mm512_add_epi32(regions_.Interval(regions_.t(xv)),
                                 _mm512_set1_epi32(1));
    r = _mm512_mask_mov_epi32(r, regions_.Below(xv), _mm512_setzero_si512());
    r = _mm512_mask_mov_epi32(r, regions_.Above(xv), regions_.right_region());
    const __m512 v = _mm512_fmadd_ps(_mm512_sub_ps(xv, p_(r)), s_(r), c_(r));
    Finish<kStore>(m, xv, g, _mm512_add_epi32(r, slots.base), k_(r), v, slots,
                   dx, out);
  }

 private:
  Regions regions_;
  GatherTable p_, k_, s_, c_;
};

// One 8-byte load, add and store per element. Lanes of one vector use
// different copies, so they never conflict, and a copy's consecutive
// updates are a vector apart.
void AddPairs(const int32_t* slot, const float* pairs, int count,
              float* histogram) {
  double* h = reinterpret_cast<double*>(histogram);
  const double* p = reinterpret_cast<const double*>(pairs);
#pragma GCC unroll 16
  for (int e = 0; e < count; ++e) {
    // The 16-byte load also reads the next pair (the buffer is padded);
    // only the low pair is stored, and it folds into the add.
    const __m128 sum =
        _mm_add_ps(_mm_castpd_ps(_mm_load_sd(h + slot[e])),
                   _mm_loadu_ps(reinterpret_cast<const float*>(p + e)));
    _mm_store_sd(h + slot[e], _mm_castps_pd(sum));
  }
}

void ClearHistogram(int floats, float* histogram) {
  for (int j = 0; j < floats; j += kLanes) {
    _mm512_store_ps(histogram + j, _mm512_setzero_ps());
  }
}

// Adds the copies together in float, in copy order (deterministic), then
// into sums in double, and clears them unless this is the last fold. The
// float stage adds at most 16 terms per sum, each already a float sum of
// at most kFold / 16 terms.
void FoldHistogram(int copies, int regions, int stride, bool clear,
                   float* histogram, double* sums) {
  const int width = 2 * stride;
  for (int j = 0; j < 2 * regions; j += kLanes) {
    __m512 total = _mm512_load_ps(histogram + j);
    for (int copy = 1; copy < copies; ++copy) {
      total =
          _mm512_add_ps(total, _mm512_load_ps(histogram + copy * width + j));
    }
    alignas(64) float lanes[kLanes];
    _mm512_store_ps(lanes, total);
    const int end = 2 * regions - j < kLanes ? 2 * regions - j : kLanes;
    for (int l = 0; l < end; ++l) sums[j + l] += lanes[l];
  }
  if (clear) ClearHistogram(copies * width, histogram);
}

template <class Stage, int kCopies>
void Backward(const PwluUnitTable& table, const float* x, const float* dy,
              float* dx, int64_t n, double* sums) {
  const int regions = table.intervals + 2;
  // Copies stay 64-byte aligned (whole vectors in the fold).
  const int stride = Stage::Stride(regions);
  alignas(64) float histogram[kHistogramFloats];
  // A ring of staged vectors: vector v is added to the histogram while
  // vector v + kLag is staged, so the scalar adds and the vector work
  // overlap in the core, and the adds read stores that have completed.
  constexpr int kRing = 4;
  constexpr int kLag = 2;
  alignas(64) int32_t slot[kRing * kLanes];
  alignas(64) float pairs[kRing * 2 * kLanes + 2];
  ClearHistogram(kCopies * 2 * stride, histogram);
  Slots slots;
  slots.base = _mm512_mullo_epi32(
      _mm512_set1_epi32(stride),
      _mm512_and_si512(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                         12, 13, 14, 15),
                       _mm512_set1_epi32(kCopies - 1)));
  slots.trash = _mm512_add_epi32(slots.base, _mm512_set1_epi32(regions));
  const Stage stage(table, slots);
  auto staged = [&](int64_t v) {
    const int at = static_cast<int>(v % kRing);
    return Staged{slot + at * kLanes, pairs + at * 2 * kLanes};
  };
  auto add = [&](int64_t v) {
    const Staged s = staged(v);
    AddPairs(s.slot, s.pairs, kLanes, histogram);
  };
  int64_t staged_vectors = 0;
  int64_t since_fold = 0;
  // Stages one vector from element e, then adds the one kLag before it.
  auto step = [&](auto store, __mmask16 m, int64_t e) {
    stage.template Run<decltype(store)::value>(m, slots, x + e, dy + e, dx + e,
                                               staged(staged_vectors));
    if (staged_vectors >= kLag) {
      add(staged_vectors - kLag);
      since_fold += kLanes;
      if (since_fold >= kFold) {
        FoldHistogram(kCopies, regions, stride, true, histogram, sums);
        since_fold = 0;
      }
    }
    ++staged_vectors;
  };
  using Full = std::integral_constant<Store, Store::kFull>;
  using Stream = std::integral_constant<Store, Store::kStream>;
  using Masked = std::integral_constant<Store, Store::kMasked>;
  auto mask = [](int64_t lanes) {
    return static_cast<__mmask16>((1u << lanes) - 1);
  };
  int64_t e = 0;
  if (table.stream_stores) {
    // Non-temporal stores need 64-byte alignment: a masked head gets there.
    const int64_t misaligned = reinterpret_cast<uintptr_t>(dx) % 64 / 4;
    const int64_t head = misaligned == 0 ? 0 : kLanes - misaligned;
    if (head > 0 && head < n) {
      step(Masked(), mask(head), 0);
      e = head;
    }
    for (; e + kLanes <= n; e += kLanes) {
      Prefetch(x + e);
      Prefetch(dy + e);
      step(Stream(), 0xFFFF, e);
    }
  }
  for (; e + kLanes <= n; e += kLanes) {
    Prefetch(x + e);
    Prefetch(dy + e);
    step(Full(), 0xFFFF, e);
  }
  if (e < n) step(Masked(), mask(n - e), e);
  if (table.stream_stores) _mm_sfence();
  for (int64_t v = staged_vectors > kLag ? staged_vectors - kLag : 0;
       v < staged_vectors; ++v) {
    add(v);
    since_fold += kLanes;
  }
  if (since_fold > 0) {
    FoldHistogram(kCopies, regions, stride, false, histogram, sums);
  }
}

}  // namespace

void PwluForwardAvx512RegTable(const PwluUnitTable& table, const float* x,
                               float* y, int64_t n) {
  if (table.intervals + 2 <= kLanes) {
    ForwardLoop<LerpForward<RegisterTable<1>>>(table, x, y, n);
  } else {
    ForwardLoop<LerpForward<RegisterTable<2>>>(table, x, y, n);
  }
}

void PwluBackwardAvx512RegTable(const PwluUnitTable& table, const float* x,
                                const float* dy, float* dx, int64_t n,
                                double* sums) {
  if (table.intervals + 2 <= kLanes) {
    Backward<RegisterStage<1>, 16>(table, x, dy, dx, n, sums);
  } else {
    Backward<RegisterStage<2>, 16>(table, x, dy, dx, n, sums);
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
    Backward<GatherStage, 16>(table, x, dy, dx, n, sums);
  } else {
    Backward<GatherStage, 4>(table, x, dy, dx, n, sums);
  }
}

}  // namespace actlab
