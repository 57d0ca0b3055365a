// Copyright actlab authors.
//
// EvaluateStream and ObserveStream against a real server that takes at most
// 1 MiB a message: chunked results equal the one-piece calls, every
// protocol violation is InvalidArgument naming the field, tensors larger
// than a message go through (API and CLI), and a failed or cancelled
// ObserveStream folds nothing.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "actlab/v1/actlab.grpc.pb.h"
#include "client/npy.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/api_server_test.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int64_t kMaxStreamElements = int64_t{1} << 22;

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.5f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

std::string Bytes(const float* data, int64_t n) {
  return std::string(reinterpret_cast<const char*>(data), n * sizeof(float));
}

v1::Tensor Tensor(const std::vector<int64_t>& shape,
                  const std::vector<float>& data) {
  v1::Tensor t;
  t.set_dtype(v1::FLOAT32);
  for (int64_t d : shape) t.add_shape(d);
  t.set_data(Bytes(data.data(), static_cast<int64_t>(data.size())));
  return t;
}

// `tensor` as a stream header declares it: dtype and shape, no data.
v1::Tensor Declared(const v1::Tensor& tensor) {
  v1::Tensor t = tensor;
  t.clear_data();
  return t;
}

// PWLU parameters of `units` units with N = 4 on [-2, 2], varied per unit.
v1::PwluParameters Pwlu(int units, v1::Granularity granularity) {
  v1::PwluParameters p;
  p.set_intervals(4);
  p.set_granularity(granularity);
  for (int u = 0; u < units; ++u) {
    p.add_left_bound(-2.f - 0.1f * u);
    p.add_right_bound(2.f + 0.2f * u);
    for (int j = 0; j <= 4; ++j) p.add_values(0.3f * j * j - 0.1f * u * j);
    p.add_left_slope(0.05f * u);
    p.add_right_slope(1.f + 0.1f * u);
  }
  return p;
}

struct StreamResult {
  grpc::Status status;
  std::string output;
  std::string grad_input;
  v1::EvaluateStreamResponse last;
  int replies = 0;
};

class StreamE2eTest : public ApiServerTest {
 protected:
  static void SetUpTestSuite() {
    StartServer({"--max_message_mb=1",
                 absl::StrCat("--max_stream_elements=", kMaxStreamElements)});
  }

  // Streams `request` (with data) in chunks of `sizes` elements, cycling,
  // reading each reply before sending the next chunk.
  static StreamResult StreamEvaluate(const v1::EvaluateRequest& request,
                                     const std::vector<int64_t>& sizes) {
    StreamResult result;
    grpc::ClientContext context;
    auto stream = stub_->EvaluateStream(&context);
    v1::EvaluateStreamRequest message;
    *message.mutable_header() = request;
    *message.mutable_header()->mutable_input() = Declared(request.input());
    const bool backward = request.has_grad_output();
    if (backward) {
      *message.mutable_header()->mutable_grad_output() =
          Declared(request.grad_output());
    }
    stream->Write(message);
    const int64_t total =
        static_cast<int64_t>(request.input().data().size() / sizeof(float));
    int64_t offset = 0;
    for (size_t i = 0; offset < total; ++i) {
      const int64_t n = std::min(sizes[i % sizes.size()], total - offset);
      message.Clear();
      v1::TensorChunk* chunk = message.mutable_chunk();
      chunk->set_offset(offset);
      chunk->set_input(request.input().data().substr(offset * 4, n * 4));
      if (backward) {
        chunk->set_grad_output(
            request.grad_output().data().substr(offset * 4, n * 4));
      }
      offset += n;
      grpc::WriteOptions options;
      if (offset == total) options.set_last_message();
      if (!stream->Write(message, options)) break;
      v1::EvaluateStreamResponse reply;
      if (!stream->Read(&reply)) break;
      ++result.replies;
      EXPECT_EQ(reply.offset(), offset - n);
      result.output += reply.output();
      result.grad_input += reply.grad_input();
      result.last = reply;
    }
    result.status = stream->Finish();
    return result;
  }

  // Sends `messages` as they are, half-closes, drains the replies.
  template <typename Request, typename Response, typename Open>
  static grpc::Status SendRaw(Open open, const std::vector<Request>& messages) {
    grpc::ClientContext context;
    auto stream = open(&context);
    for (const Request& m : messages) {
      if (!stream->Write(m)) break;
    }
    stream->WritesDone();
    Response reply;
    while (stream->Read(&reply)) {
    }
    return stream->Finish();
  }

  static void ExpectEvaluateInvalid(
      const std::vector<v1::EvaluateStreamRequest>& messages,
      const std::string& field, const std::string& reason) {
    grpc::Status status =
        SendRaw<v1::EvaluateStreamRequest, v1::EvaluateStreamResponse>(
            [](grpc::ClientContext* c) { return stub_->EvaluateStream(c); },
            messages);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message();
    EXPECT_THAT(status.error_message(),
                AllOf(HasSubstr(field), HasSubstr(reason)));
  }
};

// The one-piece Evaluate of `request`.
v1::EvaluateResponse Evaluate(v1::Actlab::Stub* stub,
                              const v1::EvaluateRequest& request) {
  grpc::ClientContext context;
  v1::EvaluateResponse response;
  grpc::Status status = stub->Evaluate(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

void ExpectNear(const google::protobuf::RepeatedField<float>& got,
                const google::protobuf::RepeatedField<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (int i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << i;
  }
}

void ExpectSameAsEvaluate(v1::Actlab::Stub* stub,
                          const v1::EvaluateRequest& request,
                          const StreamResult& streamed) {
  ASSERT_TRUE(streamed.status.ok()) << streamed.status.error_message();
  const v1::EvaluateResponse whole = Evaluate(stub, request);
  EXPECT_TRUE(streamed.last.last());
  EXPECT_GT(streamed.replies, 1);
  // Element-wise results bit for bit.
  EXPECT_TRUE(streamed.output == whole.output().data());
  EXPECT_TRUE(streamed.grad_input == whole.grad_input().data());
  ExpectNear(streamed.last.grad_pwlu().left_bound(),
             whole.grad_pwlu().left_bound());
  ExpectNear(streamed.last.grad_pwlu().right_bound(),
             whole.grad_pwlu().right_bound());
  ExpectNear(streamed.last.grad_pwlu().values(), whole.grad_pwlu().values());
  ExpectNear(streamed.last.grad_pwlu().left_slope(),
             whole.grad_pwlu().left_slope());
  ExpectNear(streamed.last.grad_pwlu().right_slope(),
             whole.grad_pwlu().right_slope());
  EXPECT_EQ(streamed.last.has_grad_prelu_slope(), whole.has_grad_prelu_slope());
  std::vector<float> got(streamed.last.grad_prelu_slope().data().size() / 4);
  std::vector<float> want(whole.grad_prelu_slope().data().size() / 4);
  ASSERT_EQ(got.size(), want.size());
  // Guarded: an empty vector's data() may be null, which memcpy must not get
  // even for zero bytes.
  if (!got.empty()) {
    std::memcpy(got.data(), streamed.last.grad_prelu_slope().data().data(),
                got.size() * 4);
    std::memcpy(want.data(), whole.grad_prelu_slope().data().data(),
                want.size() * 4);
  }
  for (size_t c = 0; c < got.size(); ++c) {
    EXPECT_NEAR(got[c], want[c], 1e-4 * (1 + std::abs(want[c]))) << c;
  }
}

v1::EvaluateRequest Request(const std::string& activation,
                            const std::vector<int64_t>& shape, uint32_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  v1::EvaluateRequest request;
  request.set_activation(activation);
  *request.mutable_input() = Tensor(shape, Random(n, seed));
  *request.mutable_grad_output() = Tensor(shape, Random(n, seed + 1));
  return request;
}

TEST_F(StreamE2eTest, GeluInChunksEqualsEvaluate) {
  const v1::EvaluateRequest request = Request("gelu", {4, 3, 5, 7}, 1);
  const std::vector<int64_t> sizes = {37, 1, 100};
  ExpectSameAsEvaluate(stub_, request, StreamEvaluate(request, sizes));
  v1::EvaluateRequest forward = request;
  forward.clear_grad_output();
  ExpectSameAsEvaluate(stub_, forward, StreamEvaluate(forward, sizes));
}

TEST_F(StreamE2eTest, PreluNchwInWholeRowsEqualsEvaluate) {
  v1::EvaluateRequest request = Request("prelu", {6, 3, 4, 5}, 2);
  *request.mutable_prelu_slope() = Tensor({3}, {0.1f, -0.2f, 0.3f});
  const std::vector<int64_t> sizes = {60, 120};  // rows of 3 x 20
  ExpectSameAsEvaluate(stub_, request, StreamEvaluate(request, sizes));
}

TEST_F(StreamE2eTest, ChannelPwluNhwcInWholeRowsEqualsEvaluate) {
  v1::EvaluateRequest request = Request("pwlu", {2, 5, 4, 3}, 3);
  request.set_channel_axis(-1);
  *request.mutable_pwlu() = Pwlu(3, v1::CHANNEL);
  const std::vector<int64_t> sizes = {21, 3, 9};  // rows of 3 x 1
  ExpectSameAsEvaluate(stub_, request, StreamEvaluate(request, sizes));
}

TEST_F(StreamE2eTest, LayerPwluInOddChunksEqualsEvaluate) {
  v1::EvaluateRequest request = Request("pwlu", {3, 1001}, 4);
  *request.mutable_pwlu() = Pwlu(1, v1::LAYER);
  const std::vector<int64_t> sizes = {13, 101, 7, 997};
  ExpectSameAsEvaluate(stub_, request, StreamEvaluate(request, sizes));
}

v1::EvaluateStreamRequest Header(const v1::EvaluateRequest& request) {
  v1::EvaluateStreamRequest m;
  *m.mutable_header() = request;
  *m.mutable_header()->mutable_input() = Declared(request.input());
  if (request.has_grad_output()) {
    *m.mutable_header()->mutable_grad_output() =
        Declared(request.grad_output());
  }
  return m;
}

v1::EvaluateStreamRequest Chunk(int64_t offset, int64_t n, int64_t grad_n = 0) {
  v1::EvaluateStreamRequest m;
  m.mutable_chunk()->set_offset(offset);
  m.mutable_chunk()->set_input(std::string(n * 4, '\0'));
  m.mutable_chunk()->set_grad_output(std::string(grad_n * 4, '\0'));
  return m;
}

TEST_F(StreamE2eTest, ProtocolViolationsNameTheField) {
  v1::EvaluateRequest gelu = Request("gelu", {1000}, 5);
  const v1::EvaluateStreamRequest backward = Header(gelu);
  gelu.clear_grad_output();
  const v1::EvaluateStreamRequest header = Header(gelu);

  ExpectEvaluateInvalid({}, "header", "ended before its header");
  ExpectEvaluateInvalid({Chunk(0, 10)}, "header", "must be the header");
  ExpectEvaluateInvalid({header, Chunk(0, 100), Chunk(200, 10)},
                        "chunk[1].offset", "200 does not follow the 100");
  ExpectEvaluateInvalid({header, Chunk(0, 100), Chunk(50, 10)},
                        "chunk[1].offset", "50 does not follow the 100");
  ExpectEvaluateInvalid({backward, Chunk(0, 100, 99)}, "chunk[0].grad_output",
                        "396 bytes");
  ExpectEvaluateInvalid({header, Chunk(0, 600), Chunk(600, 401)},
                        "chunk[1].input", "past the declared total of 1000");
  ExpectEvaluateInvalid({header, Chunk(0, 500)}, "chunk[1]",
                        "ended after 500 of the 1000");
  ExpectEvaluateInvalid({header, Chunk(0, 100), header}, "chunk[1]",
                        "a second header");
  ExpectEvaluateInvalid({header, Chunk(0, 0)}, "chunk[0].input",
                        "at least one element");

  v1::EvaluateRequest with_data = gelu;
  v1::EvaluateStreamRequest data_in_header;
  *data_in_header.mutable_header() = with_data;
  ExpectEvaluateInvalid({data_in_header}, "header: input.data",
                        "must be empty");

  v1::EvaluateRequest prelu = Request("prelu", {4, 3, 10}, 6);
  prelu.clear_grad_output();
  *prelu.mutable_prelu_slope() = Tensor({3}, {0.1f, 0.2f, 0.3f});
  ExpectEvaluateInvalid({Header(prelu), Chunk(0, 45)}, "chunk[0].input",
                        "45 elements are not whole rows of 30");
  ExpectEvaluateInvalid({Header(Request("nope", {4}, 7))},
                        "header: ", "unknown activation 'nope'");

  v1::EvaluateStreamRequest huge = header;
  huge.mutable_header()->mutable_input()->set_shape(0, kMaxStreamElements + 1);
  grpc::Status status =
      SendRaw<v1::EvaluateStreamRequest, v1::EvaluateStreamResponse>(
          [](grpc::ClientContext* c) { return stub_->EvaluateStream(c); },
          {huge});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(),
              AllOf(HasSubstr("--max_stream_elements"),
                    HasSubstr(absl::StrCat(kMaxStreamElements + 1))));
}

TEST_F(StreamE2eTest, TensorLargerThanOneMessage) {
  // 8 MiB against a 1 MiB message limit; relu's exact result is max(x, 0).
  const int64_t n = 2 << 20;
  v1::EvaluateRequest request;
  request.set_activation("relu");
  const std::vector<float> x = Random(n, 8);
  *request.mutable_input() = Tensor({512, n / 512}, x);
  const StreamResult streamed = StreamEvaluate(request, {100000});
  ASSERT_TRUE(streamed.status.ok()) << streamed.status.error_message();
  ASSERT_EQ(streamed.output.size(), n * 4u);
  std::vector<float> y(n);
  std::memcpy(y.data(), streamed.output.data(), n * 4);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], std::max(x[i], 0.f)) << i;

  // The CLI switches to EvaluateStream above --chunk_mb by itself.
  TempDir files;
  ASSERT_TRUE(WriteNpy(files.File("x.npy"), {512, n / 512}, x).ok());
  const ProcessResult cli = Cli(
      server_->address(), {"eval", "--act", "relu", "--in", files.File("x.npy"),
                           "--out", files.File("y.npy"), "--chunk_mb=1"});
  ASSERT_EQ(cli.exit_code, 0) << Describe(cli);
  absl::StatusOr<NpyArray> out = ReadNpy(files.File("y.npy"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape, (std::vector<int64_t>{512, n / 512}));
  EXPECT_TRUE(out->data == y);

  // And channel-wise: prelu over NCHW chunks of whole rows, with backward.
  const std::vector<int64_t> shape = {64, 4, 64, 128};
  const std::vector<float> dy = Random(n, 9);
  ASSERT_TRUE(WriteNpy(files.File("dy.npy"), shape, dy).ok());
  ASSERT_TRUE(WriteNpy(files.File("x4.npy"), shape, x).ok());
  const std::vector<float> slope = {0.1f, -0.5f, 0.25f, 2.f};
  ASSERT_TRUE(WriteNpy(files.File("s.npy"), {4}, slope).ok());
  const ProcessResult prelu = Cli(
      server_->address(),
      {"eval", "--act", "prelu", "--in", files.File("x4.npy"), "--prelu-slope",
       files.File("s.npy"), "--out", files.File("p.npy"), "--grad-output",
       files.File("dy.npy"), "--grad-input-out", files.File("gx.npy"),
       "--grad-slope-out", files.File("gs.npy"), "--chunk_mb=1"});
  ASSERT_EQ(prelu.exit_code, 0) << Describe(prelu);
  absl::StatusOr<NpyArray> p = ReadNpy(files.File("p.npy"));
  absl::StatusOr<NpyArray> gx = ReadNpy(files.File("gx.npy"));
  absl::StatusOr<NpyArray> gs = ReadNpy(files.File("gs.npy"));
  ASSERT_TRUE(p.ok() && gx.ok() && gs.ok());
  std::vector<double> want_gs(4, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>((i / (64 * 128)) % 4);
    ASSERT_EQ(p->data[i], x[i] > 0 ? x[i] : slope[c] * x[i]) << i;
    ASSERT_EQ(gx->data[i], x[i] > 0 ? dy[i] : slope[c] * dy[i]) << i;
    if (x[i] <= 0) want_gs[c] += double{dy[i]} * x[i];
  }
  for (int c = 0; c < 4; ++c) {
    EXPECT_NEAR(gs->data[c], want_gs[c], 1e-3 * (1 + std::abs(want_gs[c])));
  }
}

v1::UnitConfig Unit(const std::string& name, v1::Granularity granularity,
                    int channels) {
  v1::UnitConfig config;
  config.set_name(name);
  config.set_granularity(granularity);
  config.set_channels(channels);
  config.set_init_activation("gelu");
  return config;
}

v1::ObserveStreamRequest ObserveHeader(const std::string& session,
                                       const std::string& unit,
                                       const v1::Tensor& input) {
  v1::ObserveStreamRequest m;
  m.mutable_header()->mutable_unit()->set_session_id(session);
  m.mutable_header()->mutable_unit()->set_unit(unit);
  *m.mutable_header()->mutable_input() = Declared(input);
  return m;
}

v1::ObserveStreamRequest ObserveChunk(const std::vector<float>& x,
                                      int64_t offset, int64_t n) {
  v1::ObserveStreamRequest m;
  m.mutable_chunk()->set_offset(offset);
  m.mutable_chunk()->set_input(Bytes(x.data() + offset, n));
  return m;
}

struct ObserveResult {
  grpc::Status status;
  std::string output;
  v1::ObserveStreamResponse last;
};

// ObserveStream of `x` in chunks of `chunk` elements, reading each reply.
ObserveResult StreamObserve(v1::Actlab::Stub* stub, const std::string& session,
                            const std::string& unit, const v1::Tensor& input,
                            const std::vector<float>& x, int64_t chunk) {
  ObserveResult result;
  grpc::ClientContext context;
  auto stream = stub->ObserveStream(&context);
  stream->Write(ObserveHeader(session, unit, input));
  const int64_t total = static_cast<int64_t>(x.size());
  for (int64_t offset = 0; offset < total; offset += chunk) {
    const int64_t n = std::min(chunk, total - offset);
    grpc::WriteOptions options;
    if (offset + n == total) options.set_last_message();
    if (!stream->Write(ObserveChunk(x, offset, n), options)) break;
    v1::ObserveStreamResponse reply;
    if (!stream->Read(&reply)) break;
    result.output += reply.output();
    result.last = reply;
  }
  result.status = stream->Finish();
  return result;
}

void ExpectStatsNear(const v1::RunningStats& got,
                     const v1::RunningStats& want) {
  EXPECT_EQ(got.batches(), want.batches());
  ASSERT_EQ(got.mean_size(), want.mean_size());
  ASSERT_EQ(got.std_size(), want.std_size());
  for (int u = 0; u < got.mean_size(); ++u) {
    EXPECT_NEAR(got.mean(u), want.mean(u), 1e-12 * std::abs(want.mean(u)));
    EXPECT_NEAR(got.std(u), want.std(u), 1e-12 * std::abs(want.std(u)));
  }
}

TEST_F(StreamE2eTest, ObserveStreamEqualsObserveAndNanFoldsNothing) {
  for (v1::Granularity granularity : {v1::LAYER, v1::CHANNEL}) {
    SCOPED_TRACE(v1::Granularity_Name(granularity));
    const std::string session = CreateSession(
        {Unit("whole", granularity, 4), Unit("chunked", granularity, 4)});
    const std::vector<int64_t> shape = {50, 4, 33};
    std::vector<float> x = Random(50 * 4 * 33, 10);
    for (float& v : x) v = v * 2 + 0.7f;
    const v1::Tensor input = Tensor(shape, x);

    grpc::ClientContext context;
    v1::ObserveRequest observe;
    observe.mutable_unit()->set_session_id(session);
    observe.mutable_unit()->set_unit("whole");
    *observe.mutable_input() = input;
    v1::ObserveResponse whole;
    ASSERT_TRUE(stub_->Observe(&context, observe, &whole).ok());

    const ObserveResult chunked =
        StreamObserve(stub_, session, "chunked", input, x, 132 * 7);
    ASSERT_TRUE(chunked.status.ok()) << chunked.status.error_message();
    EXPECT_TRUE(chunked.last.last());
    EXPECT_TRUE(chunked.output == whole.output().data());
    ExpectStatsNear(chunked.last.stats(), whole.stats());
    ExpectStatsNear(GetUnit(session, "chunked").stats(), whole.stats());

    // A NaN in the last chunk: refused, and the unit keeps one batch.
    const v1::Unit before = GetUnit(session, "chunked");
    std::vector<float> bad = x;
    bad[bad.size() - 5] = std::nanf("");
    const ObserveResult refused =
        StreamObserve(stub_, session, "chunked", input, bad, 132 * 7);
    EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(refused.status.error_message(),
                AllOf(HasSubstr("chunk[7].input"), HasSubstr("nan")));
    const v1::Unit after = GetUnit(session, "chunked");
    EXPECT_EQ(after.version(), before.version());
    EXPECT_EQ(after.stats().batches(), 1);
    ExpectStatsNear(after.stats(), before.stats());
  }
}

TEST_F(StreamE2eTest, CancelledObserveStreamFoldsNothing) {
  const std::string session = CreateSession({Unit("u", v1::LAYER, 0)});
  const std::vector<float> x = Random(4000, 11);
  const v1::Tensor input = Tensor({4000}, x);
  const v1::Unit before = GetUnit(session, "u");

  // Every element arrives, but the client cancels instead of half-closing.
  grpc::ClientContext context;
  auto stream = stub_->ObserveStream(&context);
  ASSERT_TRUE(stream->Write(ObserveHeader(session, "u", input)));
  for (int64_t offset = 0; offset < 4000; offset += 1000) {
    ASSERT_TRUE(stream->Write(ObserveChunk(x, offset, 1000)));
    if (offset + 1000 < 4000) {
      v1::ObserveStreamResponse reply;
      ASSERT_TRUE(stream->Read(&reply));
    }
  }
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // The server saw the cancellation before folding anything.
  absl::SleepFor(absl::Milliseconds(200));
  const v1::Unit after = GetUnit(session, "u");
  EXPECT_EQ(after.version(), before.version());
  EXPECT_EQ(after.stats().batches(), 0);
  EXPECT_EQ(after.batches_observed(), 0);
}

TEST_F(StreamE2eTest, CliObserveStreamsLargeFiles) {
  const std::string session = CreateSession({Unit("u", v1::CHANNEL, 4)});
  const std::vector<int64_t> shape = {64, 4, 64, 128};
  const std::vector<float> x = Random(2 << 20, 12);
  TempDir files;
  ASSERT_TRUE(WriteNpy(files.File("x.npy"), shape, x).ok());
  const ProcessResult cli =
      Cli(server_->address(), {"observe", session, "u", files.File("x.npy"),
                               "--out-dir", files.File("out"), "--chunk_mb=1"});
  ASSERT_EQ(cli.exit_code, 0) << Describe(cli);
  EXPECT_THAT(cli.out, HasSubstr("batches 1"));
  absl::StatusOr<NpyArray> out = ReadNpy(files.File("out/x.npy"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->shape, shape);
  const v1::Unit unit = GetUnit(session, "u");
  ASSERT_EQ(unit.stats().mean_size(), 4);
  for (int c = 0; c < 4; ++c) {
    double sum = 0;
    for (int64_t o = 0; o < 64; ++o) {
      for (int64_t i = 0; i < 64 * 128; ++i) sum += x[(o * 4 + c) * 8192 + i];
    }
    EXPECT_NEAR(unit.stats().mean(c), sum / (64 * 8192), 1e-9);
  }
}

}  // namespace
}  // namespace actlab
