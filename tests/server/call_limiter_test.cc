// Copyright actlab authors.
//
// CallLimiter: admission up to the limit, refusal naming it, release on
// the ticket's destruction, once however often the ticket moved.

#include "server/call_limiter.h"

#include <optional>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;

TEST(CallLimiterTest, AdmitsUpToTheLimitAndFreesOnRelease) {
  CallLimiter limiter(2);
  std::vector<CallLimiter::Ticket> tickets;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<CallLimiter::Ticket> ticket = limiter.Admit();
    ASSERT_TRUE(ticket.ok()) << ticket.status();
    tickets.push_back(*std::move(ticket));
  }
  EXPECT_EQ(limiter.in_flight(), 2);
  absl::StatusOr<CallLimiter::Ticket> refused = limiter.Admit();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("max_calls_in_flight (2) reached"));
  EXPECT_EQ(limiter.in_flight(), 2);

  tickets.pop_back();
  EXPECT_EQ(limiter.in_flight(), 1);
  EXPECT_TRUE(limiter.Admit().ok());  // admitted, and released at once
  EXPECT_EQ(limiter.in_flight(), 1);
}

TEST(CallLimiterTest, AMovedTicketCountsOnce) {
  CallLimiter limiter(1);
  std::optional<CallLimiter::Ticket> outer;
  {
    absl::StatusOr<CallLimiter::Ticket> ticket = limiter.Admit();
    ASSERT_TRUE(ticket.ok());
    outer.emplace(*std::move(ticket));
  }
  EXPECT_EQ(limiter.in_flight(), 1);
  EXPECT_FALSE(limiter.Admit().ok());
  outer.reset();
  EXPECT_EQ(limiter.in_flight(), 0);
  EXPECT_TRUE(limiter.Admit().ok());
}

}  // namespace
}  // namespace actlab
