#!/usr/bin/env bash
# Installs the Debian 12 packages actlab needs. Idempotent: packages already
# present are skipped, so README, .ci/run and the Dockerfile all call it.
# Must run as root.
#
#   install-deps.sh            build, test and runtime packages
#   install-deps.sh --runtime  only what a built actlab-server needs to run
set -euo pipefail

# Shared libraries the binaries load; the runtime image installs only these.
RUNTIME_PACKAGES=(
  libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623
  libdnnl2 libgomp1 libsqlite3-0 libprometheus-cpp-pull1.0
  libprometheus-cpp-core1.0 libpq5 libssl3 ca-certificates
)

# Compilers, headers and test tools (the -dev packages pull in the above).
# postgresql is the server the tests start throwaway clusters of.
BUILD_PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libdnnl-dev ocl-icd-opencl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  prometheus-cpp-dev libpq-dev libssl-dev
  python3-numpy python3-grpcio python3-protobuf python3-yaml
  postgresql openssl
)

packages=("${RUNTIME_PACKAGES[@]}")
if [[ "${1:-}" != "--runtime" ]]; then
  packages+=("${BUILD_PACKAGES[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages present"
fi
