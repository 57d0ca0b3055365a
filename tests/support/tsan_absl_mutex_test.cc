// Copyright actlab authors.
//
// Checks that TSan sees every absl::Mutex entry point tsan_absl_mutex.cc
// annotates (built in the tsan preset only). Each test shares plain data
// between threads under one of them: were that entry point invisible to
// TSan, it would report the accesses as a race and halt the test.

#include <atomic>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace {

constexpr int kAdds = 1000;

// Two threads each add kAdds times to a counter guarded by `add`.
void CountFromTwoThreads(const std::function<void(absl::Mutex&, int&)>& add) {
  absl::Mutex mu;
  int counter = 0;
  auto adder = [&] {
    for (int i = 0; i < kAdds; ++i) add(mu, counter);
  };
  std::thread first(adder), second(adder);
  first.join();
  second.join();
  EXPECT_EQ(counter, 2 * kAdds);
}

TEST(TsanAbslMutexTest, LockAndUnlock) {
  CountFromTwoThreads([](absl::Mutex& mu, int& counter) {
    absl::MutexLock lock(&mu);
    ++counter;
  });
}

TEST(TsanAbslMutexTest, TryLock) {
  CountFromTwoThreads([](absl::Mutex& mu, int& counter) {
    while (!mu.TryLock()) std::this_thread::yield();
    ++counter;
    mu.Unlock();
  });
}

TEST(TsanAbslMutexTest, ReaderLockSeesWriter) {
  absl::Mutex mu;
  int value = 0;
  std::thread writer([&] {
    for (int i = 1; i <= kAdds; ++i) {
      absl::MutexLock lock(&mu);
      value = i;
    }
  });
  int last = 0;
  for (int i = 0; i < kAdds; ++i) {
    absl::ReaderMutexLock lock(&mu);
    EXPECT_GE(value, last);
    last = value;
  }
  writer.join();
}

// What a producer hands to a consumer under the mutex.
struct HandOffState {
  bool ready = false;
  int value = 0;
  // Set by the consumer when it is about to block. Relaxed, which TSan does
  // not count as synchronisation: only the wait under test may order the
  // producer's writes before the consumer's reads.
  std::atomic<bool> waiting{false};
};

// The consumer's condition; it marks the consumer as waiting when false.
bool Ready(HandOffState* state) {
  if (!state->ready) state->waiting.store(true, std::memory_order_relaxed);
  return state->ready;
}

// `wait` must return holding `mu` with the state ready. The producer
// publishes only once the consumer waits, so the handoff goes through the
// wait itself rather than through a plain Lock that happens to come later.
void HandOff(const std::function<void(absl::Mutex&, absl::CondVar&,
                                      HandOffState&)>& wait) {
  absl::Mutex mu;
  absl::CondVar cv;
  HandOffState state;
  std::thread producer([&] {
    while (!state.waiting.load(std::memory_order_relaxed)) {
      std::this_thread::yield();
    }
    absl::MutexLock lock(&mu);
    state.value = 42;
    state.ready = true;
    cv.Signal();
  });
  wait(mu, cv, state);
  EXPECT_TRUE(state.ready);
  EXPECT_EQ(state.value, 42);
  mu.Unlock();
  producer.join();
}

constexpr absl::Duration kLong = absl::Minutes(1);

TEST(TsanAbslMutexTest, LockWhen) {
  HandOff([](absl::Mutex& mu, absl::CondVar&, HandOffState& state) {
    mu.LockWhen(absl::Condition(&Ready, &state));
  });
}

TEST(TsanAbslMutexTest, LockWhenWithTimeout) {
  HandOff([](absl::Mutex& mu, absl::CondVar&, HandOffState& state) {
    EXPECT_TRUE(mu.LockWhenWithTimeout(absl::Condition(&Ready, &state), kLong));
  });
}

TEST(TsanAbslMutexTest, Await) {
  HandOff([](absl::Mutex& mu, absl::CondVar&, HandOffState& state) {
    mu.Lock();
    mu.Await(absl::Condition(&Ready, &state));
  });
}

TEST(TsanAbslMutexTest, AwaitWithTimeout) {
  HandOff([](absl::Mutex& mu, absl::CondVar&, HandOffState& state) {
    mu.Lock();
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&Ready, &state), kLong));
  });
}

TEST(TsanAbslMutexTest, AwaitWithDeadline) {
  HandOff([](absl::Mutex& mu, absl::CondVar&, HandOffState& state) {
    mu.Lock();
    EXPECT_TRUE(mu.AwaitWithDeadline(absl::Condition(&Ready, &state),
                                     absl::Now() + kLong));
  });
}

TEST(TsanAbslMutexTest, CondVarWait) {
  HandOff([](absl::Mutex& mu, absl::CondVar& cv, HandOffState& state) {
    mu.Lock();
    while (!Ready(&state)) cv.Wait(&mu);
  });
}

TEST(TsanAbslMutexTest, CondVarWaitWithTimeout) {
  HandOff([](absl::Mutex& mu, absl::CondVar& cv, HandOffState& state) {
    mu.Lock();
    while (!Ready(&state)) cv.WaitWithTimeout(&mu, kLong);
  });
}

TEST(TsanAbslMutexTest, CondVarWaitWithDeadline) {
  HandOff([](absl::Mutex& mu, absl::CondVar& cv, HandOffState& state) {
    mu.Lock();
    while (!Ready(&state)) cv.WaitWithDeadline(&mu, absl::Now() + kLong);
  });
}

}  // namespace
