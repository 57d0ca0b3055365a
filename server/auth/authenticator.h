// Copyright actlab authors.
//
// Authenticator decides who makes a call from its `authorization`
// metadata. Off (the server has no --auth_tokens): every call is
// Principal::Anonymous(), whatever it sends. On: the call must carry exactly
// one "authorization: Bearer <token>" whose token is in the table loaded
// from the file; anything else is Unauthenticated, saying whether the
// metadata was missing, malformed or the token unknown, never echoing it.
//
// Reload() re-reads the file and swaps the new table in atomically; a file
// that does not parse leaves the old table in force. Thread-safe.

#ifndef ACTLAB_SERVER_AUTH_AUTHENTICATOR_H_
#define ACTLAB_SERVER_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/auth/principal.h"
#include "server/auth/token_table.h"

namespace actlab {

class Authenticator {
 public:
  // Authentication off.
  Authenticator() = default;
  // On, with the table in `path`; the file's error when it does not parse.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Load(
      const std::string& path);

  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // Tokens in the table in force; 0 when off.
  size_t tokens() const ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads the file: the number of tokens now in force, or the parse
  // error with the old table still in force. FailedPrecondition when off.
  absl::StatusOr<size_t> Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // The caller of a call whose `authorization` metadata has these values.
  absl::StatusOr<Principal> Authenticate(
      absl::Span<const absl::string_view> authorization) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Authenticator(std::string path, TokenTable table);

  const std::string path_;
  mutable absl::Mutex mu_;
  // Replaced whole by Reload; a lookup holds its own reference.
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_AUTH_AUTHENTICATOR_H_
