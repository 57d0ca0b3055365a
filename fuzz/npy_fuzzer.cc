// Copyright actlab authors.
//
// Fuzzes the .npy reader on arbitrary bytes. An accepted array must be
// self-consistent and must survive EncodeNpy -> ParseNpy unchanged, so the
// target also catches a parser that accepts what the writer cannot express.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "client/npy.h"

namespace {

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<actlab::NpyArray> array = actlab::ParseNpy(bytes, "fuzz");
  if (!array.ok()) return 0;
  if (Product(array->shape) != static_cast<int64_t>(array->data.size())) {
    std::abort();
  }
  absl::StatusOr<std::string> encoded =
      actlab::EncodeNpy(array->shape, array->data);
  if (!encoded.ok()) std::abort();
  absl::StatusOr<actlab::NpyArray> again = actlab::ParseNpy(*encoded, "again");
  // Compared bitwise: NaN payloads must round-trip too.
  if (!again.ok() || again->shape != array->shape ||
      again->data.size() != array->data.size() ||
      (!array->data.empty() &&
       std::memcmp(again->data.data(), array->data.data(),
                   array->data.size() * sizeof(float)) != 0)) {
    std::abort();
  }
  return 0;
}
