// Copyright actlab authors.

#include "client/npy.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace actlab {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "'<f4' payloads are copied as is; a big-endian host would need "
              "a byte swap");

constexpr absl::string_view kMagic("\x93NUMPY", 6);
constexpr size_t kArrayAlign = 64;
// NumPy >= 1.23 pads the header as if the first dimension had this many
// digits so a file can grow in place; matching it keeps our bytes identical.
constexpr size_t kGrowthAxisMaxDigits = 21;

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// Python's repr of a shape tuple: "()", "(5,)", "(2, 3)".
std::string ShapeRepr(absl::Span<const int64_t> shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// Parses the header dict, a Python literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// accepting what ast.literal_eval would for the three keys NumPy requires:
// any key order, either quote style, free whitespace, trailing commas.
// Errors carry only the reason; the caller prefixes the file name.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<Header> Parse() {
    Header header;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    SkipSpace();
    if (!Consume('{')) return Error("header is not a dict");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      absl::StatusOr<std::string> key = ParseString();
      if (!key.ok()) return Error("header dict keys must be strings");
      SkipSpace();
      if (!Consume(':'))
        return Error(absl::StrCat("expected ':' after '", *key, "'"));
      SkipSpace();
      if (*key == "descr" && !seen_descr) {
        seen_descr = true;
        absl::StatusOr<std::string> descr = ParseString();
        if (!descr.ok()) return Error("'descr' must be a string");
        header.descr = *descr;
      } else if (*key == "fortran_order" && !seen_order) {
        seen_order = true;
        absl::StatusOr<bool> order = ParseBool();
        if (!order.ok()) return order.status();
        header.fortran_order = *order;
      } else if (*key == "shape" && !seen_shape) {
        seen_shape = true;
        absl::StatusOr<std::vector<int64_t>> shape = ParseShape();
        if (!shape.ok()) return shape.status();
        header.shape = *std::move(shape);
      } else if (*key == "descr" || *key == "fortran_order" ||
                 *key == "shape") {
        return Error(absl::StrCat("duplicate key '", *key, "'"));
      } else {
        return Error(absl::StrCat("unexpected key '", *key, "'"));
      }
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) break;
      return Error("expected ',' or '}' in the header dict");
    }
    SkipSpace();
    if (pos_ != text_.size())
      return Error("trailing bytes after the header dict");
    if (!seen_descr) return Error("missing key 'descr'");
    if (!seen_order) return Error("missing key 'fortran_order'");
    if (!seen_shape) return Error("missing key 'shape'");
    return header;
  }

 private:
  static absl::Status Error(absl::string_view reason) {
    return absl::InvalidArgumentError(absl::StrCat("bad header: ", reason));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
  }

  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool ConsumeWord(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    const size_t end = pos_ + word.size();
    if (end < text_.size() &&
        (absl::ascii_isalnum(text_[end]) || text_[end] == '_')) {
      return false;
    }
    pos_ = end;
    return true;
  }

  // A quoted string without escapes; NumPy never writes any.
  absl::StatusOr<std::string> ParseString() {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Error("expected a string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == absl::string_view::npos) return Error("unterminated string");
    absl::string_view s = text_.substr(pos_, end - pos_);
    if (s.find('\\') != absl::string_view::npos) {
      return Error("escapes in strings are not supported");
    }
    pos_ = end + 1;
    return std::string(s);
  }

  absl::StatusOr<bool> ParseBool() {
    if (ConsumeWord("True")) return true;
    if (ConsumeWord("False")) return false;
    return Error("'fortran_order' must be True or False");
  }

  // A tuple of non-negative integers: "()", "(5,)", "(2, 3)", "(2, 3,)".
  // "(5)" is an int in Python, not a tuple, so it is refused.
  absl::StatusOr<std::vector<int64_t>> ParseShape() {
    std::vector<int64_t> shape;
    if (!Consume('(')) return Error("'shape' must be a tuple");
    SkipSpace();
    if (Consume(')')) return shape;
    while (true) {
      absl::StatusOr<int64_t> dim = ParseDim(shape.size());
      if (!dim.ok()) return dim.status();
      shape.push_back(*dim);
      SkipSpace();
      if (Consume(')')) {
        if (shape.size() == 1) return Error("'shape' must be a tuple");
        return shape;
      }
      if (!Consume(',')) return Error("expected ',' or ')' in 'shape'");
      SkipSpace();
      if (Consume(')')) return shape;
    }
  }

  absl::StatusOr<int64_t> ParseDim(size_t index) {
    const size_t start = pos_;
    if (Consume('-')) {
      return Error(absl::StrCat("'shape' dimension ", index,
                                " is negative; dimensions must be >= 0"));
    }
    int64_t value = 0;
    while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) {
      const int digit = text_[pos_++] - '0';
      if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
        return Error(absl::StrCat("'shape' dimension ", index, " overflows"));
      }
      value = value * 10 + digit;
    }
    const bool more_number =
        pos_ < text_.size() && (absl::ascii_isalnum(text_[pos_]) ||
                                text_[pos_] == '.' || text_[pos_] == '_');
    if (pos_ == start || more_number) {
      return Error(absl::StrCat("'shape' dimension ", index,
                                " is not a non-negative integer"));
    }
    return value;
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

uint32_t LoadLittleEndian(absl::string_view bytes) {
  uint32_t value = 0;
  for (size_t i = bytes.size(); i-- > 0;) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

// Element count of `shape`, or nullopt when count * sizeof(float) overflows.
std::optional<int64_t> ElementCount(absl::Span<const int64_t> shape) {
  constexpr int64_t kMax =
      std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(float));
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    if (dim != 0 && count > kMax / dim) return std::nullopt;
    count *= dim;
  }
  return count;
}

// What precedes a .npy file's data.
struct NpyPrefix {
  std::vector<int64_t> shape;
  int64_t elements = 0;
  size_t data_offset = 0;
};

// Parses the magic, version and header at the start of `bytes`. Refusals
// are InvalidArgument "<name>: <reason>"; a prefix cut short is "truncated
// header".
absl::StatusOr<NpyPrefix> ParsePrefix(absl::string_view bytes,
                                      absl::string_view name) {
  auto refuse = [name](absl::string_view reason) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", reason));
  };
  if (bytes.size() < kMagic.size() + 2 || bytes.substr(0, 6) != kMagic) {
    return refuse("not a .npy file (bad magic)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (minor != 0 || major < 1 || major > 3) {
    return refuse(absl::StrCat("format version ", major, ".", minor,
                               " is not supported (1.0, 2.0, 3.0 are)"));
  }
  const size_t length_size = major == 1 ? 2 : 4;
  const size_t header_start = 8 + length_size;
  if (bytes.size() < header_start) return refuse("truncated header");
  const uint64_t header_length = LoadLittleEndian(bytes.substr(8, length_size));
  if (bytes.size() - header_start < header_length) {
    return refuse("truncated header");
  }
  absl::StatusOr<Header> header =
      HeaderParser(bytes.substr(header_start, header_length)).Parse();
  if (!header.ok()) return refuse(header.status().message());
  if (header->descr != "<f4") {
    return refuse(absl::StrCat("dtype '", header->descr,
                               "' is not supported; only little-endian "
                               "float32 ('<f4') is"));
  }
  if (header->fortran_order) {
    return refuse("fortran_order True is not supported; only C order is");
  }
  const std::optional<int64_t> count = ElementCount(header->shape);
  if (!count.has_value()) {
    return refuse(absl::StrCat("shape ", ShapeRepr(header->shape),
                               " overflows the element count"));
  }
  NpyPrefix prefix;
  prefix.shape = std::move(header->shape);
  prefix.elements = *count;
  prefix.data_offset = header_start + header_length;
  return prefix;
}

// The error for a data section of `size` bytes where `prefix` needs more or
// fewer.
absl::Status DataSizeError(absl::string_view name, const NpyPrefix& prefix,
                           uint64_t size) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": data has ", size, " bytes; shape ",
                   ShapeRepr(prefix.shape), " of float32 needs ",
                   static_cast<uint64_t>(prefix.elements) * sizeof(float)));
}

// The .npy 1.0 header for `shape`, as NumPy writes it.
absl::StatusOr<std::string> EncodeHeader(absl::Span<const int64_t> shape) {
  std::string dict = absl::StrCat(
      "{'descr': '<f4', 'fortran_order': False, 'shape': ", ShapeRepr(shape),
      ", }");
  if (!shape.empty()) {
    dict.append(kGrowthAxisMaxDigits - absl::StrCat(shape[0]).size(), ' ');
  }
  // Version 1.0 prefix: magic, version, uint16 header length. The header
  // ends in '\n' and is space-padded so the data is 64-byte aligned; NumPy
  // pads a full 64 when already aligned, and so do we.
  constexpr size_t kPrefix = 10;
  const size_t unpadded = kPrefix + dict.size() + 1;
  const size_t padding = kArrayAlign - unpadded % kArrayAlign;
  const size_t header_length = dict.size() + padding + 1;
  if (header_length > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shape ", ShapeRepr(shape), " needs a header too long for .npy 1.0"));
  }
  std::string out;
  out.append(kMagic.data(), kMagic.size());
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header_length & 0xff));
  out.push_back(static_cast<char>(header_length >> 8));
  out.append(dict);
  out.append(padding, ' ');
  out.push_back('\n');
  return out;
}

}  // namespace

absl::StatusOr<NpyArray> ParseNpy(absl::string_view bytes,
                                  absl::string_view name) {
  absl::StatusOr<NpyPrefix> prefix = ParsePrefix(bytes, name);
  if (!prefix.ok()) return prefix.status();
  absl::string_view data = bytes.substr(prefix->data_offset);
  const uint64_t expected =
      static_cast<uint64_t>(prefix->elements) * sizeof(float);
  if (data.size() != expected) {
    return DataSizeError(name, *prefix, data.size());
  }
  NpyArray array;
  array.shape = std::move(prefix->shape);
  array.data.resize(static_cast<size_t>(prefix->elements));
  if (expected > 0) std::memcpy(array.data.data(), data.data(), expected);
  return array;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  }
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot read"));
  }
  return ParseNpy(bytes, path);
}

absl::StatusOr<std::string> EncodeNpy(absl::Span<const int64_t> shape,
                                      absl::Span<const float> data) {
  const std::optional<int64_t> count = ElementCount(shape);
  if (!count.has_value() || static_cast<uint64_t>(*count) != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat("shape ", ShapeRepr(shape),
                                                   " does not hold ",
                                                   data.size(), " elements"));
  }
  absl::StatusOr<std::string> out = EncodeHeader(shape);
  if (!out.ok()) return out;
  out->append(reinterpret_cast<const char*>(data.data()),
              data.size() * sizeof(float));
  return out;
}

absl::Status WriteNpy(const std::string& path, absl::Span<const int64_t> shape,
                      absl::Span<const float> data) {
  absl::StatusOr<std::string> bytes = EncodeNpy(shape, data);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", bytes.status().message()));
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot create"));
  }
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  out.close();
  if (!out) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot write"));
  }
  return absl::OkStatus();
}

absl::StatusOr<NpyReader> NpyReader::Open(const std::string& path) {
  NpyReader reader;
  reader.path_ = path;
  reader.in_ = std::make_unique<std::ifstream>(path, std::ios::binary);
  std::ifstream& in = *reader.in_;
  if (!in) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  }
  // The header length sits in the first 12 bytes (8 of magic and version,
  // then 2 or 4); read that much, then the rest of the header.
  std::string bytes(12, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(in.gcount()));
  absl::StatusOr<NpyPrefix> prefix = ParsePrefix(bytes, path);
  const bool header_continues = !prefix.ok() && bytes.size() == 12 &&
                                bytes.substr(0, 6) == kMagic && bytes[6] >= 1 &&
                                bytes[6] <= 3;
  if (header_continues) {
    const size_t length_size = bytes[6] == 1 ? 2 : 4;
    const size_t total =
        8 + length_size + LoadLittleEndian(bytes.substr(8, length_size));
    bytes.resize(total);
    in.read(bytes.data() + 12, static_cast<std::streamsize>(total - 12));
    bytes.resize(12 + static_cast<size_t>(in.gcount()));
    prefix = ParsePrefix(bytes, path);
  }
  if (!prefix.ok()) return prefix.status();
  in.seekg(0, std::ios::end);
  const uint64_t data_size =
      static_cast<uint64_t>(in.tellg()) - prefix->data_offset;
  if (data_size != static_cast<uint64_t>(prefix->elements) * sizeof(float)) {
    return DataSizeError(path, *prefix, data_size);
  }
  in.seekg(static_cast<std::streamoff>(prefix->data_offset));
  reader.shape_ = std::move(prefix->shape);
  reader.elements_ = prefix->elements;
  return reader;
}

absl::Status NpyReader::Read(int64_t n, float* out) {
  if (n < 0 || n > elements_ - read_) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": cannot read ", n,
                                                   " elements after ", read_,
                                                   " of ", elements_));
  }
  in_->read(reinterpret_cast<char*>(out),
            static_cast<std::streamsize>(n * sizeof(float)));
  if (!*in_) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path_, ": cannot read"));
  }
  read_ += n;
  return absl::OkStatus();
}

absl::StatusOr<NpyWriter> NpyWriter::Open(const std::string& path,
                                          absl::Span<const int64_t> shape) {
  const std::optional<int64_t> count = ElementCount(shape);
  if (!count.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": shape ", ShapeRepr(shape), " overflows the element count"));
  }
  absl::StatusOr<std::string> header = EncodeHeader(shape);
  if (!header.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", header.status().message()));
  }
  NpyWriter writer;
  writer.path_ = path;
  writer.elements_ = *count;
  writer.out_ =
      std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
  if (!*writer.out_) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot create"));
  }
  writer.out_->write(header->data(),
                     static_cast<std::streamsize>(header->size()));
  if (!*writer.out_) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot write"));
  }
  return writer;
}

absl::Status NpyWriter::Append(absl::Span<const float> data) {
  if (static_cast<int64_t>(data.size()) > elements_ - written_) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": ", data.size(), " more elements after ",
                     written_, " exceed the shape's ", elements_));
  }
  out_->write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size() * sizeof(float)));
  if (!*out_) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path_, ": cannot write"));
  }
  written_ += static_cast<int64_t>(data.size());
  return absl::OkStatus();
}

absl::Status NpyWriter::Close() {
  out_->close();
  if (!*out_) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path_, ": cannot write"));
  }
  if (written_ != elements_) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": closed after ", written_, " of ", elements_, " elements"));
  }
  return absl::OkStatus();
}

}  // namespace actlab
