// Copyright actlab authors.
//
// Reads and writes NumPy .npy files holding little-endian float32 arrays in
// C order, the only kind the actlab API carries. Reading accepts format
// versions 1.0, 2.0 and 3.0; writing produces version 1.0 byte for byte as
// NumPy (>= 1.23) writes it, so files diff cleanly against NumPy's.
//
// Every refusal is InvalidArgument and its message starts with the file name
// followed by the reason ("x.npy: dtype '<f8' is not supported; ...").

#ifndef ACTLAB_CLIENT_NPY_H_
#define ACTLAB_CLIENT_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace actlab {

// A float32 array; a 0-d array has an empty shape and one element.
struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Parses the contents of a .npy file; `name` only labels error messages.
absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes,
                                  absl::string_view name);

// Reads and parses the file at `path`.
absl::StatusOr<NpyArray> ReadNpy(const std::string& path);

// Serialises `data` of `shape` as a version 1.0 .npy file. `data.size()` must
// equal the product of `shape` (InvalidArgument otherwise).
absl::StatusOr<std::string> EncodeNpy(absl::Span<const int64_t> shape,
                                      absl::Span<const float> data);

// Writes EncodeNpy's bytes to `path`, replacing any existing file.
absl::Status WriteNpy(const std::string& path, absl::Span<const int64_t> shape,
                      absl::Span<const float> data);

}  // namespace actlab

#endif  // ACTLAB_CLIENT_NPY_H_
