// Copyright actlab authors.
//
// Bounds how many calls a server runs at once. Admit() hands out a ticket
// while fewer than max_calls tickets are alive and fails with
// ResourceExhausted otherwise; destroying the ticket ends the call. Refusing
// at once rather than queueing keeps a saturated server's latency bounded
// and tells the client to back off. Lock-free and thread-safe.

#ifndef ACTLAB_SERVER_CALL_LIMITER_H_
#define ACTLAB_SERVER_CALL_LIMITER_H_

#include <atomic>

#include "absl/status/statusor.h"

namespace actlab {

class CallLimiter {
 public:
  // One admitted call; movable, and counts once however often moved.
  class Ticket {
   public:
    Ticket(Ticket&& other);
    Ticket& operator=(Ticket&& other) = delete;
    ~Ticket();

   private:
    friend class CallLimiter;
    explicit Ticket(std::atomic<int>* in_flight) : in_flight_(in_flight) {}

    std::atomic<int>* in_flight_;  // null once moved from
  };

  // max_calls >= 1.
  explicit CallLimiter(int max_calls);

  // ResourceExhausted naming max_calls_in_flight and its value when
  // max_calls calls are in flight.
  absl::StatusOr<Ticket> Admit();

  int in_flight() const;
  int max_calls() const { return max_calls_; }

 private:
  const int max_calls_;
  std::atomic<int> in_flight_{0};
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_CALL_LIMITER_H_
