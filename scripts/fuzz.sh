#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes, SECONDS each (default 10; the test
# command uses a short bounded run):
#   parsers_fuzz    manifest, policy, inventory, TUF metadata, control protocol, duplicate keys,
#                   the exponential-pattern check
#   rule_core_fuzz  the rule core the nginx module runs: directive parser, decoders, query and
#                   cookie splitting, forms and multipart bodies, transforms, prefilter, evaluation
#   importers_fuzz  mitigctl import: CrowdSec YAML (libyaml) and ModSecurity SecRule lines
# Longer runs: scripts/fuzz.sh 3600   (new crashes land in build-fuzz/crash-*)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
# The rule core is C: its flags too, or the fuzzer sees no coverage there and ASan no overflow.
flags="-fsanitize=fuzzer-no-link,address,undefined"
if [ ! -f build-fuzz/build.ninja ] || ! grep -q importers_fuzz build-fuzz/build.ninja || ! grep -q "CMAKE_C_FLAGS:STRING=$flags" build-fuzz/CMakeCache.txt; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMITIGD_FUZZ=ON \
    -DBUILD_TESTING=OFF -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" >/dev/null
fi
cmake --build build-fuzz --target parsers_fuzz rule_core_fuzz importers_fuzz >/dev/null
work="$(mktemp -d /tmp/mitigd-fuzz-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parsers" "$work/rule_core" "$work/importers"
cp tests/fuzz/corpus/* "$work/parsers/"
cp tests/fuzz/rule_core_corpus/* "$work/rule_core/"
cp tests/fuzz/importers_corpus/* "$work/importers/"
cd build-fuzz
./parsers_fuzz -max_total_time="$seconds" -max_len=16384 -timeout=10 "$work/parsers" 2>&1 | tail -n 2
echo "fuzz: $seconds s on the parsers, no crash"
./rule_core_fuzz -max_total_time="$seconds" -max_len=8192 -timeout=10 "$work/rule_core" 2>&1 | tail -n 2
echo "fuzz: $seconds s on the rule core, no crash"
./importers_fuzz -max_total_time="$seconds" -max_len=16384 -timeout=10 "$work/importers" 2>&1 | tail -n 2
echo "fuzz: $seconds s on the importers, no crash"
