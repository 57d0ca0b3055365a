// Copyright actlab authors.
//
// Lets ThreadSanitizer see absl::Mutex. Built and linked into every binary
// of the tsan preset only (ACTLAB_TSAN, see the top CMakeLists.txt).
//
// Debian's Abseil is compiled without -fsanitize=thread, so TSan sees
// neither its lock nor its unlock and reports a race on everything an
// absl::Mutex guards, in our code and across gRPC's threads (gRPC's own
// mutexes and condition variables are absl ones too). This shared library
// sits ahead of libabsl_synchronization in the dynamic linker's search
// order, so the entry points below replace Abseil's for the executable, for
// gRPC and for Abseil's calls to itself (it calls its exported functions
// through the PLT). Each one tells TSan what the real one, found with
// dlsym(RTLD_NEXT), does, using the annotations Abseil itself carries when
// it is built with TSan. The names are Debian's Abseil 20220623 (inline
// namespace debian3): another Abseil fails to compile here, or aborts at
// the first lock if a symbol is missing, rather than going unseen.
//
// Destruction is not annotated: TSan would treat it as a write, and gRPC
// destroys mutexes after handing their owner over through its reference
// counts, which are atomics in uninstrumented code and so invisible to TSan.
//
// Not covered: reader-mode waits (Await or CondVar::Wait while holding a
// reader lock are annotated as writer-mode, which TSan reports as a misuse)
// and the Reader*When and Notification entry points; neither we nor gRPC
// use them. tsan_absl_mutex_test exercises every entry point here.

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace absl {
inline namespace debian3 {
namespace {

template <typename Fn>
Fn Real(const char* mangled_name) {
  void* fn = dlsym(RTLD_NEXT, mangled_name);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found: %s\n", mangled_name,
                 dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// Abseil's functions call each other (AwaitWithTimeout calls
// AwaitWithDeadline, CondVar::Wait unlocks and relocks): only the outermost
// call on a thread is the user's operation, the rest is its inside.
thread_local int depth = 0;

class Outermost {
 public:
  Outermost() { ++depth; }
  ~Outermost() { --depth; }
  Outermost(const Outermost&) = delete;
  Outermost& operator=(const Outermost&) = delete;
};

// Runs `real` (returning void, or bool for a try-lock or a timed lock) as
// a lock operation on `mu`. TSan ignores the accesses inside it (Abseil's
// atomics, a Condition being evaluated), as it does in an instrumented
// Abseil.
template <typename Call>
auto Locking(void* mu, unsigned flags, Call real) {
  Outermost outermost;
  __tsan_mutex_pre_lock(mu, flags);
  if constexpr (std::is_void_v<decltype(real())>) {
    real();
    __tsan_mutex_post_lock(mu, flags, 0);
  } else {
    const bool result = real();
    const bool failed = (flags & __tsan_mutex_try_lock) && !result;
    __tsan_mutex_post_lock(
        mu, flags | (failed ? __tsan_mutex_try_lock_failed : 0), 0);
    return result;
  }
}

// For waits that release a held writer lock and take it again before they
// return: the release is published before the real unlock can let another
// thread in, the acquire after the real relock.
template <typename Call>
auto Waiting(Mutex* mu, Call real) {
  Outermost outermost;
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  if constexpr (std::is_void_v<decltype(real())>) {
    real();
    __tsan_mutex_post_lock(mu, 0, 0);
  } else {
    const bool result = real();
    __tsan_mutex_post_lock(mu, 0, 0);
    return result;
  }
}

void Unlocking(Mutex* mu, unsigned flags, void (*real)(Mutex*)) {
  Outermost outermost;
  __tsan_mutex_pre_unlock(mu, flags);
  real(mu);
  __tsan_mutex_post_unlock(mu, flags);
}

}  // namespace

void Mutex::Lock() {
  static const auto real =
      Real<void (*)(Mutex*)>("_ZN4absl7debian35Mutex4LockEv");
  if (depth > 0) return real(this);
  Locking(this, 0, [&] { real(this); });
}

bool Mutex::TryLock() {
  static const auto real =
      Real<bool (*)(Mutex*)>("_ZN4absl7debian35Mutex7TryLockEv");
  if (depth > 0) return real(this);
  return Locking(this, __tsan_mutex_try_lock, [&] { return real(this); });
}

void Mutex::Unlock() {
  static const auto real =
      Real<void (*)(Mutex*)>("_ZN4absl7debian35Mutex6UnlockEv");
  if (depth > 0) return real(this);
  Unlocking(this, 0, real);
}

void Mutex::ReaderLock() {
  static const auto real =
      Real<void (*)(Mutex*)>("_ZN4absl7debian35Mutex10ReaderLockEv");
  if (depth > 0) return real(this);
  Locking(this, __tsan_mutex_read_lock, [&] { real(this); });
}

void Mutex::ReaderUnlock() {
  static const auto real =
      Real<void (*)(Mutex*)>("_ZN4absl7debian35Mutex12ReaderUnlockEv");
  if (depth > 0) return real(this);
  Unlocking(this, __tsan_mutex_read_lock, real);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  if (depth > 0) return real(this, cond);
  Locking(this, 0, [&] { real(this, cond); });
}

// Returns whether `cond` held; the lock is held either way.
bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_"
      "8DurationE");
  if (depth > 0) return real(this, cond, timeout);
  return Locking(this, 0, [&] { return real(this, cond, timeout); });
}

void Mutex::Await(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  if (depth > 0) return real(this, cond);
  Waiting(this, [&] { real(this, cond); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_"
      "8DurationE");
  if (depth > 0) return real(this, cond, timeout);
  return Waiting(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  if (depth > 0) return real(this, cond, deadline);
  return Waiting(this, [&] { return real(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  static const auto real = Real<void (*)(CondVar*, Mutex*)>(
      "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  if (depth > 0) return real(this, mu);
  Waiting(mu, [&] { real(this, mu); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  if (depth > 0) return real(this, mu, timeout);
  return Waiting(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  if (depth > 0) return real(this, mu, deadline);
  return Waiting(mu, [&] { return real(this, mu, deadline); });
}

}  // namespace debian3
}  // namespace absl
