// Copyright actlab authors.

#include "kernels/kernel_threads.h"

#include <omp.h>

#include <atomic>

namespace actlab {
namespace {

// 0 means OpenMP's default, read when first needed.
std::atomic<int> configured_threads{0};

}  // namespace

void SetKernelThreads(int threads) {
  configured_threads.store(threads > 0 ? threads : 0,
                           std::memory_order_relaxed);
}

int KernelThreadsFor(int64_t elements) {
  if (elements < kParallelMinElements) return 1;
  const int configured = configured_threads.load(std::memory_order_relaxed);
  // Read once, on the first large call, before any scoped override: a
  // thread's initial setting is OpenMP's process default.
  static const int default_threads = omp_get_max_threads();
  return configured > 0 ? configured : default_threads;
}

}  // namespace actlab
