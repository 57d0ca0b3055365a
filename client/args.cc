// Copyright actlab authors.

#include "client/args.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace actlab {
namespace {

constexpr absl::string_view kUsagePayload = "type.actlab.dev/usage";

std::string Canonical(absl::string_view name) {
  std::string canonical(name);
  std::replace(canonical.begin(), canonical.end(), '-', '_');
  return canonical;
}

const FlagSpec* FindFlag(absl::Span<const FlagSpec> specs,
                         absl::string_view name) {
  const std::string wanted = Canonical(name);
  for (const FlagSpec& spec : specs) {
    if (Canonical(spec.name) == wanted) return &spec;
  }
  return nullptr;
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kUsagePayload, absl::Cord());
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

bool ParsedArgs::Has(absl::string_view flag) const {
  return flags_.find(flag) != flags_.end();
}

std::string ParsedArgs::Get(absl::string_view flag,
                            absl::string_view fallback) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? std::string(fallback) : it->second.back();
}

std::vector<std::string> ParsedArgs::GetAll(absl::string_view flag) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? std::vector<std::string>() : it->second;
}

absl::StatusOr<double> ParsedArgs::GetDouble(absl::string_view flag,
                                             double fallback) const {
  if (!Has(flag)) return fallback;
  return ParseDouble(Get(flag), absl::StrCat("--", flag));
}

absl::StatusOr<int64_t> ParsedArgs::GetInt(absl::string_view flag,
                                           int64_t fallback) const {
  if (!Has(flag)) return fallback;
  return ParseInt(Get(flag), absl::StrCat("--", flag));
}

absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const FlagSpec> specs,
                                     absl::Span<const std::string> args,
                                     bool stop_at_positional) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") {
      parsed.positional_.insert(parsed.positional_.end(), args.begin() + i + 1,
                                args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (stop_at_positional) {
        parsed.positional_.insert(parsed.positional_.end(), args.begin() + i,
                                  args.end());
        break;
      }
      parsed.positional_.emplace_back(arg);
      continue;
    }
    if (arg == "-h") arg = "--help";
    if (!absl::ConsumePrefix(&arg, "--")) {
      return UsageError(absl::StrCat("unknown flag '", arg, "'"));
    }
    absl::string_view name = arg;
    absl::string_view value;
    const size_t eq = arg.find('=');
    const bool inline_value = eq != absl::string_view::npos;
    if (inline_value) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const FlagSpec* spec = FindFlag(specs, name);
    if (spec == nullptr) {
      return UsageError(absl::StrCat("unknown flag '--", name, "'"));
    }
    if (spec->value_name.empty()) {
      if (inline_value) {
        return UsageError(absl::StrCat("--", spec->name, " takes no value"));
      }
    } else if (!inline_value) {
      // The next argument is the value even when it starts with '-', so
      // "--range -3:3" and "--channel-axis -1" work.
      if (i + 1 == args.size()) {
        return UsageError(absl::StrCat("--", spec->name, " needs a value (",
                                       spec->value_name, ")"));
      }
      value = args[++i];
    }
    std::vector<std::string>& values = parsed.flags_[spec->name];
    if (!values.empty() && !spec->repeated) {
      return UsageError(absl::StrCat("--", spec->name, " given twice"));
    }
    values.emplace_back(value);
  }
  return parsed;
}

absl::StatusOr<NamedSpec> ParseNamedSpec(absl::string_view text) {
  NamedSpec spec;
  const size_t colon = text.find(':');
  spec.name = std::string(absl::StripAsciiWhitespace(text.substr(0, colon)));
  if (spec.name.empty()) {
    return UsageError(absl::StrCat("'", text, "': the name is empty"));
  }
  if (colon == absl::string_view::npos) return spec;
  std::set<std::string, std::less<>> seen;
  for (absl::string_view option :
       absl::StrSplit(text.substr(colon + 1), ',', absl::SkipWhitespace())) {
    const size_t eq = option.find('=');
    if (eq == absl::string_view::npos) {
      return UsageError(
          absl::StrCat("'", text, "': option '", option, "' is not key=value"));
    }
    std::string key(absl::StripAsciiWhitespace(option.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(option.substr(eq + 1)));
    if (key.empty()) {
      return UsageError(
          absl::StrCat("'", text, "': option '", option, "' has no key"));
    }
    if (!seen.insert(key).second) {
      return UsageError(
          absl::StrCat("'", text, "': option '", key, "' given twice"));
    }
    spec.options.emplace_back(std::move(key), std::move(value));
  }
  return spec;
}

absl::StatusOr<double> ParseDouble(absl::string_view text,
                                   absl::string_view what) {
  double value;
  if (!absl::SimpleAtod(text, &value)) {
    return UsageError(absl::StrCat(what, ": '", text, "' is not a number"));
  }
  return value;
}

absl::StatusOr<int64_t> ParseInt(absl::string_view text,
                                 absl::string_view what) {
  int64_t value;
  if (!absl::SimpleAtoi(text, &value)) {
    return UsageError(absl::StrCat(what, ": '", text, "' is not an integer"));
  }
  return value;
}

absl::StatusOr<bool> ParseBool(absl::string_view text, absl::string_view what) {
  bool value;
  if (!absl::SimpleAtob(text, &value)) {
    return UsageError(
        absl::StrCat(what, ": '", text, "' is not true or false"));
  }
  return value;
}

}  // namespace actlab
