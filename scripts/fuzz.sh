#!/usr/bin/env bash
# Builds the libFuzzer target (clang, ASan+UBSan) and fuzzes the manifest, policy and inventory
# parsers for SECONDS (default 10; the test command uses a short bounded run).
# Longer runs: scripts/fuzz.sh 3600   (new crashes land in build-fuzz/crash-*)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMITIGD_FUZZ=ON \
    -DBUILD_TESTING=OFF -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >/dev/null
fi
cmake --build build-fuzz --target parsers_fuzz >/dev/null
work="$(mktemp -d /tmp/mitigd-fuzz-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
cd build-fuzz
./parsers_fuzz -max_total_time="$seconds" -max_len=16384 -timeout=10 "$work" 2>&1 | tail -n 3
echo "fuzz: $seconds s on the parsers, no crash"
