#!/usr/bin/env bash
# Installs every Debian 12 package actlab needs to build, test and run.
# Idempotent: packages already present are skipped, so it is cheap to call
# from README, .ci/run and the Dockerfile alike. Must run as root.
set -euo pipefail

# Build and test dependencies (the -dev packages pull in the runtime libraries).
BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libdnnl-dev ocl-icd-opencl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  python3-numpy
)

missing=()
for p in "${BUILD_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
