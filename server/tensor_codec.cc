// Copyright actlab authors.

#include "server/tensor_codec.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace actlab {

static_assert(sizeof(float) == 4, "FLOAT32 payloads are 4-byte IEEE floats");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the wire format is little-endian; a big-endian host would "
              "need a byte swap here");

namespace {

// Dtype and shape, without looking at the data.
absl::StatusOr<TensorView> DecodeShape(const v1::Tensor& tensor,
                                       absl::string_view field,
                                       int64_t max_elements) {
  if (tensor.dtype() != v1::FLOAT32) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".dtype: ", v1::DataType_Name(tensor.dtype()),
                     " is not supported; only FLOAT32 is accepted"));
  }
  TensorView view;
  view.shape.assign(tensor.shape().begin(), tensor.shape().end());
  int64_t elements = 1;
  for (int d = 0; d < tensor.shape_size(); ++d) {
    const int64_t dim = tensor.shape(d);
    if (dim < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".shape[", d, "] is ", dim, "; dimensions must be >= 0"));
    }
    if (dim != 0 && elements > std::numeric_limits<int64_t>::max() / 4 / dim) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".shape ", ShapeString(view.shape),
                       ": the element count overflows"));
    }
    elements *= dim;
  }
  if (elements > max_elements) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".shape ", ShapeString(view.shape), " has ",
                     elements, " elements; the limit is ", max_elements));
  }
  view.elements = elements;
  return view;
}

}  // namespace

absl::StatusOr<TensorView> DecodeTensor(const v1::Tensor& tensor,
                                        absl::string_view field,
                                        int64_t max_elements) {
  absl::StatusOr<TensorView> view = DecodeShape(tensor, field, max_elements);
  if (!view.ok()) return view;
  const uint64_t expected =
      static_cast<uint64_t>(view->elements) * sizeof(float);
  if (tensor.data().size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".data has ", tensor.data().size(), " bytes; shape ",
        ShapeString(view->shape), " of FLOAT32 needs ", expected));
  }
  view->data = reinterpret_cast<const float*>(tensor.data().data());
  return view;
}

absl::StatusOr<TensorView> DecodeHeaderTensor(const v1::Tensor& tensor,
                                              absl::string_view field,
                                              int64_t max_elements) {
  if (!tensor.data().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".data: must be empty in a stream header (has ",
        tensor.data().size(), " bytes); the chunks carry the data"));
  }
  return DecodeShape(tensor, field, max_elements);
}

float* PrepareTensor(absl::Span<const int64_t> shape, v1::Tensor* out) {
  out->set_dtype(v1::FLOAT32);
  out->mutable_shape()->Assign(shape.begin(), shape.end());
  int64_t elements = 1;
  for (int64_t dim : shape) elements *= dim;
  std::string* data = out->mutable_data();
  data->resize(static_cast<size_t>(elements) * sizeof(float));
  return reinterpret_cast<float*>(data->data());
}

std::string ShapeString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace actlab
