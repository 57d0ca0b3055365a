// Copyright actlab authors.

#include "server/auth/authenticator.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace actlab {

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Load(
    const std::string& path) {
  absl::StatusOr<TokenTable> table = TokenTable::Load(path);
  if (!table.ok()) return table.status();
  return std::unique_ptr<Authenticator>(
      new Authenticator(path, *std::move(table)));
}

Authenticator::Authenticator(std::string path, TokenTable table)
    : path_(std::move(path)),
      table_(std::make_shared<const TokenTable>(std::move(table))) {}

size_t Authenticator::tokens() const {
  absl::ReaderMutexLock lock(&mu_);
  return table_ == nullptr ? 0 : table_->size();
}

absl::StatusOr<size_t> Authenticator::Reload() {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "authentication is off; there is no --auth_tokens file to reload");
  }
  absl::StatusOr<TokenTable> table = TokenTable::Load(path_);
  if (!table.ok()) return table.status();
  const size_t size = table->size();
  auto loaded = std::make_shared<const TokenTable>(*std::move(table));
  absl::MutexLock lock(&mu_);
  table_ = std::move(loaded);
  return size;
}

absl::StatusOr<Principal> Authenticator::Authenticate(
    absl::Span<const absl::string_view> authorization) const {
  if (!enabled()) return Principal::Anonymous();
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing 'authorization: Bearer <token>' metadata; this server "
        "requires a token (actlab --token or $ACTLAB_TOKEN)");
  }
  if (authorization.size() > 1) {
    return absl::UnauthenticatedError(
        "more than one authorization metadata entry; send exactly one");
  }
  // The scheme is case-insensitive (RFC 7235); one token, no spaces in it.
  absl::string_view value = authorization[0];
  constexpr absl::string_view kScheme = "bearer ";
  absl::string_view token;
  if (absl::StartsWithIgnoreCase(value, kScheme)) {
    token = absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size()));
  }
  if (token.empty() || token.find_first_of(" \t") != absl::string_view::npos) {
    return absl::UnauthenticatedError(
        "malformed authorization metadata; expected 'Bearer <token>'");
  }
  std::shared_ptr<const TokenTable> table;
  {
    absl::ReaderMutexLock lock(&mu_);
    table = table_;
  }
  std::optional<Principal> principal = table->Find(token);
  if (!principal.has_value()) {
    return absl::UnauthenticatedError(
        "the bearer token is not valid on this server (unknown or revoked)");
  }
  return *std::move(principal);
}

}  // namespace actlab
