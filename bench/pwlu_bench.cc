// Copyright actlab authors.
//
// actlab_kernel_bench: PWLU forward / backward (with all parameter
// gradients) beside oneDNN ReLU forward / backward and a memcpy of the same
// bytes, in one run so the ratios compare like with like. Rates are
// bytes_per_second with forward and memcpy counted as 8 B/element (read x,
// write y) and backward as 12 B/element (read x and dy, write dx).
// bench/run_kernel_bench.sh prints the ratio table.

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "kernels/channel_layout.h"
#include "kernels/kernel_threads.h"
#include "kernels/pwlu.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace actlab {
namespace {

constexpr int64_t kChannels = 64;
constexpr double kMinTime = 0.1;

struct Size {
  const char* name;
  std::vector<int64_t> nchw;
  int64_t elements() const { return nchw[0] * nchw[1] * nchw[2] * nchw[3]; }
};

const Size kSizes[] = {{"256KiB", {1, kChannels, 32, 32}},
                       {"64MiB", {16, kChannels, 128, 128}}};

// 64-byte aligned, filled once, shared by every benchmark of a size.
struct Buffers {
  float* x;
  float* dy;
  float* y;
  float* dx;
};

float* AlignedFloats(int64_t n) {
  return static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
}

const Buffers& BuffersFor(const Size& size) {
  static Buffers small, large;
  Buffers& b = size.elements() == kSizes[0].elements() ? small : large;
  if (b.x == nullptr) {
    const int64_t n = size.elements();
    b = {AlignedFloats(n), AlignedFloats(n), AlignedFloats(n),
         AlignedFloats(n)};
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.5f);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (int64_t i = 0; i < n; ++i) {
      b.x[i] = normal(rng);
      b.dy[i] = uniform(rng);
    }
    std::memset(b.y, 0, n * sizeof(float));
    std::memset(b.dx, 0, n * sizeof(float));
  }
  return b;
}

// ReLU-initialised units over [-3, 3] with a little shape, as after a few
// training steps.
PwluParams BenchParams(int n, int64_t units) {
  PwluParams p = PwluParams::Zeros(n, units);
  for (int64_t u = 0; u < units; ++u) {
    p.left_bound[u] = -3;
    p.right_bound[u] = 3;
    p.left_slope[u] = 0.01f;
    p.right_slope[u] = 1;
    for (int j = 0; j <= n; ++j) {
      const float b = -3 + 6.0f * j / n;
      p.values[u * (n + 1) + j] = (b > 0 ? b : 0.01f * b) + 0.05f * (j % 3);
    }
  }
  return p;
}

void SetRate(benchmark::State& state, int64_t elements, int bytes_each) {
  state.SetBytesProcessed(state.iterations() * elements * bytes_each);
}

enum class Granularity { kLayer, kNchw, kNhwc };

const char* GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kLayer:
      return "layer";
    case Granularity::kNchw:
      return "nchw";
    case Granularity::kNhwc:
      return "nhwc";
  }
  return "";
}

// fresh_params: every call's params differ (by one ulp of one value) from
// the previous call's, as in training, so no call reuses the tables the
// previous one built (pwlu.h); otherwise the params stay fixed, as oneDNN's
// ReLU runs one primitive created once.
void PwluBench(benchmark::State& state, bool backward, int n, Granularity g,
               const Size& size, int threads, bool fresh_params) {
  // PWLU takes its thread count from the process-wide setting the server's
  // --threads sets, not from this thread's OpenMP default, which it reads
  // only once: cases in random order would otherwise all run at the count
  // of whichever large case came first.
  SetKernelThreads(threads);
  const Buffers& b = BuffersFor(size);
  const std::vector<int64_t>& s = size.nchw;
  ChannelLayout layout = FlatLayout(size.elements());
  if (g == Granularity::kNchw) layout = {s[0], s[1], s[2] * s[3]};
  if (g == Granularity::kNhwc) layout = {s[0] * s[2] * s[3], s[1], 1};
  PwluParams versions[2] = {
      BenchParams(n, g == Granularity::kLayer ? 1 : kChannels),
      BenchParams(n, g == Granularity::kLayer ? 1 : kChannels)};
  versions[1].values.back() = std::nextafter(versions[1].values.back(), 0.0f);
  PwluParams grad;
  int call = 0;
  for (auto _ : state) {
    const PwluParams& params = versions[fresh_params ? call++ & 1 : 0];
    const absl::Status status =
        backward ? PwluBackward(params, layout, b.x, b.dy, b.dx, &grad)
                 : PwluForward(params, layout, b.x, b.y);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::ClobberMemory();
  }
  SetRate(state, size.elements(), backward ? 12 : 8);
  state.SetLabel(PwluKernelName(n));
}

void ReluBench(benchmark::State& state, bool backward, const Size& size,
               int threads) {
  omp_set_num_threads(threads);
  const Buffers& b = BuffersFor(size);
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const memory::desc md(memory::dims(size.nchw.begin(), size.nchw.end()),
                        memory::data_type::f32, memory::format_tag::nchw);
  memory src(md, engine, b.x), dst(md, engine, b.y);
  memory diff_dst(md, engine, b.dy), diff_src(md, engine, b.dx);
  const dnnl::eltwise_forward::primitive_desc fwd_pd(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training,
                                  dnnl::algorithm::eltwise_relu, md, 0.0f),
      engine);
  if (!backward) {
    dnnl::eltwise_forward fwd(fwd_pd);
    for (auto _ : state) {
      fwd.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
      stream.wait();
    }
    SetRate(state, size.elements(), 8);
    return;
  }
  const dnnl::eltwise_backward::primitive_desc bwd_pd(
      dnnl::eltwise_backward::desc(dnnl::algorithm::eltwise_relu, md, md, 0.0f),
      engine, fwd_pd);
  dnnl::eltwise_backward bwd(bwd_pd);
  for (auto _ : state) {
    bwd.execute(stream, {{DNNL_ARG_SRC, src},
                         {DNNL_ARG_DIFF_DST, diff_dst},
                         {DNNL_ARG_DIFF_SRC, diff_src}});
    stream.wait();
  }
  SetRate(state, size.elements(), 12);
}

void MemcpyBench(benchmark::State& state, const Size& size, int threads) {
  const Buffers& b = BuffersFor(size);
  const int64_t n = size.elements();
  for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; ++t) {
      const int64_t begin = n * t / threads;
      const int64_t end = n * (t + 1) / threads;
      std::memcpy(b.y + begin, b.x + begin, (end - begin) * sizeof(float));
    }
    benchmark::ClobberMemory();
  }
  SetRate(state, n, 8);
}

// Names: <op>/<variant>/<size>/threads:<t>; run_kernel_bench.sh parses them.
void RegisterAll() {
  for (const Size& size : kSizes) {
    for (int threads : {1, 2}) {
      const std::string tail = absl::StrCat(size.name, "/threads:", threads);
      auto add = [&](const std::string& name, auto fn) {
        benchmark::RegisterBenchmark(name.c_str(), fn)
            ->MinTime(kMinTime)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      };
      add(absl::StrCat("memcpy/-/", tail),
          [&size, threads](auto& st) { MemcpyBench(st, size, threads); });
      for (bool backward : {false, true}) {
        add(absl::StrCat(backward ? "relu_bwd" : "relu_fwd", "/-/", tail),
            [&size, threads, backward](auto& st) {
              ReluBench(st, backward, size, threads);
            });
        for (int n : {4, 16, 64}) {
          for (Granularity g :
               {Granularity::kLayer, Granularity::kNchw, Granularity::kNhwc}) {
            add(absl::StrCat(backward ? "pwlu_bwd" : "pwlu_fwd", "/N", n, "_",
                             GranularityName(g), "/", tail),
                [&size, threads, backward, n, g](auto& st) {
                  PwluBench(st, backward, n, g, size, threads, false);
                });
          }
          // The target case again with params that change every call.
          if (n != 16) continue;
          add(absl::StrCat(backward ? "pwlu_bwd" : "pwlu_fwd",
                           "/N16_nchw-fresh/", tail),
              [&size, threads, backward](auto& st) {
                PwluBench(st, backward, 16, Granularity::kNchw, size, threads,
                          true);
              });
        }
      }
    }
  }
}

}  // namespace
}  // namespace actlab

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  actlab::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
