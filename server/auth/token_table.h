// Copyright actlab authors.
//
// TokenTable maps bearer tokens to principals. It is parsed from the text of
// an --auth_tokens file and never changes; a reload parses a new table.
//
// File format, one entry a line, fields separated by spaces or tabs:
//
//   # comment
//   TOKEN PRINCIPAL [admin]
//
// Blank lines and lines starting with '#' are ignored. TOKEN is 16 to 512
// printable ASCII characters without spaces; PRINCIPAL is 1 to 128 of
// [A-Za-z0-9._@-]; the optional third field is the word "admin". A
// principal may have several tokens (to rotate them), which must agree on
// admin. A malformed line, a token that appears twice or a file without any
// token is InvalidArgument naming the file and the line; the message never
// contains a token.
//
// Tokens are kept only as SHA-256 digests, and a lookup hashes the
// presented token first, so neither the table nor the time a lookup takes
// depends on comparing secret bytes.

#ifndef ACTLAB_SERVER_AUTH_TOKEN_TABLE_H_
#define ACTLAB_SERVER_AUTH_TOKEN_TABLE_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/principal.h"

namespace actlab {

class TokenTable {
 public:
  static constexpr size_t kMinTokenLength = 16;
  static constexpr size_t kMaxTokenLength = 512;
  static constexpr size_t kMaxPrincipalLength = 128;

  // Parses `contents`; `file` only names the source in error messages.
  static absl::StatusOr<TokenTable> Parse(absl::string_view contents,
                                          absl::string_view file);
  // Reads and parses the file at `path`.
  static absl::StatusOr<TokenTable> Load(const std::string& path);

  // The principal `token` names, or nullopt for an unknown token.
  std::optional<Principal> Find(absl::string_view token) const;

  size_t size() const { return principals_.size(); }

 private:
  TokenTable() = default;

  // SHA-256 of a token -> its principal.
  absl::flat_hash_map<std::string, Principal> principals_;
};

}  // namespace actlab

#endif  // ACTLAB_SERVER_AUTH_TOKEN_TABLE_H_
