// Copyright actlab authors.

#include "client/bench_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "client/args.h"
#include "client/io.h"

namespace actlab {
namespace {

using Clock = std::chrono::steady_clock;

// Larger tensors cannot travel in one message (gRPC sizes are ints).
constexpr int64_t kMaxShapeElements = int64_t{1} << 31;

constexpr absl::string_view kShapeExamples = "e.g. 16x64x56x56 or 4096";

int64_t Nanos(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// Shortest round-tripping-enough form for machine-read output: six
// significant digits keep sub-microsecond kernel times nonzero.
std::string Number(double value) { return absl::StrFormat("%.6g", value); }

// RFC 4180: activation specs may hold commas ("elu:alpha=1,beta=2").
std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\"\""}}), "\"");
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

// The values of ResultColumns() for one result, numbers unquoted; `text`
// marks which ones are strings.
std::vector<std::string> ResultFields(const CellResult& result,
                                      std::vector<bool>* text) {
  const CellStats& s = result.stats;
  *text = {true, true, true};
  text->resize(ResultColumns().size(), false);
  return {result.cell.activation,
          FormatBenchShape(result.cell.shape),
          std::string(DirectionName(result.cell.direction)),
          absl::StrCat(result.cell.concurrency),
          absl::StrCat(s.requests),
          Number(s.seconds),
          Number(s.req_per_s),
          Number(s.gb_per_s),
          Number(s.lat_min_ms),
          Number(s.lat_p50_ms),
          Number(s.lat_p90_ms),
          Number(s.lat_p99_ms),
          Number(s.lat_max_ms),
          Number(s.kernel_ms),
          result.vs_echo ? Number(*result.vs_echo) : "",
          result.echo_p50_ms ? Number(*result.echo_p50_ms) : ""};
}

}  // namespace

absl::string_view DirectionName(Direction direction) {
  return direction == Direction::kForward ? "fwd" : "bwd";
}

absl::StatusOr<Direction> ParseDirection(absl::string_view text) {
  if (text == "fwd") return Direction::kForward;
  if (text == "bwd") return Direction::kBackward;
  return UsageError(
      absl::StrCat("--direction: '", text, "' is not fwd or bwd"));
}

absl::StatusOr<std::vector<int64_t>> ParseBenchShape(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return UsageError(absl::StrCat("--shape '", text, "': ", why,
                                   "; dimensions are positive integers "
                                   "joined by 'x', ",
                                   kShapeExamples));
  };
  if (text.empty()) return bad("empty");
  std::vector<int64_t> shape;
  int64_t elements = 1;
  for (absl::string_view piece : absl::StrSplit(text, 'x')) {
    const size_t index = shape.size() + 1;
    if (piece.empty())
      return bad(absl::StrCat("dimension ", index, " is empty"));
    int64_t dim = 0;
    // SimpleAtoi takes signs and spaces, which a dimension never has.
    const bool digits = std::all_of(piece.begin(), piece.end(), [](char c) {
      return absl::ascii_isdigit(static_cast<unsigned char>(c));
    });
    if (!digits || !absl::SimpleAtoi(piece, &dim)) {
      return bad(absl::StrCat("dimension ", index, " '", piece,
                              "' is not a positive integer"));
    }
    if (dim == 0) return bad(absl::StrCat("dimension ", index, " is 0"));
    if (dim > kMaxShapeElements / elements) {
      return bad(absl::StrCat("more than ", kMaxShapeElements, " elements"));
    }
    elements *= dim;
    shape.push_back(dim);
  }
  return shape;
}

std::string FormatBenchShape(absl::Span<const int64_t> shape) {
  return absl::StrJoin(shape, "x");
}

std::vector<std::string> SplitListFlag(absl::Span<const std::string> values) {
  std::vector<std::string> items;
  for (const std::string& value : values) {
    for (absl::string_view item :
         absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      items.emplace_back(absl::StripAsciiWhitespace(item));
    }
  }
  return items;
}

absl::StatusOr<std::vector<std::string>> SplitActivationList(
    absl::Span<const std::string> values) {
  std::vector<std::string> items;
  for (const std::string& value : values) {
    // Continuations join only within one flag value.
    bool open_options = false;
    for (const std::string& piece : SplitListFlag({value})) {
      const bool continuation = piece.find('=') != std::string::npos &&
                                piece.find(':') == std::string::npos;
      if (!continuation) {
        items.push_back(piece);
        open_options = piece.find(':') != std::string::npos;
      } else if (open_options) {
        absl::StrAppend(&items.back(), ",", piece);
      } else {
        return UsageError(absl::StrCat("--act: '", piece,
                                       "' has no activation name; write "
                                       "NAME:",
                                       piece));
      }
    }
  }
  return items;
}

std::vector<BenchCell> ExpandGrid(absl::Span<const std::string> activations,
                                  absl::Span<const std::vector<int64_t>> shapes,
                                  absl::Span<const Direction> directions,
                                  absl::Span<const int> concurrencies) {
  std::vector<BenchCell> cells;
  for (const std::string& activation : activations) {
    for (const std::vector<int64_t>& shape : shapes) {
      for (const Direction direction : directions) {
        for (const int concurrency : concurrencies) {
          cells.push_back({activation, shape, direction, concurrency});
        }
      }
    }
  }
  return cells;
}

absl::StatusOr<Measurement> RunCell(const RunPlan& plan,
                                    const BenchCall& call) {
  const int workers = plan.concurrency;
  const bool timed = plan.duration_seconds > 0;

  std::mutex mu;
  std::condition_variable cv;
  int warm = 0;  // workers through their warm-up
  bool released = false;
  absl::Status error;  // the first failure
  Clock::time_point start;
  Clock::time_point deadline;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> tickets{0};
  std::vector<std::vector<CallSample>> samples(workers);
  std::vector<Clock::time_point> last_end(workers);

  // Returns false when the call failed or another worker's did.
  auto timed_call = [&](int worker, CallSample* sample) {
    if (stop.load()) return false;
    const Clock::time_point begin = Clock::now();
    absl::Status status = call(worker, sample);
    const Clock::time_point end = Clock::now();
    if (!status.ok()) {
      stop = true;  // first, so the other workers stop as soon as possible
      std::lock_guard<std::mutex> lock(mu);
      if (error.ok()) error = std::move(status);
      return false;
    }
    sample->latency_ns = Nanos(end - begin);
    last_end[worker] = end;
    return true;
  };

  auto work = [&](int worker) {
    for (int i = 0; i < plan.warmup_per_worker; ++i) {
      CallSample sample;
      if (!timed_call(worker, &sample)) break;
    }
    Clock::time_point until;
    {
      std::unique_lock<std::mutex> lock(mu);
      ++warm;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });
      until = deadline;
    }
    // A timed worker makes at least one call, so no cell comes back empty.
    while (timed || tickets.fetch_add(1) < plan.requests) {
      CallSample sample;
      if (!timed_call(worker, &sample)) break;
      samples[worker].push_back(sample);
      if (timed && last_end[worker] >= until) break;
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (int w = 0; w < workers; ++w) threads.emplace_back(work, w);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return warm == workers; });
    start = Clock::now();
    deadline =
        start + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(plan.duration_seconds));
    released = true;
  }
  cv.notify_all();
  for (std::thread& thread : threads) thread.join();
  if (!error.ok()) return error;

  Measurement measurement;
  Clock::time_point end = start;
  for (int w = 0; w < workers; ++w) {
    measurement.samples.insert(measurement.samples.end(), samples[w].begin(),
                               samples[w].end());
    if (!samples[w].empty()) end = std::max(end, last_end[w]);
  }
  measurement.seconds = Nanos(end - start) * 1e-9;
  return measurement;
}

double Percentile(absl::Span<const double> sorted, double p) {
  const double n = static_cast<double>(sorted.size());
  // The slack keeps p * n / 100 that should be whole (99 * 100 / 100) from
  // rounding up to the next rank.
  const double rank = std::ceil(p * n / 100 - 1e-9);
  const size_t index = static_cast<size_t>(std::clamp(rank, 1.0, n)) - 1;
  return sorted[index];
}

CellStats Summarize(const Measurement& measurement) {
  CellStats stats;
  const std::vector<CallSample>& samples = measurement.samples;
  stats.requests = static_cast<int64_t>(samples.size());
  stats.seconds = measurement.seconds;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(samples.size());
  double bytes = 0;
  double kernel_ns = 0;
  double handling_ns = 0;
  for (const CallSample& sample : samples) {
    latencies_ms.push_back(sample.latency_ns * 1e-6);
    bytes += static_cast<double>(sample.payload_bytes);
    kernel_ns += static_cast<double>(sample.kernel_ns);
    handling_ns += static_cast<double>(sample.handling_ns);
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  if (stats.seconds > 0) {
    stats.req_per_s = stats.requests / stats.seconds;
    stats.gb_per_s = bytes / stats.seconds * 1e-9;
  }
  stats.lat_min_ms = latencies_ms.front();
  stats.lat_p50_ms = Percentile(latencies_ms, 50);
  stats.lat_p90_ms = Percentile(latencies_ms, 90);
  stats.lat_p99_ms = Percentile(latencies_ms, 99);
  stats.lat_max_ms = latencies_ms.back();
  stats.kernel_ms = kernel_ns / stats.requests * 1e-6;
  stats.handling_ms = handling_ns / stats.requests * 1e-6;
  return stats;
}

const std::vector<std::string>& ResultColumns() {
  static const auto* columns = new std::vector<std::string>{
      "activation", "shape",      "direction",  "concurrency",
      "requests",   "seconds",    "req_per_s",  "gb_per_s",
      "lat_min_ms", "lat_p50_ms", "lat_p90_ms", "lat_p99_ms",
      "lat_max_ms", "kernel_ms",  "vs_echo",    "echo_p50_ms"};
  return *columns;
}

std::string FormatCsv(absl::Span<const CellResult> results) {
  std::string csv = absl::StrCat(absl::StrJoin(ResultColumns(), ","), "\n");
  for (const CellResult& result : results) {
    std::vector<bool> text;
    std::vector<std::string> fields = ResultFields(result, &text);
    for (std::string& field : fields) field = CsvField(field);
    absl::StrAppend(&csv, absl::StrJoin(fields, ","), "\n");
  }
  return csv;
}

std::string FormatJson(absl::Span<const CellResult> results) {
  const std::vector<std::string>& columns = ResultColumns();
  std::vector<std::string> objects;
  for (const CellResult& result : results) {
    std::vector<bool> text;
    const std::vector<std::string> fields = ResultFields(result, &text);
    std::vector<std::string> members;
    for (size_t i = 0; i < columns.size(); ++i) {
      std::string value = text[i]             ? JsonString(fields[i])
                          : fields[i].empty() ? std::string("null")
                                              : fields[i];
      members.push_back(absl::StrCat(JsonString(columns[i]), ": ", value));
    }
    objects.push_back(absl::StrCat("  {", absl::StrJoin(members, ", "), "}"));
  }
  if (objects.empty()) return "[]\n";
  return absl::StrCat("[\n", absl::StrJoin(objects, ",\n"), "\n]\n");
}

void PrintResultTable(absl::Span<const CellResult> results, std::ostream& out) {
  Table table({"activation", "shape", "dir", "conc", "requests", "req/s",
               "GB/s", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms",
               "kernel ms", "server ms", "vs_echo", "echo p50 ms"});
  for (const CellResult& r : results) {
    const CellStats& s = r.stats;
    table.AddRow(
        {r.cell.activation, FormatBenchShape(r.cell.shape),
         std::string(DirectionName(r.cell.direction)),
         absl::StrCat(r.cell.concurrency), absl::StrCat(s.requests),
         absl::StrFormat("%.1f", s.req_per_s),
         absl::StrFormat("%.3f", s.gb_per_s),
         absl::StrFormat("%.3f", s.lat_min_ms),
         absl::StrFormat("%.3f", s.lat_p50_ms),
         absl::StrFormat("%.3f", s.lat_p90_ms),
         absl::StrFormat("%.3f", s.lat_p99_ms),
         absl::StrFormat("%.3f", s.lat_max_ms),
         absl::StrFormat("%.4f", s.kernel_ms),
         absl::StrFormat("%.4f", s.handling_ms),
         r.vs_echo ? absl::StrFormat("%.2f", *r.vs_echo) : "-",
         r.echo_p50_ms ? absl::StrFormat("%.3f", *r.echo_p50_ms) : "-"});
  }
  table.Print(out);
}

}  // namespace actlab
