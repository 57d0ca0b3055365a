// Copyright actlab authors.

#include "server/session/session_store.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace actlab {
namespace {

// Marks the status so callers can tell a missing session from a NotFound
// that an Update's body returned.
constexpr char kNoSuchSessionPayload[] = "actlab.session_store/no-such-session";

}  // namespace

absl::Status NoSuchSession(absl::string_view session_id) {
  absl::Status status = absl::NotFoundError(
      absl::StrCat("session store: no session '", session_id, "'"));
  status.SetPayload(kNoSuchSessionPayload, absl::Cord("1"));
  return status;
}

bool IsNoSuchSession(const absl::Status& status) {
  return status.code() == absl::StatusCode::kNotFound &&
         status.GetPayload(kNoSuchSessionPayload).has_value();
}

absl::Status TooManySessions(int64_t max_sessions) {
  return absl::ResourceExhaustedError(
      absl::StrCat("max_sessions (", max_sessions,
                   ") reached: the server holds that many sessions; delete "
                   "one (DeleteSession) before creating another"));
}

}  // namespace actlab
