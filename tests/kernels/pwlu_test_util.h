// Copyright actlab authors.
//
// Shared fixtures of the PWLU tests: parameter and input generators and the
// kernels this CPU can run.

#ifndef ACTLAB_TESTS_KERNELS_PWLU_TEST_UTIL_H_
#define ACTLAB_TESTS_KERNELS_PWLU_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/pwlu.h"
#include "kernels/pwlu_kernels.h"

namespace actlab {
namespace testing {

// Units with slightly different bounds and PWLU-like shapes (ReLU/Swish-like
// plus noise of at most one interval width, so slopes stay O(1): the
// conditioning |f'(x)| |x| eps then fits the forward tolerance). Unit 0 has
// a flat left tail (K_L = 0).
inline PwluParams MakeParams(int n, int64_t units, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(-0.5, 0.5);
  PwluParams p = PwluParams::Zeros(n, units);
  for (int64_t u = 0; u < units; ++u) {
    const double left = -3 + jitter(rng);
    const double right = 3 + jitter(rng);
    const double d = (right - left) / n;
    const double lean = 0.5 + jitter(rng);
    p.left_bound[u] = static_cast<float>(left);
    p.right_bound[u] = static_cast<float>(right);
    for (int j = 0; j <= n; ++j) {
      const double x = left + j * d;
      const double shape =
          x / (1 + std::exp(-x)) * lean + (1 - lean) * x * x / 4;
      p.values[u * (n + 1) + j] =
          static_cast<float>(shape + 2 * jitter(rng) * std::min(d, 0.5));
    }
    p.left_slope[u] = u == 0 ? 0.0f : static_cast<float>(jitter(rng));
    p.right_slope[u] = static_cast<float>(1 + jitter(rng));
  }
  return p;
}

// Mostly N(0, 2) (both tails and the interior), a few far values.
inline std::vector<float> RandomInputs(int64_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::uniform_int_distribution<int> pick(0, 99);
  std::vector<float> x(size);
  for (float& v : x) v = pick(rng) == 0 ? normal(rng) * 1e4f : normal(rng);
  return x;
}

inline std::vector<float> RandomGradients(int64_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> g(-1.0f, 1.0f);
  std::vector<float> dy(size);
  for (float& v : dy) v = g(rng);
  return dy;
}

inline std::vector<const PwluKernel*> RunnableKernels() {
  std::vector<const PwluKernel*> kernels;
  for (const PwluKernel& k : PwluKernels()) {
    if (PwluIsaSupported(k.isa)) kernels.push_back(&k);
  }
  return kernels;
}

}  // namespace testing
}  // namespace actlab

#endif  // ACTLAB_TESTS_KERNELS_PWLU_TEST_UTIL_H_
