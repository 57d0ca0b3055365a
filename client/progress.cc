// Copyright actlab authors.

#include "client/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace actlab {

std::string ProgressBar(int64_t done, int64_t total, int width) {
  const int64_t filled =
      total <= 0 ? width : std::clamp<int64_t>(done * width / total, 0, width);
  return absl::StrCat("[", std::string(filled, '#'),
                      std::string(width - filled, '.'), "]");
}

void RedrawLine(std::ostream& out, absl::string_view text) {
  out << "\r" << text << "\x1b[K" << std::flush;
}

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<int64_t>(std::ceil(seconds));
  if (total < 60) return absl::StrCat(total, "s");
  if (total < 3600) {
    return absl::StrFormat("%dm%02ds", total / 60, total % 60);
  }
  return absl::StrFormat("%dh%02dm", total / 3600, total % 3600 / 60);
}

}  // namespace actlab
