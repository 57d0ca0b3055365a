// Copyright actlab authors.
//
// The engine of `actlab bench` without a server: flag parsing, the grid,
// the worker threads against a fake call, statistics and output formats.

#include "client/bench_runner.h"

#include <atomic>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/args.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace actlab {
namespace {

using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

TEST(ParseBenchShapeTest, TakesBenchdnnShapesAndElementCounts) {
  absl::StatusOr<std::vector<int64_t>> shape = ParseBenchShape("16x64x56x56");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_THAT(*shape, ElementsAre(16, 64, 56, 56));
  shape = ParseBenchShape("4096");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_THAT(*shape, ElementsAre(4096));
  EXPECT_EQ(FormatBenchShape({16, 64, 56, 56}), "16x64x56x56");
  EXPECT_EQ(FormatBenchShape({4096}), "4096");
}

TEST(ParseBenchShapeTest, RefusesMalformedShapesSayingWhy) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"16x", "dimension 2 is empty"},
      {"x16", "dimension 1 is empty"},
      {"16xx4", "dimension 2 is empty"},
      {"16x0x3", "dimension 2 is 0"},
      {"0", "dimension 1 is 0"},
      {"-4", "dimension 1 '-4' is not a positive integer"},
      {"+4", "dimension 1 '+4' is not a positive integer"},
      {"4.5", "dimension 1 '4.5' is not a positive integer"},
      {"16X64", "dimension 1 '16X64' is not a positive integer"},
      {"16, 64", "dimension 1 '16, 64' is not a positive integer"},
      {"65536x65536", "more than 2147483648 elements"},
      {"99999999999999999999", "is not a positive integer"},
  };
  for (const auto& [text, why] : cases) {
    absl::StatusOr<std::vector<int64_t>> shape = ParseBenchShape(text);
    ASSERT_FALSE(shape.ok()) << "'" << text << "' was accepted";
    EXPECT_TRUE(IsUsageError(shape.status())) << shape.status();
    EXPECT_THAT(shape.status().message(), HasSubstr(why)) << text;
    EXPECT_THAT(shape.status().message(), HasSubstr("e.g. 16x64x56x56"));
  }
}

TEST(ParseDirectionTest, TakesFwdAndBwdOnly) {
  EXPECT_EQ(*ParseDirection("fwd"), Direction::kForward);
  EXPECT_EQ(*ParseDirection("bwd"), Direction::kBackward);
  EXPECT_EQ(DirectionName(Direction::kBackward), "bwd");
  absl::StatusOr<Direction> bad = ParseDirection("both");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'both' is not fwd or bwd"));
}

TEST(SplitListFlagTest, SplitsCommasAcrossRepeatedFlags) {
  EXPECT_THAT(SplitListFlag({"1, 4", "8"}), ElementsAre("1", "4", "8"));
  EXPECT_THAT(SplitListFlag({"a,,b"}), ElementsAre("a", "b"));
}

TEST(SplitActivationListTest, KeepsSpecOptionsWithTheirActivation) {
  absl::StatusOr<std::vector<std::string>> items = SplitActivationList(
      {"relu,elu:alpha=1,beta=2,pwlu:channel,ab12/u", "leaky_relu:alpha=0.2"});
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_THAT(*items, ElementsAre("relu", "elu:alpha=1,beta=2", "pwlu:channel",
                                  "ab12/u", "leaky_relu:alpha=0.2"));
}

TEST(SplitActivationListTest, RefusesOptionsWithoutAnActivation) {
  absl::StatusOr<std::vector<std::string>> items =
      SplitActivationList({"relu,alpha=1"});
  ASSERT_FALSE(items.ok());
  EXPECT_THAT(items.status().message(), HasSubstr("'alpha=1' has no"));
}

TEST(ExpandGridTest, CrossesEveryAxisActivationsOutermost) {
  const std::vector<BenchCell> cells =
      ExpandGrid({"relu", "pwlu"}, {{1024}, {8, 16}},
                 {Direction::kForward, Direction::kBackward}, {1, 2});
  ASSERT_THAT(cells, SizeIs(16));
  EXPECT_EQ(cells[0].activation, "relu");
  EXPECT_THAT(cells[0].shape, ElementsAre(1024));
  EXPECT_EQ(cells[0].direction, Direction::kForward);
  EXPECT_EQ(cells[0].concurrency, 1);
  EXPECT_EQ(cells[1].concurrency, 2);
  EXPECT_EQ(cells[2].direction, Direction::kBackward);
  EXPECT_THAT(cells[4].shape, ElementsAre(8, 16));
  EXPECT_EQ(cells[8].activation, "pwlu");
  EXPECT_EQ(cells[15].activation, "pwlu");
  EXPECT_THAT(cells[15].shape, ElementsAre(8, 16));
  EXPECT_EQ(cells[15].direction, Direction::kBackward);
  EXPECT_EQ(cells[15].concurrency, 2);
}

TEST(PercentileTest, NearestRankOnKnownVectors) {
  // The examples of the nearest-rank method's usual definition.
  const std::vector<double> five = {15, 20, 35, 40, 50};
  EXPECT_EQ(Percentile(five, 5), 15);
  EXPECT_EQ(Percentile(five, 30), 20);
  EXPECT_EQ(Percentile(five, 40), 20);
  EXPECT_EQ(Percentile(five, 50), 35);
  EXPECT_EQ(Percentile(five, 100), 50);
  const std::vector<double> ten = {3, 6, 7, 8, 8, 10, 13, 15, 16, 20};
  EXPECT_EQ(Percentile(ten, 25), 7);
  EXPECT_EQ(Percentile(ten, 50), 8);
  EXPECT_EQ(Percentile(ten, 75), 15);
  EXPECT_EQ(Percentile(ten, 90), 16);
  EXPECT_EQ(Percentile(ten, 100), 20);
  // p * n / 100 exactly whole must not round up a rank.
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_EQ(Percentile(hundred, 99), 99);
  EXPECT_EQ(Percentile(hundred, 50), 50);
  EXPECT_EQ(Percentile(hundred, 0), 1);
  const std::vector<double> one = {7};
  EXPECT_EQ(Percentile(one, 1), 7);
  EXPECT_EQ(Percentile(one, 99), 7);
}

TEST(SummarizeTest, DerivesRatesLatenciesAndMeans) {
  Measurement m;
  m.seconds = 2;
  for (int i = 1; i <= 10; ++i) {
    // Latencies 1..10 ms; 1e8 bytes per call.
    m.samples.push_back({i * 1000000, i * 1000, 2 * i * 1000, 100000000});
  }
  const CellStats s = Summarize(m);
  EXPECT_EQ(s.requests, 10);
  EXPECT_THAT(s.req_per_s, DoubleEq(5));
  EXPECT_THAT(s.gb_per_s, DoubleEq(0.5));
  EXPECT_THAT(s.lat_min_ms, DoubleEq(1));
  EXPECT_THAT(s.lat_p50_ms, DoubleEq(5));
  EXPECT_THAT(s.lat_p90_ms, DoubleEq(9));
  EXPECT_THAT(s.lat_p99_ms, DoubleEq(10));
  EXPECT_THAT(s.lat_max_ms, DoubleEq(10));
  EXPECT_THAT(s.kernel_ms, DoubleEq(0.0055));
  EXPECT_THAT(s.handling_ms, DoubleEq(0.011));
}

TEST(RunCellTest, MakesTheRequestedCallsFromEveryWorkerAfterWarmUp) {
  std::atomic<int> calls{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> most_in_flight{0};
  RunPlan plan;
  plan.concurrency = 4;
  plan.warmup_per_worker = 2;
  plan.requests = 40;
  absl::StatusOr<Measurement> m =
      RunCell(plan, [&](int worker, CallSample* sample) {
        EXPECT_GE(worker, 0);
        EXPECT_LT(worker, 4);
        const int now = ++in_flight;
        int seen = most_in_flight.load();
        while (now > seen && !most_in_flight.compare_exchange_weak(seen, now)) {
        }
        // Long enough for the released workers to overlap.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        --in_flight;
        ++calls;
        sample->kernel_ns = 7;
        return absl::OkStatus();
      });
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(calls.load(), 4 * 2 + 40);
  ASSERT_THAT(m->samples, SizeIs(40));
  EXPECT_LE(most_in_flight.load(), 4);
  EXPECT_GE(most_in_flight.load(), 2);
  for (const CallSample& sample : m->samples) {
    EXPECT_GE(sample.latency_ns, 5000000);
    EXPECT_EQ(sample.kernel_ns, 7);
  }
  // 40 calls of >= 5 ms on 4 workers.
  EXPECT_GE(m->seconds, 0.050);
}

TEST(RunCellTest, TimeBudgetBoundsTheCell) {
  RunPlan plan;
  plan.concurrency = 2;
  plan.warmup_per_worker = 0;
  plan.duration_seconds = 0.05;
  absl::StatusOr<Measurement> m = RunCell(plan, [](int, CallSample*) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return absl::OkStatus();
  });
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_GE(m->seconds, 0.05);
  EXPECT_LT(m->seconds, 1.0);
  EXPECT_GE(m->samples.size(), 2u);
}

TEST(RunCellTest, FirstFailureStopsTheCell) {
  std::atomic<int> calls{0};
  RunPlan plan;
  plan.concurrency = 3;
  plan.warmup_per_worker = 1;
  plan.requests = 1000000;
  absl::StatusOr<Measurement> m = RunCell(plan, [&](int, CallSample*) {
    if (++calls == 10) return absl::UnavailableError("server gone");
    // Slow enough that the other workers make few calls even if the failing
    // one is descheduled before it raises the stop flag.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return absl::OkStatus();
  });
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status(), absl::UnavailableError("server gone"));
  EXPECT_LT(calls.load(), 1000);
}

TEST(RunCellTest, FailureInWarmUpIsReported) {
  RunPlan plan;
  plan.concurrency = 2;
  absl::StatusOr<Measurement> m = RunCell(plan, [](int, CallSample*) {
    return absl::InvalidArgumentError("unknown activation");
  });
  EXPECT_EQ(m.status(), absl::InvalidArgumentError("unknown activation"));
}

// A known result, and one from a session unit whose name needs CSV quoting.
std::vector<CellResult> KnownResults() {
  CellStats s;
  s.requests = 50;
  s.seconds = 0.25;
  s.req_per_s = 200;
  s.gb_per_s = 0.0032768;
  s.lat_min_ms = 1.5;
  s.lat_p50_ms = 2;
  s.lat_p90_ms = 3.25;
  s.lat_p99_ms = 4;
  s.lat_max_ms = 4.5;
  s.kernel_ms = 0.000512;
  s.handling_ms = 0.01;
  return {{{"gelu", {16, 64}, Direction::kForward, 2}, s, 0.5, 1.25},
          {{"elu:alpha=1,beta=2", {4096}, Direction::kBackward, 1},
           s,
           std::nullopt,
           std::nullopt}};
}

TEST(FormatTest, CsvHasTheHeaderAndOneRowPerCell) {
  EXPECT_EQ(FormatCsv(KnownResults()),
            "activation,shape,direction,concurrency,requests,seconds,"
            "req_per_s,gb_per_s,lat_min_ms,lat_p50_ms,lat_p90_ms,lat_p99_ms,"
            "lat_max_ms,kernel_ms,vs_echo,echo_p50_ms\n"
            "gelu,16x64,fwd,2,50,0.25,200,0.0032768,1.5,2,3.25,4,4.5,"
            "0.000512,0.5,1.25\n"
            "\"elu:alpha=1,beta=2\",4096,bwd,1,50,0.25,200,0.0032768,1.5,2,"
            "3.25,4,4.5,0.000512,,\n");
}

TEST(FormatTest, JsonHasOneObjectPerCellWithTheCsvKeys) {
  EXPECT_EQ(FormatJson(KnownResults()),
            "[\n"
            "  {\"activation\": \"gelu\", \"shape\": \"16x64\", "
            "\"direction\": \"fwd\", \"concurrency\": 2, \"requests\": 50, "
            "\"seconds\": 0.25, \"req_per_s\": 200, \"gb_per_s\": 0.0032768, "
            "\"lat_min_ms\": 1.5, \"lat_p50_ms\": 2, \"lat_p90_ms\": 3.25, "
            "\"lat_p99_ms\": 4, \"lat_max_ms\": 4.5, \"kernel_ms\": 0.000512, "
            "\"vs_echo\": 0.5, \"echo_p50_ms\": 1.25},\n"
            "  {\"activation\": \"elu:alpha=1,beta=2\", \"shape\": \"4096\", "
            "\"direction\": \"bwd\", \"concurrency\": 1, \"requests\": 50, "
            "\"seconds\": 0.25, \"req_per_s\": 200, \"gb_per_s\": 0.0032768, "
            "\"lat_min_ms\": 1.5, \"lat_p50_ms\": 2, \"lat_p90_ms\": 3.25, "
            "\"lat_p99_ms\": 4, \"lat_max_ms\": 4.5, \"kernel_ms\": 0.000512, "
            "\"vs_echo\": null, \"echo_p50_ms\": null}\n"
            "]\n");
  EXPECT_EQ(FormatJson({}), "[]\n");
}

TEST(FormatTest, TableAlignsColumnsAndMarksMissingEcho) {
  std::ostringstream out;
  PrintResultTable(KnownResults(), out);
  const std::vector<std::string> lines =
      absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(3));
  EXPECT_THAT(lines[0], HasSubstr("p99 ms"));
  EXPECT_EQ(lines[0].find("p99 ms"), lines[1].find("4.000"));
  EXPECT_THAT(lines[1], HasSubstr("0.50"));
  EXPECT_EQ(lines[2].back(), '-');
}

}  // namespace
}  // namespace actlab
