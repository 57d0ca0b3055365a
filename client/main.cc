// Copyright actlab authors.
//
// The actlab command-line client; see client/cli.h.

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "client/cli.h"

int main(int argc, char** argv) {
  const char* env_server = std::getenv("ACTLAB_SERVER");
  return actlab::RunCli(std::vector<std::string>(argv + 1, argv + argc),
                        env_server == nullptr ? "" : env_server, std::cout,
                        std::cerr, isatty(STDOUT_FILENO) == 1);
}
