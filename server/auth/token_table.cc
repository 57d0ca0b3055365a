// Copyright actlab authors.

#include "server/auth/token_table.h"

#include <openssl/evp.h>

#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace actlab {
namespace {

std::string Digest(absl::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(),
             nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

bool IsTokenChar(char c) { return c > ' ' && c <= '~'; }

bool IsPrincipalChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == '@' || c == '-';
}

// What the line that defined a token or a principal said.
struct Seen {
  int line = 0;
  bool admin = false;
};

}  // namespace

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view contents,
                                             absl::string_view file) {
  TokenTable table;
  absl::flat_hash_map<std::string, int> token_lines;
  absl::flat_hash_map<std::string, Seen> principal_lines;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++number;
    const absl::string_view text =
        absl::StripAsciiWhitespace(absl::StripSuffix(line, "\r"));
    if (text.empty() || text[0] == '#') continue;
    auto error = [&](absl::string_view reason) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ":", number, ": ", reason));
    };
    const std::vector<absl::string_view> fields =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 2 || fields.size() > 3) {
      return error(absl::StrCat("expected 'TOKEN PRINCIPAL [admin]', found ",
                                fields.size(), " fields"));
    }
    const absl::string_view token = fields[0];
    const absl::string_view name = fields[1];
    if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) {
      return error(absl::StrCat("the token has ", token.size(),
                                " characters; tokens have ", kMinTokenLength,
                                " to ", kMaxTokenLength));
    }
    for (char c : token) {
      if (!IsTokenChar(c)) {
        return error("the token has a character outside printable ASCII");
      }
    }
    if (name.size() > kMaxPrincipalLength) {
      return error(absl::StrCat("the principal has ", name.size(),
                                " characters; at most ", kMaxPrincipalLength));
    }
    for (char c : name) {
      if (!IsPrincipalChar(c)) {
        return error(absl::StrCat(
            "principal '", absl::CHexEscape(name),
            "' has a character outside letters, digits and . _ @ -"));
      }
    }
    if (fields.size() == 3 && fields[2] != "admin") {
      return error(absl::StrCat("the third field must be 'admin', not '",
                                absl::CHexEscape(fields[2]), "'"));
    }
    const bool admin = fields.size() == 3;
    std::string digest = Digest(token);
    auto [token_seen, new_token] = token_lines.emplace(digest, number);
    if (!new_token) {
      return error(absl::StrCat("this token already appears on line ",
                                token_seen->second));
    }
    auto [principal_seen, new_principal] =
        principal_lines.emplace(name, Seen{number, admin});
    if (!new_principal && principal_seen->second.admin != admin) {
      return error(absl::StrCat(
          "principal '", name, "' is ", admin ? "" : "not ", "admin here but ",
          principal_seen->second.admin ? "" : "not ", "admin on line ",
          principal_seen->second.line, "; a principal's tokens must agree"));
    }
    table.principals_.emplace(std::move(digest),
                              Principal{std::string(name), admin});
  }
  if (table.principals_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file,
                     ": no tokens; every line is blank or a comment (an empty "
                     "table would refuse every call)"));
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot open the file"));
  }
  std::string contents((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read the file"));
  }
  return Parse(contents, path);
}

std::optional<Principal> TokenTable::Find(absl::string_view token) const {
  auto it = principals_.find(Digest(token));
  if (it == principals_.end()) return std::nullopt;
  return it->second;
}

}  // namespace actlab
