// Copyright actlab authors.
//
// What the CLI commands share around their calls: files in and out (.npy as
// wire tensors, protobuf JSON), and plain-text tables for people.

#ifndef ACTLAB_CLIENT_IO_H_
#define ACTLAB_CLIENT_IO_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "actlab/v1/actlab.pb.h"
#include "google/protobuf/message.h"

namespace actlab {

// Whole-file read and write; errors name the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);
absl::Status WriteFile(const std::string& path, absl::string_view contents);

// A .npy file as a FLOAT32 wire tensor, and back. `field` names the tensor
// in errors about what the server sent (e.g. "grad_input").
absl::StatusOr<v1::Tensor> ReadTensor(const std::string& path);
absl::Status WriteTensor(const v1::Tensor& tensor, absl::string_view field,
                         const std::string& path);

// The protobuf JSON mapping, indented; ends with a newline.
std::string ToJson(const google::protobuf::Message& message);
// Parses a JSON file into `message`; errors name the path.
absl::Status ReadJson(const std::string& path,
                      google::protobuf::Message* message);

// Prefixes a non-OK status's message with `context` ("x.npy: ..."), keeping
// its code and payloads.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// "850 ns", "12.3 us", "4.56 ms", "1.23 s".
std::string FormatNanos(int64_t nanos);

// Columns padded to their widest cell, separated by two spaces. An empty
// header prints no header row.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void AddRow(std::vector<std::string> row);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;  // the header, if any, first
};

}  // namespace actlab

#endif  // ACTLAB_CLIENT_IO_H_
