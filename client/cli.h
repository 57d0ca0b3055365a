// Copyright actlab authors.
//
// The actlab CLI as a function, so main() stays a one-liner.
//
//   actlab [global flags] <command> [args]
//
// Exit codes: 0 success; 1 a call or a file failed, reported on `err` as
// "actlab: <command>: <CODE_NAME>: <message>"; 2 a usage error, reported with
// a pointer to `actlab help <command>`.

#ifndef ACTLAB_CLIENT_CLI_H_
#define ACTLAB_CLIENT_CLI_H_

#include <ostream>
#include <string>
#include <vector>

namespace actlab {

// Runs the CLI on `args` (argv without the program name). The server address
// comes from --server, else `env_server` (ACTLAB_SERVER) when non-empty, else
// 127.0.0.1:50051. `interactive` says whether stdout is a terminal.
int RunCli(const std::vector<std::string>& args, const std::string& env_server,
           std::ostream& out, std::ostream& err, bool interactive);

}  // namespace actlab

#endif  // ACTLAB_CLIENT_CLI_H_
