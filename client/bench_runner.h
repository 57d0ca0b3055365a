// Copyright actlab authors.
//
// The engine behind `actlab bench`, free of gRPC so it can be tested without
// a server: parsing the grid flags, expanding the grid, driving one cell's
// calls from worker threads, the statistics of a cell and its CSV, JSON and
// table renderings.

#ifndef ACTLAB_CLIENT_BENCH_RUNNER_H_
#define ACTLAB_CLIENT_BENCH_RUNNER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace actlab {

enum class Direction { kForward, kBackward };

// "fwd" or "bwd".
absl::string_view DirectionName(Direction direction);
absl::StatusOr<Direction> ParseDirection(absl::string_view text);

// benchdnn-style "16x64x56x56", or a plain element count "4096" (rank 1).
// Dimensions are positive integers; the element count must fit a message.
absl::StatusOr<std::vector<int64_t>> ParseBenchShape(absl::string_view text);
// The inverse: "16x64x56x56".
std::string FormatBenchShape(absl::Span<const int64_t> shape);

// Items of a list flag given as "a,b" and/or repeated. Activation items are
// NAME[:k=v,...] specs whose own options are comma-separated too, so a
// "k=v" piece without a ':' continues the item before it:
// "elu:alpha=1,beta=2,gelu" is {"elu:alpha=1,beta=2", "gelu"}.
std::vector<std::string> SplitListFlag(absl::Span<const std::string> values);
absl::StatusOr<std::vector<std::string>> SplitActivationList(
    absl::Span<const std::string> values);

// One point of the grid.
struct BenchCell {
  std::string activation;  // as given: "gelu", "pwlu:channel", "SESSION/UNIT"
  std::vector<int64_t> shape;
  Direction direction = Direction::kForward;
  int concurrency = 1;
};

// Activations outermost, then shapes, directions and concurrency levels, so
// rows of one activation and shape sit together in the report.
std::vector<BenchCell> ExpandGrid(absl::Span<const std::string> activations,
                                  absl::Span<const std::vector<int64_t>> shapes,
                                  absl::Span<const Direction> directions,
                                  absl::Span<const int> concurrencies);

// What one call took, as the client and the server saw it.
struct CallSample {
  int64_t latency_ns = 0;  // client wall time, filled by RunCell
  int64_t kernel_ns = 0;   // from the reply
  int64_t handling_ns = 0;
  int64_t payload_bytes = 0;  // tensor data sent and received
};

struct RunPlan {
  int concurrency = 1;
  int warmup_per_worker = 3;
  // Measured calls in total over all workers, or, when duration_seconds > 0,
  // as many as fit in that many seconds.
  int64_t requests = 50;
  double duration_seconds = 0;
};

struct Measurement {
  std::vector<CallSample> samples;
  // From the moment every worker is released after its warm-up to the last
  // measured call's end.
  double seconds = 0;
};

// One call from worker `worker` (0 <= worker < concurrency), filling
// everything in `sample` but the latency. Called from several threads.
using BenchCall = std::function<absl::Status(int worker, CallSample* sample)>;

// Runs `plan.concurrency` threads, each with one call in flight at a time:
// its warm-up calls, then, once all are warm, measured calls until the
// requests or the time budget run out. The first failing call stops the cell
// and is returned.
absl::StatusOr<Measurement> RunCell(const RunPlan& plan, const BenchCall& call);

// Nearest-rank percentile `p` (in [0, 100]) of ascending `sorted`, which must
// not be empty: the value at rank ceil(p / 100 * n), at least rank 1.
double Percentile(absl::Span<const double> sorted, double p);

struct CellStats {
  int64_t requests = 0;
  double seconds = 0;
  double req_per_s = 0;
  double gb_per_s = 0;  // 1e9 bytes of tensor data per second
  double lat_min_ms = 0;
  double lat_p50_ms = 0;
  double lat_p90_ms = 0;
  double lat_p99_ms = 0;
  double lat_max_ms = 0;
  double kernel_ms = 0;  // mean over calls
  double handling_ms = 0;
};

// `measurement` must hold at least one sample.
CellStats Summarize(const Measurement& measurement);

struct CellResult {
  BenchCell cell;
  CellStats stats;
  // This cell's req/s over its Echo twin's, and the twin's median latency
  // (the transport's share of this cell's); absent with --no-echo.
  std::optional<double> vs_echo;
  std::optional<double> echo_p50_ms;
};

// The column names of FormatCsv, also the keys of FormatJson's objects.
const std::vector<std::string>& ResultColumns();
// A header row and one row per result; absent Echo values are empty fields.
std::string FormatCsv(absl::Span<const CellResult> results);
// An array of one object per result; absent Echo values are null.
std::string FormatJson(absl::Span<const CellResult> results);
// Aligned columns for people, with the server's mean handling time too.
void PrintResultTable(absl::Span<const CellResult> results, std::ostream& out);

}  // namespace actlab

#endif  // ACTLAB_CLIENT_BENCH_RUNNER_H_
