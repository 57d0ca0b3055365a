// Copyright actlab authors.
//
// `actlab stats`: the server's cumulative call statistics (GetServerStats).

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "client/io.h"
#include "client/progress.h"

namespace actlab {
namespace {

// Means are over every call, failed ones included, as the server sums them.
std::vector<std::string> StatsRow(const std::string& name,
                                  const v1::CallStatistics& stats) {
  const int64_t calls = stats.success_count() + stats.failure_count();
  auto mean_ms = [&](int64_t total_ns) {
    return calls == 0 ? std::string("-")
                      : absl::StrFormat("%.3f", total_ns * 1e-6 / calls);
  };
  return {name,
          absl::StrCat(stats.success_count()),
          absl::StrCat(stats.failure_count()),
          mean_ms(stats.total_ns()),
          mean_ms(stats.queue_ns()),
          mean_ms(stats.compute_ns()),
          absl::StrFormat("%.3f", stats.request_bytes() * 1e-6),
          absl::StrFormat("%.3f", stats.response_bytes() * 1e-6)};
}

std::vector<std::string> StatsHeader(const std::string& first) {
  return {first,           "ok",
          "failed",        "mean total ms",
          "mean queue ms", "mean compute ms",
          "MB in",         "MB out"};
}

absl::Status RunStats(CommandContext& ctx, const ParsedArgs& args) {
  v1::GetServerStatsResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::GetServerStats,
      v1::GetServerStatsRequest(), &response);
  if (!status.ok()) return status;
  if (args.Has("json")) {
    ctx.out << ToJson(response);
    return absl::OkStatus();
  }
  ctx.out << "server: " << ctx.connection.server() << "\n"
          << "version: " << response.version() << "\n"
          << "uptime: " << FormatEta(response.uptime_seconds()) << "\n"
          << "sessions: " << response.sessions() << "\n"
          << "units: " << response.units() << "\n"
          << "calls in flight: " << response.calls_in_flight() << "\n\n";
  Table rpcs(StatsHeader("rpc"));
  for (const v1::RpcStatistics& rpc : response.rpcs()) {
    rpcs.AddRow(StatsRow(rpc.rpc(), rpc.stats()));
  }
  rpcs.Print(ctx.out);
  ctx.out << "\n";
  Table activations(StatsHeader("activation"));
  for (const v1::ActivationStatistics& activation : response.activations()) {
    activations.AddRow(StatsRow(activation.activation(), activation.stats()));
  }
  activations.Print(ctx.out);
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> StatsCommands() {
  return {
      {"stats",
       "",
       "Show the server's call statistics since it started, per RPC and per "
       "activation.",
       {{"json", "", "print the GetServerStats reply as JSON"}},
       0,
       0,
       RunStats},
  };
}

}  // namespace actlab
