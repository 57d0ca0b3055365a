// Copyright actlab authors.

#include "server/call_limiter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace actlab {

CallLimiter::Ticket::Ticket(Ticket&& other)
    : in_flight_(std::exchange(other.in_flight_, nullptr)) {}

CallLimiter::Ticket::~Ticket() {
  if (in_flight_ != nullptr)
    in_flight_->fetch_sub(1, std::memory_order_relaxed);
}

CallLimiter::CallLimiter(int max_calls) : max_calls_(max_calls) {}

absl::StatusOr<CallLimiter::Ticket> CallLimiter::Admit() {
  // Compare-and-swap rather than add-then-undo, so a refused call never
  // pushes the count over the limit and makes another refusal spurious.
  int current = in_flight_.load(std::memory_order_relaxed);
  do {
    if (current >= max_calls_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "max_calls_in_flight (", max_calls_,
          ") reached: the server is running that many calls; retry later"));
    }
  } while (!in_flight_.compare_exchange_weak(current, current + 1,
                                             std::memory_order_relaxed));
  return Ticket(&in_flight_);
}

int CallLimiter::in_flight() const {
  return in_flight_.load(std::memory_order_relaxed);
}

}  // namespace actlab
