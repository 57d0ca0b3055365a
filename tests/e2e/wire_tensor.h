// Copyright actlab authors.
//
// FLOAT32 actlab.v1.Tensor messages built and read the way a client in any
// language would, straight from the wire format, for tests that call the
// API without the CLI.

#ifndef ACTLAB_TESTS_E2E_WIRE_TENSOR_H_
#define ACTLAB_TESTS_E2E_WIRE_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "actlab/v1/actlab.pb.h"

namespace actlab {

// `data` as a tensor of `shape`; the caller keeps the two consistent (tests
// of bad input rely on being able not to).
v1::Tensor Floats(const std::vector<int64_t>& shape,
                  const std::vector<float>& data);
// `data` as a 1-d tensor.
v1::Tensor Floats(const std::vector<float>& data);

// The values of a FLOAT32 tensor's data bytes.
std::vector<float> FloatsOf(const std::string& bytes);

}  // namespace actlab

#endif  // ACTLAB_TESTS_E2E_WIRE_TENSOR_H_
