// Copyright actlab authors.
//
// Progress display for long commands: a bar redrawn in place on a terminal.
// Commands decide what a line says; this keeps the drawing in one place.

#ifndef ACTLAB_CLIENT_PROGRESS_H_
#define ACTLAB_CLIENT_PROGRESS_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"

namespace actlab {

// "[#####.....]": `width` cells filled in proportion to done / total (full
// when total <= 0, so an unknown total never draws an empty bar forever).
std::string ProgressBar(int64_t done, int64_t total, int width = 30);

// Replaces the terminal's current line with `text`: carriage return, the
// text, then clear-to-end-of-line so a shorter line leaves no residue.
void RedrawLine(std::ostream& out, absl::string_view text);

// A remaining time for people: "0s", "42s", "3m07s", "2h05m".
std::string FormatEta(double seconds);

}  // namespace actlab

#endif  // ACTLAB_CLIENT_PROGRESS_H_
