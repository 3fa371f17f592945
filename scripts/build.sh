#!/usr/bin/env bash
# Configures and builds mitigd into build/ (incremental after the first run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# MITIGD_WERROR=ON (scripts/test.sh on a fresh tree, as CI runs it) makes warnings errors; users
# build without. An existing build directory keeps its setting (switching would rebuild everything).
if [ ! -f build/build.ninja ]; then
  echo "build: configuring (the first build takes about 10 minutes on 2 cores)" >&2
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMITIGD_WERROR="${MITIGD_WERROR:-OFF}" >/dev/null
fi
cmake --build build --parallel "$(nproc)"
