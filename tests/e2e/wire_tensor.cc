// Copyright actlab authors.

#include "tests/e2e/wire_tensor.h"

#include <cstring>

namespace actlab {

v1::Tensor Floats(const std::vector<int64_t>& shape,
                  const std::vector<float>& data) {
  v1::Tensor t;
  t.set_dtype(v1::FLOAT32);
  for (int64_t d : shape) t.add_shape(d);
  t.set_data(std::string(reinterpret_cast<const char*>(data.data()),
                         data.size() * sizeof(float)));
  return t;
}

v1::Tensor Floats(const std::vector<float>& data) {
  return Floats({static_cast<int64_t>(data.size())}, data);
}

std::vector<float> FloatsOf(const std::string& bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

}  // namespace actlab
