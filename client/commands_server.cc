// Copyright actlab authors.
//
// Commands about the server itself: health and the activation catalogue.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/io.h"

namespace actlab {
namespace {

using HealthResponse = grpc::health::v1::HealthCheckResponse;

absl::Status RunHealth(CommandContext& ctx, const ParsedArgs& args) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(args.Get("service"));
  HealthResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.health(), &grpc::health::v1::Health::Stub::Check, request,
      &response);
  if (!status.ok()) return status;
  ctx.out << HealthResponse::ServingStatus_Name(response.status()) << "\n";
  if (response.status() != HealthResponse::SERVING) {
    return absl::UnavailableError(
        absl::StrCat("the server reports ",
                     HealthResponse::ServingStatus_Name(response.status())));
  }
  return absl::OkStatus();
}

std::string DescribeParameter(const v1::ParameterInfo& p) {
  return absl::StrFormat("%s=%g [%g, %g]", p.name(), p.default_value(),
                         p.min_value(), p.max_value());
}

absl::Status RunActivations(CommandContext& ctx, const ParsedArgs&) {
  v1::ListActivationsResponse response;
  absl::Status status = ctx.connection.Call(
      ctx.connection.actlab(), &v1::Actlab::Stub::ListActivations,
      v1::ListActivationsRequest(), &response);
  if (!status.ok()) return status;
  Table table({"NAME", "PARAMETERS", "BACKWARD", "BACKEND"});
  for (const v1::ActivationInfo& info : response.activations()) {
    std::string name = info.name();
    if (info.aliases_size() > 0) {
      absl::StrAppend(&name, " (", absl::StrJoin(info.aliases(), ", "), ")");
    }
    std::vector<std::string> params;
    for (const v1::ParameterInfo& p : info.parameters()) {
      params.push_back(DescribeParameter(p));
    }
    table.AddRow({name, params.empty() ? "-" : absl::StrJoin(params, ", "),
                  info.has_backward() ? "yes" : "no", info.backend()});
  }
  table.Print(ctx.out);
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> ServerCommands() {
  return {
      {"health",
       "",
       "Check the server: prints SERVING or NOT_SERVING; exit 0 only if "
       "SERVING.",
       {{"service", "NAME",
         "service to check (default \"\": the server as a whole)"}},
       0,
       0,
       RunHealth},
      {"activations",
       "",
       "List the activations with their parameters (default [min, max]), "
       "backward support and backend.",
       {},
       0,
       0,
       RunActivations},
  };
}

}  // namespace actlab
