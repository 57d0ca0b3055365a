// Copyright actlab authors.
//
// How many threads one kernel call may use, for the PWLU kernels and the
// oneDNN baselines alike (both run on OpenMP). A process-wide setting,
// because OpenMP's own is per calling thread and a server's calls arrive
// on many threads.

#ifndef ACTLAB_KERNELS_KERNEL_THREADS_H_
#define ACTLAB_KERNELS_KERNEL_THREADS_H_

#include <cstdint>

namespace actlab {

// Below this many elements a call runs on the calling thread: forking a
// team costs more than the work, and while other processes load the cores a
// waiting team stalls a small call by milliseconds.
inline constexpr int64_t kParallelMinElements = int64_t{1} << 16;

// Caps the threads of one call; 0 restores OpenMP's default
// (OMP_NUM_THREADS, else the number of cores). Thread-safe.
void SetKernelThreads(int threads);

// The threads a call over `elements` elements uses.
int KernelThreadsFor(int64_t elements);

}  // namespace actlab

#endif  // ACTLAB_KERNELS_KERNEL_THREADS_H_
