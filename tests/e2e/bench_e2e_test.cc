// Copyright actlab authors.
//
// `actlab bench` and `actlab stats` against the real actlab-server, both as
// processes on loopback. One server serves the whole suite, which stays
// under 20 s.

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "actlab/v1/actlab.pb.h"
#include "client/npy.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/cli_support.h"
#include "tests/e2e/server_process.h"

namespace actlab {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kServerBinary[] = ACTLAB_SERVER_BINARY;
constexpr char kCliBinary[] = ACTLAB_CLI_BINARY;

const std::vector<std::string> kColumns = {
    "activation", "shape",      "direction",  "concurrency",
    "requests",   "seconds",    "req_per_s",  "gb_per_s",
    "lat_min_ms", "lat_p50_ms", "lat_p90_ms", "lat_p99_ms",
    "lat_max_ms", "kernel_ms",  "vs_echo",    "echo_p50_ms"};

// One CSV row by column name. The rows under test hold no quoted fields.
using Row = std::map<std::string, std::string>;

std::vector<Row> ParseCsv(const std::string& csv) {
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  EXPECT_FALSE(lines.empty());
  if (lines.empty()) return {};
  const std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  EXPECT_THAT(header, ElementsAreArray(kColumns));
  std::vector<Row> rows;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> fields = absl::StrSplit(lines[i], ',');
    EXPECT_THAT(fields, SizeIs(header.size())) << lines[i];
    Row row;
    for (size_t c = 0; c < header.size() && c < fields.size(); ++c) {
      row[header[c]] = fields[c];
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

double Number(const Row& row, const std::string& column) {
  double value = 0;
  EXPECT_TRUE(absl::SimpleAtod(row.at(column), &value))
      << column << " = '" << row.at(column) << "'";
  return value;
}

// The invariants of every measured cell with an Echo twin.
void ExpectSaneCell(const Row& row, int64_t requests) {
  const std::string cell =
      absl::StrCat(row.at("activation"), " ", row.at("shape"), " ",
                   row.at("direction"), " x", row.at("concurrency"));
  EXPECT_EQ(Number(row, "requests"), requests) << cell;
  for (const char* column :
       {"seconds", "req_per_s", "gb_per_s", "lat_min_ms", "lat_p50_ms",
        "lat_p90_ms", "lat_p99_ms", "lat_max_ms", "kernel_ms", "vs_echo",
        "echo_p50_ms"}) {
    EXPECT_GT(Number(row, column), 0) << cell << ": " << column;
  }
  EXPECT_LE(Number(row, "lat_min_ms"), Number(row, "lat_p50_ms")) << cell;
  EXPECT_LE(Number(row, "lat_p50_ms"), Number(row, "lat_p90_ms")) << cell;
  EXPECT_LE(Number(row, "lat_p90_ms"), Number(row, "lat_p99_ms")) << cell;
  EXPECT_LE(Number(row, "lat_p99_ms"), Number(row, "lat_max_ms")) << cell;
}

class BenchE2eTest : public SharedServerTest {
 protected:
  // GetServerStats as `actlab stats --json` prints it.
  static ::testing::AssertionResult FetchStats(
      v1::GetServerStatsResponse* stats) {
    const ProcessResult r = Run({"stats", "--json"});
    if (r.exit_code != 0) return ::testing::AssertionFailure() << Describe(r);
    if (!google::protobuf::util::JsonStringToMessage(r.out, stats).ok()) {
      return ::testing::AssertionFailure() << "not stats JSON:\n" << r.out;
    }
    return ::testing::AssertionSuccess();
  }
};

TEST_F(BenchE2eTest, CsvHasOneSaneRowPerGridCell) {
  const ProcessResult r = Run(
      {"bench", "--act", "relu,pwlu", "--shape", "1024,8x16", "--concurrency",
       "1,2", "--direction", "fwd,bwd", "--requests", "10", "--csv"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  // stderr is no terminal here, so no progress line either.
  EXPECT_EQ(r.err, "");
  const std::vector<Row> rows = ParseCsv(r.out);
  // Echo cells only feed vs_echo; they have no rows of their own.
  ASSERT_THAT(rows, SizeIs(2 * 2 * 2 * 2)) << r.out;
  std::set<std::tuple<std::string, std::string, std::string, std::string>>
      cells;
  for (const Row& row : rows) {
    cells.emplace(row.at("activation"), row.at("shape"), row.at("direction"),
                  row.at("concurrency"));
    ExpectSaneCell(row, 10);
  }
  std::set<std::tuple<std::string, std::string, std::string, std::string>> want;
  for (const char* act : {"relu", "pwlu"}) {
    for (const char* shape : {"1024", "8x16"}) {
      for (const char* direction : {"fwd", "bwd"}) {
        for (const char* concurrency : {"1", "2"}) {
          want.emplace(act, shape, direction, concurrency);
        }
      }
    }
  }
  EXPECT_EQ(cells, want);
}

TEST_F(BenchE2eTest, BenchesASessionUnit) {
  const ProcessResult created =
      Run({"session", "create", "--unit", "u:fixed=true"});
  ASSERT_EQ(created.exit_code, 0) << Describe(created);
  const std::string session = created.out.substr(0, created.out.find('\n'));
  ASSERT_FALSE(session.empty());

  const std::string act = absl::StrCat(session, "/u");
  const ProcessResult r =
      Run({"bench", "--act", act, "--shape", "8x16", "--direction", "fwd,bwd",
           "--requests", "5", "--csv"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const std::vector<Row> rows = ParseCsv(r.out);
  ASSERT_THAT(rows, SizeIs(2)) << r.out;
  for (const Row& row : rows) {
    EXPECT_EQ(row.at("activation"), act);
    ExpectSaneCell(row, 5);
  }

  const ProcessResult missing = Run(
      {"bench", "--act", session + "/nope", "--shape", "8", "--requests", "1"});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND"));
}

TEST_F(BenchE2eTest, TableAndJsonShowTheSameGrid) {
  ProcessResult r = Run({"bench", "--act", "gelu,pwlu:channel", "--shape",
                         "2x3x4", "--requests", "3", "--no-echo"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("actlab bench against ",
                                            server_->address(), " on ")));
  EXPECT_THAT(r.out, HasSubstr("\ngelu "));
  EXPECT_THAT(r.out, HasSubstr("\npwlu:channel "));

  r = Run(
      {"bench", "--act", "gelu", "--shape", "16", "--requests", "3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("\"activation\": \"gelu\""));
  EXPECT_THAT(r.out, HasSubstr("\"requests\": 3"));
}

TEST_F(BenchE2eTest, RefusesBadGridsBeforeCallingTheServer) {
  ProcessResult r = Run({"bench", "--shape", "16x0"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("--shape '16x0': dimension 2 is 0"));

  r = Run({"bench", "--act", "pwlu:channel", "--shape", "4096"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("rank >= 2"));

  r = Run({"bench", "--requests", "5", "--duration", "1"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("exclusive"));
}

int64_t EvaluateSuccesses(const v1::GetServerStatsResponse& stats) {
  for (const v1::RpcStatistics& rpc : stats.rpcs()) {
    if (rpc.rpc() == "Evaluate") return rpc.stats().success_count();
  }
  return 0;
}

int64_t ActivationCalls(const v1::GetServerStatsResponse& stats,
                        const std::string& name) {
  for (const v1::ActivationStatistics& activation : stats.activations()) {
    if (activation.activation() == name) {
      return activation.stats().success_count() +
             activation.stats().failure_count();
    }
  }
  return 0;
}

TEST_F(BenchE2eTest, StatsCountKnownCalls) {
  ASSERT_TRUE(
      WriteNpy(files_.File("x.npy"), {2, 8}, std::vector<float>(16, 0.5f))
          .ok());
  v1::GetServerStatsResponse before;
  ASSERT_TRUE(FetchStats(&before));
  for (int i = 0; i < 3; ++i) {
    const ProcessResult r =
        Run({"eval", "--act", "gelu", "--in", files_.File("x.npy"), "--out",
             files_.File("y.npy")});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  v1::GetServerStatsResponse after;
  ASSERT_TRUE(FetchStats(&after));
  // Tests run one at a time, so nothing else calls Evaluate meanwhile.
  EXPECT_EQ(EvaluateSuccesses(after) - EvaluateSuccesses(before), 3);
  EXPECT_EQ(ActivationCalls(after, "gelu") - ActivationCalls(before, "gelu"),
            3);
  EXPECT_GE(after.uptime_seconds(), before.uptime_seconds());

  const ProcessResult table = Run({"stats"});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_THAT(table.out, HasSubstr("uptime: "));
  EXPECT_THAT(table.out, HasSubstr("mean compute ms"));
  EXPECT_THAT(table.out, HasSubstr("\nEvaluate "));
  EXPECT_THAT(table.out, HasSubstr("\ngelu "));
}

TEST_F(BenchE2eTest, ActivationStatsLeaveOutEcho) {
  v1::GetServerStatsResponse before;
  ASSERT_TRUE(FetchStats(&before));
  // Each measured call goes to Echo and to Evaluate with the same request,
  // whose activation field says "selu" both times.
  const ProcessResult bench = Run({"bench", "--act", "selu", "--shape", "8",
                                   "--warmup", "0", "--requests", "4"});
  ASSERT_EQ(bench.exit_code, 0) << Describe(bench);
  v1::GetServerStatsResponse after;
  ASSERT_TRUE(FetchStats(&after));
  EXPECT_EQ(EvaluateSuccesses(after) - EvaluateSuccesses(before), 4);
  // The proto: activations are "Evaluate calls, by name".
  EXPECT_EQ(ActivationCalls(after, "selu") - ActivationCalls(before, "selu"),
            4);
}

}  // namespace
}  // namespace actlab
