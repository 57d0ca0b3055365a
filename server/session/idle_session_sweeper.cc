// Copyright actlab authors.

#include "server/session/idle_session_sweeper.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace actlab {

absl::Duration IdleSessionSweeper::SweepPeriod(absl::Duration ttl) {
  return std::min(ttl / 4, absl::Seconds(60));
}

IdleSessionSweeper::IdleSessionSweeper(
    SessionManager* sessions, std::function<void(const std::string&)> log)
    : sessions_(sessions), log_(std::move(log)), thread_([this] { Run(); }) {}

IdleSessionSweeper::~IdleSessionSweeper() {
  stop_.Notify();
  thread_.join();
}

void IdleSessionSweeper::Run() {
  const absl::Duration period = SweepPeriod(sessions_->options().session_ttl);
  while (!stop_.WaitForNotificationWithTimeout(period)) {
    absl::StatusOr<int64_t> deleted = sessions_->ExpireIdleSessions();
    if (!deleted.ok()) {
      log_(absl::StrCat("idle session sweep failed: ",
                        deleted.status().ToString()));
    } else if (*deleted > 0) {
      log_(absl::StrCat("deleted ", *deleted, " session",
                        *deleted == 1 ? "" : "s", " idle for over ",
                        absl::FormatDuration(sessions_->options().session_ttl),
                        " (--session_ttl)"));
    }
  }
}

}  // namespace actlab
