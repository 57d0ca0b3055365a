// Copyright actlab authors.

#include "client/io.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/npy.h"
#include "google/protobuf/util/json_util.h"
#include "server/tensor_codec.h"

namespace actlab {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  }
  std::string contents((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot read"));
  }
  return contents;
}

absl::Status WriteFile(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot create"));
  }
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot write"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Tensor> ReadTensor(const std::string& path) {
  absl::StatusOr<NpyArray> array = ReadNpy(path);
  if (!array.ok()) return array.status();
  v1::Tensor tensor;
  float* data = PrepareTensor(array->shape, &tensor);
  std::copy(array->data.begin(), array->data.end(), data);
  return tensor;
}

absl::Status WriteTensor(const v1::Tensor& tensor, absl::string_view field,
                         const std::string& path) {
  absl::StatusOr<TensorView> view = DecodeTensor(tensor, field);
  if (!view.ok()) {
    return Annotate(view.status(), "the server's reply is malformed");
  }
  return WriteNpy(path, view->shape,
                  absl::MakeConstSpan(view->data, view->elements));
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string json;
  // Printing a well-formed message cannot fail; only Any with an unknown
  // type could, and the API has none.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

absl::Status ReadJson(const std::string& path,
                      google::protobuf::Message* message) {
  absl::StatusOr<std::string> json = ReadFile(path);
  if (!json.ok()) return json.status();
  const auto status =
      google::protobuf::util::JsonStringToMessage(*json, message);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a ", message->GetTypeName(),
                     " in JSON: ", status.message().as_string()));
  }
  return absl::OkStatus();
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status annotated(status.code(),
                         absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    annotated.SetPayload(url, payload);
  });
  return annotated;
}

std::string FormatNanos(int64_t nanos) {
  if (nanos < 1000) return absl::StrCat(nanos, " ns");
  if (nanos < 1000000) return absl::StrFormat("%.3g us", nanos / 1e3);
  if (nanos < 1000000000) return absl::StrFormat("%.3g ms", nanos / 1e6);
  return absl::StrFormat("%.3g s", nanos / 1e9);
}

Table::Table(std::vector<std::string> header) {
  if (!header.empty()) rows_.push_back(std::move(header));
}

void Table::AddRow(std::vector<std::string> row) {
  rows_.push_back(std::move(row));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - row[c].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

}  // namespace actlab
