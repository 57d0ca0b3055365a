// Copyright actlab authors.
//
// The CLI side of EvaluateStream and ObserveStream: tensors above
// --chunk_mb travel in chunks of whole rows, read from the input .npy and
// written to the output .npy one chunk at a time, so the CLI holds about
// two chunks of memory whatever the tensor's size.

#ifndef ACTLAB_CLIENT_CHUNKED_CALL_H_
#define ACTLAB_CLIENT_CHUNKED_CALL_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "client/args.h"
#include "client/connection.h"
#include "grpcpp/grpcpp.h"
#include "kernels/channel_layout.h"

namespace actlab {

inline constexpr int64_t kDefaultChunkMb = 32;

// --chunk_mb as bytes: the size above which a tensor is streamed, and the
// most a chunk of one tensor holds.
inline absl::StatusOr<int64_t> ChunkBytes(const ParsedArgs& args) {
  absl::StatusOr<int64_t> mb = args.GetInt("chunk_mb", kDefaultChunkMb);
  if (!mb.ok()) return mb.status();
  if (*mb < 1 || *mb > 1024) {
    return UsageError(
        absl::StrCat("--chunk_mb ", *mb, " is outside [1, 1024]"));
  }
  return *mb << 20;
}

// Room a chunk message leaves for its framing and offset, so a chunk of
// --chunk_mb fits a server whose message limit is the same size.
inline constexpr int64_t kChunkOverheadBytes = 4096;

// The elements of a chunk of `shape` when each carries `tensors` tensors
// (input, and grad_output for a backward pass) within `chunk_bytes`: any
// count for element-wise activations (`channel_axis` unset), whole
// [channels, inner] rows along the axis for channel-wise ones, at least one
// row. A bad axis gives granules of 1 and is left for the server to name.
inline int64_t ChunkElements(absl::Span<const int64_t> shape,
                             std::optional<int> channel_axis,
                             int64_t chunk_bytes, int tensors) {
  int64_t row = 1;
  if (channel_axis.has_value()) {
    absl::StatusOr<ChannelLayout> layout =
        MakeChannelLayout(shape, *channel_axis);
    if (layout.ok())
      row = std::max<int64_t>(1, layout->channels * layout->inner);
  }
  const int64_t budget = (chunk_bytes - kChunkOverheadBytes) /
                         static_cast<int64_t>(sizeof(float) * tensors);
  return std::max<int64_t>(1, budget / row) * row;
}

// Long enough for several GiB over a slow link; --timeout overrides it.
inline constexpr std::chrono::hours kChunkedCallDeadline{1};

// Runs one chunked call: sends `header`, then the chunks of `total`
// elements, `chunk_elements` at most each, filled by `fill(n, chunk)` (which
// sets the chunk's data), and hands each reply to `take(n, reply)` before
// the next chunk goes out. Returns the last reply. `open` starts the call
// on the stub, e.g. [&](auto* c) { return stub.EvaluateStream(c); }.
template <typename Request, typename Response, typename Header, typename Open,
          typename Fill, typename Take>
absl::StatusOr<Response> RunChunkedCall(Connection& connection, Open open,
                                        const Header& header, int64_t total,
                                        int64_t chunk_elements, Fill fill,
                                        Take take) {
  grpc::ClientContext context;
  connection.SetLongCallDeadline(&context, kChunkedCallDeadline);
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream =
      open(&context);
  Request request;
  *request.mutable_header() = header;
  // A failed write or read means the server ended the call; Finish says why.
  bool open_stream = stream->Write(request);
  Response reply;
  absl::Status local;
  int64_t offset = 0;
  while (open_stream && local.ok() && offset < total) {
    const int64_t n = std::min(chunk_elements, total - offset);
    request.Clear();
    request.mutable_chunk()->set_offset(offset);
    local = fill(n, request.mutable_chunk());
    if (!local.ok()) break;
    offset += n;
    // Half-close with the last chunk: the server sends the last reply only
    // then.
    open_stream =
        offset == total
            ? stream->Write(request, grpc::WriteOptions().set_last_message())
            : stream->Write(request);
    if (open_stream) open_stream = stream->Read(&reply);
    if (open_stream) {
      if (reply.offset() != offset - n) {
        local = absl::InternalError(
            absl::StrCat("the server answered offset ", reply.offset(),
                         " to the chunk at ", offset - n));
      } else {
        local = take(n, reply);
      }
    }
  }
  if (!local.ok()) {
    context.TryCancel();
    stream->Finish();
    return local;
  }
  if (open_stream && total == 0) {
    open_stream = stream->WritesDone() && stream->Read(&reply);
  }
  absl::Status status = connection.ToStatus(stream->Finish());
  if (!status.ok()) return status;
  if (!reply.last()) {
    return absl::InternalError(
        "the server ended the stream without its last reply");
  }
  return reply;
}

}  // namespace actlab

#endif  // ACTLAB_CLIENT_CHUNKED_CALL_H_
