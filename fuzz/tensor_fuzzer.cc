// Copyright actlab authors.
//
// Fuzzes DecodeTensor on a v1::Tensor parsed from arbitrary bytes. Whatever
// it accepts is read in full, so ASan flags a view that promises more floats
// than the message holds.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "actlab/v1/actlab.pb.h"
#include "server/tensor_codec.h"

namespace {

void CheckView(const actlab::v1::Tensor& tensor, int64_t max_elements) {
  absl::StatusOr<actlab::TensorView> view =
      actlab::DecodeTensor(tensor, "input", max_elements);
  if (!view.ok()) return;
  if (view->elements > max_elements ||
      static_cast<size_t>(view->elements) * sizeof(float) !=
          tensor.data().size()) {
    std::abort();
  }
  float sum = 0;
  for (int64_t i = 0; i < view->elements; ++i) sum += view->data[i];
  // Keeps the reads from being optimised away.
  volatile float sink = sum;
  (void)sink;
  (void)actlab::ShapeString(view->shape);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  actlab::v1::Tensor tensor;
  if (!tensor.ParseFromArray(data, static_cast<int>(size))) return 0;
  CheckView(tensor, INT64_MAX);
  CheckView(tensor, 16);
  return 0;
}
