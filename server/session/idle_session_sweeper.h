// Copyright actlab authors.
//
// Deletes idle sessions in the background: a thread calls
// SessionManager::ExpireIdleSessions every SweepPeriod(session_ttl) until
// the sweeper is destroyed. A session therefore goes at most one period
// after it became eligible (see SessionManager). Replicas on one store may
// each run one; a session is deleted once.

#ifndef ACTLAB_SERVER_SESSION_IDLE_SESSION_SWEEPER_H_
#define ACTLAB_SERVER_SESSION_IDLE_SESSION_SWEEPER_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/session/session_manager.h"

namespace actlab {

class IdleSessionSweeper {
 public:
  // min(ttl / 4, 60 s): often enough that a session outlives its TTL by a
  // small fraction of it, rarely enough to cost nothing.
  static absl::Duration SweepPeriod(absl::Duration ttl);

  // Starts sweeping `sessions`, which must have a session_ttl and outlive
  // the sweeper. `log` gets a line for each sweep that deleted something
  // or failed (a failed sweep is retried next period).
  IdleSessionSweeper(SessionManager* sessions,
                     std::function<void(const std::string&)> log);
  // Stops the thread, waiting for a sweep in progress.
  ~IdleSessionSweeper();
  IdleSessionSweeper(const IdleSessionSweeper&) = delete;
  IdleSessionSweeper& operator=(const IdleSessionSweeper&) = delete;

 private:
  void Run();

  SessionManager* const sessions_;
  const std::function<void(const std::string&)> log_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_SESSION_IDLE_SESSION_SWEEPER_H_
