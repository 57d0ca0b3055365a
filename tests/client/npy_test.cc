// Copyright actlab authors.

#include "client/npy.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace actlab {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string FloatBytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(float));
}

std::vector<float> Iota(size_t n) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = 0.5f * static_cast<float>(i) - 3;
  return values;
}

// A .npy file with the given version and header text, no padding rules
// applied, so tests control every byte.
std::string MakeNpy(int major, const std::string& header,
                    const std::string& data) {
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) {
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  }
  return out + header + data;
}

std::string Header(const std::string& shape, const std::string& descr = "'<f4'",
                   const std::string& order = "False") {
  return absl::StrCat("{'descr': ", descr, ", 'fortran_order': ", order,
                      ", 'shape': ", shape, ", }\n");
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/npy_test_", getpid(), "_", name);
}

TEST(NpyTest, RoundTripsRanksZeroToFour) {
  const std::vector<std::vector<int64_t>> shapes = {
      {}, {5}, {2, 3}, {2, 3, 4}, {2, 1, 3, 2}};
  for (const auto& shape : shapes) {
    size_t count = 1;
    for (int64_t d : shape) count *= static_cast<size_t>(d);
    const std::vector<float> data = Iota(count);
    absl::StatusOr<std::string> bytes = EncodeNpy(shape, data);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    absl::StatusOr<NpyArray> array = ParseNpy(*bytes, "mem.npy");
    ASSERT_TRUE(array.ok()) << array.status();
    EXPECT_EQ(array->shape, shape);
    EXPECT_EQ(array->data, data);
  }
}

TEST(NpyTest, RoundTripsZeroElementArrays) {
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{0}, std::vector<int64_t>{2, 0, 3}}) {
    absl::StatusOr<std::string> bytes = EncodeNpy(shape, {});
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    absl::StatusOr<NpyArray> array = ParseNpy(*bytes, "empty.npy");
    ASSERT_TRUE(array.ok()) << array.status();
    EXPECT_EQ(array->shape, shape);
    EXPECT_TRUE(array->data.empty());
  }
}

TEST(NpyTest, RoundTripsThroughAFile) {
  const std::string path = TempPath("file.npy");
  const std::vector<float> data = Iota(24);
  ASSERT_TRUE(WriteNpy(path, {2, 3, 4}, data).ok());
  absl::StatusOr<NpyArray> array = ReadNpy(path);
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(array->data, data);
  std::remove(path.c_str());
}

TEST(NpyTest, ReadsVersionTwoAndThreeHeaders) {
  const std::vector<float> data = Iota(6);
  for (int major : {2, 3}) {
    absl::StatusOr<NpyArray> array =
        ParseNpy(MakeNpy(major, Header("(2, 3)"), FloatBytes(data)), "v.npy");
    ASSERT_TRUE(array.ok()) << "version " << major << ": " << array.status();
    EXPECT_EQ(array->shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(array->data, data);
  }
}

// What NumPy 1.24 writes for np.arange(6, dtype='<f4').reshape(2, 3): the
// dict, 21 - len("2") spaces of growth room, padding to 64 bytes, '\n'.
TEST(NpyTest, WritesTheBytesNumpyWrites) {
  const std::vector<float> data = {0, 1, 2, 3, 4, 5};
  const std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict;
  expected.append(127 - expected.size(), ' ');
  expected += "\n" + FloatBytes(data);

  absl::StatusOr<std::string> bytes = EncodeNpy({2, 3}, data);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, expected);
}

TEST(NpyTest, WritesScalarAndVectorShapesAsPythonTuples) {
  absl::StatusOr<std::string> scalar = EncodeNpy({}, {1.5f});
  ASSERT_TRUE(scalar.ok());
  EXPECT_THAT(*scalar, HasSubstr("'shape': (), }"));
  absl::StatusOr<std::string> vector = EncodeNpy({5}, Iota(5));
  ASSERT_TRUE(vector.ok());
  EXPECT_THAT(*vector, HasSubstr("'shape': (5,), }"));
}

TEST(NpyTest, AlignsDataToSixtyFourBytes) {
  for (int64_t first :
       {int64_t{1}, int64_t{12}, int64_t{123456}, int64_t{1234567890123}}) {
    absl::StatusOr<std::string> bytes = EncodeNpy({first, 0}, {});
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(bytes->size() % 64, 0u) << first;
    EXPECT_EQ(bytes->back(), '\n') << first;
  }
}

TEST(NpyTest, RefusesDataThatDoesNotMatchTheShape) {
  EXPECT_FALSE(EncodeNpy({2, 3}, Iota(5)).ok());
}

TEST(NpyTest, AcceptsHeaderVariations) {
  const std::string data = FloatBytes(Iota(5));
  const std::vector<std::string> headers = {
      "{'shape': (5,), 'fortran_order': False, 'descr': '<f4'}",
      "{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(5,)}",
      "{ 'descr' : '<f4' , 'fortran_order' : False , 'shape' : ( 5 , ) , }"
      "   \n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (5,),}\n",
  };
  for (const std::string& header : headers) {
    absl::StatusOr<NpyArray> array = ParseNpy(MakeNpy(1, header, data), "h");
    ASSERT_TRUE(array.ok()) << header << ": " << array.status();
    EXPECT_EQ(array->shape, std::vector<int64_t>{5});
  }
}

struct BadCase {
  std::string label;
  std::string bytes;
  std::string reason;  // a substring the message must contain
};

TEST(NpyTest, RefusesMalformedAndUnsupportedFiles) {
  const std::string six = FloatBytes(Iota(6));
  const std::vector<BadCase> cases = {
      {"bad magic", "PK\x03\x04 not numpy at all", "bad magic"},
      {"empty file", "", "bad magic"},
      {"truncated prefix", std::string("\x93NUMPY\x01\x00\x10", 9),
       "truncated header"},
      {"header longer than file",
       MakeNpy(1, Header("(2, 3)"), "").substr(0, 40), "truncated header"},
      {"version 4.0", MakeNpy(4, Header("(2, 3)"), six), "version 4.0"},
      {"not a dict", MakeNpy(1, "['descr', '<f4']\n", six), "not a dict"},
      {"unterminated dict",
       MakeNpy(1, "{'descr': '<f4', 'fortran_order': False", six),
       "bad header"},
      {"missing shape",
       MakeNpy(1, "{'descr': '<f4', 'fortran_order': False}\n", six),
       "missing key 'shape'"},
      {"extra key",
       MakeNpy(1,
               "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), "
               "'x': 1}\n",
               six),
       "unexpected key 'x'"},
      {"duplicate key",
       MakeNpy(1,
               "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
               "'shape': (6,)}\n",
               six),
       "duplicate key 'descr'"},
      {"trailing garbage", MakeNpy(1, Header("(2, 3)") + "x", six),
       "trailing bytes"},
      {"fortran order", MakeNpy(1, Header("(2, 3)", "'<f4'", "True"), six),
       "fortran_order"},
      {"float64", MakeNpy(1, Header("(2, 3)", "'<f8'"), six + six),
       "dtype '<f8' is not supported"},
      {"big-endian float32", MakeNpy(1, Header("(2, 3)", "'>f4'"), six),
       "dtype '>f4' is not supported"},
      {"int32", MakeNpy(1, Header("(2, 3)", "'<i4'"), six),
       "dtype '<i4' is not supported"},
      {"structured dtype", MakeNpy(1, Header("(2, 3)", "[('a', '<f4')]"), six),
       "'descr' must be a string"},
      {"data too short", MakeNpy(1, Header("(2, 3)"), six.substr(4)),
       "data has 20 bytes"},
      {"data too long", MakeNpy(1, Header("(2, 3)"), six + "x"),
       "data has 25 bytes"},
      {"negative dimension", MakeNpy(1, Header("(2, -3)"), six), "is negative"},
      {"fractional dimension", MakeNpy(1, Header("(2.5, 3)"), six),
       "not a non-negative integer"},
      {"string dimension", MakeNpy(1, Header("('a',)"), six),
       "not a non-negative integer"},
      {"int, not a tuple", MakeNpy(1, Header("(6)"), six),
       "'shape' must be a tuple"},
      {"dimension overflow", MakeNpy(1, Header("(99999999999999999999,)"), six),
       "overflows"},
      {"element count overflow",
       MakeNpy(1, Header("(4294967296, 4294967296)"), six),
       "overflows the element count"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<NpyArray> array = ParseNpy(c.bytes, "bad.npy");
    ASSERT_FALSE(array.ok()) << c.label;
    EXPECT_EQ(array.status().code(), absl::StatusCode::kInvalidArgument)
        << c.label;
    EXPECT_THAT(std::string(array.status().message()), StartsWith("bad.npy: "))
        << c.label;
    EXPECT_THAT(std::string(array.status().message()), HasSubstr(c.reason))
        << c.label;
  }
}

TEST(NpyTest, NamesTheFileItCannotOpen) {
  const std::string path = TempPath("does_not_exist.npy");
  absl::StatusOr<NpyArray> array = ReadNpy(path);
  ASSERT_FALSE(array.ok());
  EXPECT_EQ(array.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(array.status().message()), HasSubstr(path));
}

// Cross-checks with the real NumPy, both directions, when it is installed.
class NumpyInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") !=
        0) {
      GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
    }
  }

  // Runs a Python snippet; argv[1..] are `paths`.
  static int RunPython(const std::string& script,
                       const std::vector<std::string>& paths) {
    const std::string script_path = TempPath("script.py");
    std::ofstream(script_path) << script;
    std::string command = "/usr/bin/python3 " + script_path;
    for (const std::string& p : paths) command += " '" + p + "'";
    const int rc = std::system(command.c_str());
    std::remove(script_path.c_str());
    return rc;
  }
};

TEST_F(NumpyInteropTest, NumpyReadsOurFilesAndWritesTheSameBytes) {
  const std::string ours = TempPath("ours.npy");
  ASSERT_TRUE(WriteNpy(ours, {2, 3, 4}, Iota(24)).ok());
  const std::string script = R"(
import io, sys
import numpy as np
a = np.load(sys.argv[1])
want = (np.arange(24, dtype='<f4') * 0.5 - 3).reshape(2, 3, 4)
assert a.dtype == np.dtype('<f4') and a.shape == (2, 3, 4), (a.dtype, a.shape)
assert (a == want).all()
buf = io.BytesIO()
np.save(buf, want)
assert buf.getvalue() == open(sys.argv[1], 'rb').read(), 'bytes differ'
)";
  EXPECT_EQ(RunPython(script, {ours}), 0);
  std::remove(ours.c_str());
}

TEST_F(NumpyInteropTest, WeReadWhatNumpyWrites) {
  const std::string v1 = TempPath("np_v1.npy");
  const std::string v2 = TempPath("np_v2.npy");
  const std::string scalar = TempPath("np_scalar.npy");
  const std::string script = R"(
import sys
import numpy as np
a = (np.arange(24, dtype='<f4') * 0.5 - 3).reshape(4, 3, 2)
np.save(sys.argv[1], a)
with open(sys.argv[2], 'wb') as f:
    np.lib.format.write_array(f, a, version=(2, 0))
np.save(sys.argv[3], np.float32(-1.25))
)";
  ASSERT_EQ(RunPython(script, {v1, v2, scalar}), 0);
  for (const std::string& path : {v1, v2}) {
    absl::StatusOr<NpyArray> array = ReadNpy(path);
    ASSERT_TRUE(array.ok()) << array.status();
    EXPECT_EQ(array->shape, (std::vector<int64_t>{4, 3, 2}));
    EXPECT_EQ(array->data, Iota(24));
    std::remove(path.c_str());
  }
  absl::StatusOr<NpyArray> array = ReadNpy(scalar);
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_TRUE(array->shape.empty());
  EXPECT_EQ(array->data, std::vector<float>{-1.25f});
  std::remove(scalar.c_str());
}

}  // namespace
}  // namespace actlab
