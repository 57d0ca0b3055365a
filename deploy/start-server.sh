#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs actlab-server in
# the foreground on 127.0.0.1:50051 with its embedded defaults (SQLite store
# under ./var/). Extra arguments go to the server, e.g. --listen=[::1]:6000.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${ACTLAB_BUILD_DIR:-$root/build}

bash "$root/deploy/build.sh"
cd "$root"
exec "$build_dir/server/actlab-server" "$@"
