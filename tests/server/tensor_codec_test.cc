// Copyright actlab authors.

#include "server/tensor_codec.h"

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace actlab {
namespace {

v1::Tensor MakeTensor(std::vector<int64_t> shape, size_t bytes) {
  v1::Tensor tensor;
  tensor.set_dtype(v1::FLOAT32);
  for (int64_t d : shape) tensor.add_shape(d);
  tensor.set_data(std::string(bytes, '\0'));
  return tensor;
}

void ExpectInvalid(const v1::Tensor& tensor, const std::string& fragment) {
  auto view = DecodeTensor(tensor, "input");
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(view.status().message());
  EXPECT_NE(message.find("input"), std::string::npos) << message;
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

TEST(TensorCodecTest, DecodesWithoutCopying) {
  v1::Tensor tensor = MakeTensor({2, 3}, 24);
  const float values[6] = {1, 2, 3, 4, 5, 6};
  std::memcpy(tensor.mutable_data()->data(), values, sizeof(values));
  auto view = DecodeTensor(tensor, "input");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->elements, 6);
  EXPECT_EQ(view->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(static_cast<const void*>(view->data),
            static_cast<const void*>(tensor.data().data()));
  EXPECT_EQ(view->data[5], 6.0f);
}

TEST(TensorCodecTest, ScalarAndEmptyTensors) {
  auto scalar = DecodeTensor(MakeTensor({}, 4), "input");
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->elements, 1);
  auto empty = DecodeTensor(MakeTensor({3, 0}, 0), "input");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->elements, 0);
}

TEST(TensorCodecTest, RefusesWrongDataLength) {
  ExpectInvalid(MakeTensor({2, 3}, 20), "needs 24");
}

TEST(TensorCodecTest, RefusesNegativeDimension) {
  ExpectInvalid(MakeTensor({2, -3}, 0), "shape[1] is -3");
}

TEST(TensorCodecTest, RefusesOverflowingShape) {
  const int64_t big = std::numeric_limits<int64_t>::max() / 2;
  ExpectInvalid(MakeTensor({big, big}, 0), "overflows");
}

TEST(TensorCodecTest, RefusesOtherDtypes) {
  v1::Tensor tensor = MakeTensor({1}, 2);
  tensor.set_dtype(v1::BFLOAT16);
  ExpectInvalid(tensor, "BFLOAT16");
  tensor.set_dtype(v1::DATA_TYPE_UNSPECIFIED);
  ExpectInvalid(tensor, "DATA_TYPE_UNSPECIFIED");
}

TEST(TensorCodecTest, RefusesTooManyElements) {
  auto view = DecodeTensor(MakeTensor({10}, 40), "input", 8);
  ASSERT_FALSE(view.ok());
  EXPECT_NE(view.status().message().find("limit is 8"), std::string::npos);
}

TEST(TensorCodecTest, PrepareTensorSizesTheReply) {
  v1::Tensor out;
  const std::vector<int64_t> shape = {4, 5};
  float* data = PrepareTensor(shape, &out);
  data[19] = 7.0f;
  EXPECT_EQ(out.data().size(), 80u);
  auto view = DecodeTensor(out, "output");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->data[19], 7.0f);
}

}  // namespace
}  // namespace actlab
