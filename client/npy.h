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
#include <fstream>
#include <memory>
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

// Reads a .npy file's header, then its elements a run at a time, so a
// tensor larger than memory can be streamed.
class NpyReader {
 public:
  // Opens `path` and checks its header as ReadNpy does (and that the file
  // is long enough for the shape).
  static absl::StatusOr<NpyReader> Open(const std::string& path);

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t elements() const { return elements_; }

  // The next `n` elements into `out`; InvalidArgument past the end.
  absl::Status Read(int64_t n, float* out);

 private:
  NpyReader() = default;

  std::string path_;
  std::unique_ptr<std::ifstream> in_;
  std::vector<int64_t> shape_;
  int64_t elements_ = 0;
  int64_t read_ = 0;
};

// Writes a .npy file header first and its elements as they come, with
// the bytes WriteNpy would produce.
class NpyWriter {
 public:
  // Creates (or truncates) `path` and writes the header for `shape`.
  static absl::StatusOr<NpyWriter> Open(const std::string& path,
                                        absl::Span<const int64_t> shape);

  // Appends elements; InvalidArgument beyond the shape's count.
  absl::Status Append(absl::Span<const float> data);
  // Flushes and closes; InvalidArgument unless every element was appended.
  absl::Status Close();

 private:
  NpyWriter() = default;

  std::string path_;
  std::unique_ptr<std::ofstream> out_;
  int64_t elements_ = 0;
  int64_t written_ = 0;
};

}  // namespace actlab

#endif  // ACTLAB_CLIENT_NPY_H_
