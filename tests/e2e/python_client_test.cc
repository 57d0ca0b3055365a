// Copyright actlab authors.
//
// The Python example (client/python/example.py), run with Debian's
// /usr/bin/python3 and stubs generated from the .proto, against the real
// server: a client in another language needs nothing but the .proto.

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

// One JSON line the example prints.
google::protobuf::Struct ParseLine(const std::string& line) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok())
      << line;
  return parsed;
}

std::vector<double> Numbers(const google::protobuf::Struct& object,
                            const std::string& key) {
  std::vector<double> numbers;
  for (const auto& value : object.fields().at(key).list_value().values()) {
    numbers.push_back(value.number_value());
  }
  return numbers;
}

TEST(PythonClientTest, ExampleEvaluatesObservesAndRealigns) {
  TempDir dir;
  ServerProcess server(ACTLAB_SERVER_BINARY, dir.path());
  const absl::Status started = server.Start();
  ASSERT_TRUE(started.ok()) << started;

  // PYTHONPATH travels through env(1) so the child alone sees it.
  const ProcessResult result = RunProcess(
      "/usr/bin/env",
      {absl::StrCat("PYTHONPATH=", ACTLAB_PYTHON_STUBS, ":",
                    ACTLAB_PYTHON_CLIENT),
       "/usr/bin/python3", absl::StrCat(ACTLAB_PYTHON_CLIENT, "/example.py"),
       "--server", server.address()});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;

  const std::vector<std::string> lines =
      absl::StrSplit(result.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << result.out;
  const google::protobuf::Struct gelu = ParseLine(lines[0]);
  const google::protobuf::Struct stats = ParseLine(lines[1]);
  const google::protobuf::Struct learned = ParseLine(lines[2]);

  const std::vector<double> x = Numbers(gelu, "gelu_x");
  const std::vector<double> y = Numbers(gelu, "gelu_y");
  ASSERT_EQ(x.size(), 7u);
  ASSERT_EQ(y.size(), 7u);
  for (size_t i = 0; i < x.size(); ++i) {
    const double expected = 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0)));
    EXPECT_NEAR(y[i], expected, 1e-5 + 1.3e-6 * std::abs(expected));
  }

  EXPECT_EQ(stats.fields().at("batches").number_value(), 10);
  const std::vector<double> mean = Numbers(stats, "mean");
  const std::vector<double> std_dev = Numbers(stats, "std");
  ASSERT_EQ(mean.size(), 3u);
  ASSERT_EQ(std_dev.size(), 3u);
  EXPECT_EQ(learned.fields().at("phase").string_value(), "TRAINING");
  const std::vector<double> left = Numbers(learned, "left_bound");
  const std::vector<double> right = Numbers(learned, "right_bound");
  for (int c = 0; c < 3; ++c) {
    // Channel c was drawn from N(c, 1 + c).
    EXPECT_NEAR(mean[c], c, 0.1);
    EXPECT_NEAR(std_dev[c], 1 + c, 0.1);
    // The realignment itself is exact up to float rounding.
    EXPECT_FLOAT_EQ(left[c], mean[c] - 3 * std_dev[c]);
    EXPECT_FLOAT_EQ(right[c], mean[c] + 3 * std_dev[c]);
  }
  EXPECT_EQ(Numbers(learned, "values").size(), 3u * 17);
}

}  // namespace
}  // namespace actlab
