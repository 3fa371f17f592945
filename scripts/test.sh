#!/usr/bin/env bash
# Builds everything and runs every test: unit, integration (real nginx, Apache, HTTP), and a short
# bounded fuzzing run. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MITIGD_WERROR=ON scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600 -j 2
scripts/fuzz.sh 10
