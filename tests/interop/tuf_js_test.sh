#!/usr/bin/env bash
# Interop with an independent TUF implementation, for each key type (ed25519, ecdsa, rsa):
#  1. a repository written by @tufjs/models verifies in mitigd (file mirror, and over HTTP through
#     the conformance-protocol client);
#  2. a repository published by `mitigctl feed` verifies in the tuf-js client over HTTP, and the
#     bytes it downloads are the manifests that were published;
# and once more without consistent snapshots.
set -euo pipefail
mitigctl="$1"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[ -d "$here/node_modules/tuf-js" ] || (cd "$here" && npm ci --no-audit --no-fund --silent)
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
base="http://127.0.0.1:$port"
manifests=("$root/examples/manifests/M1.json" "$root/examples/manifests/PL1.json")
checks=0

for type in ed25519 ecdsa rsa; do
  # 1. tuf-js writes, mitigd verifies.
  node "$here/make_repo.js" "$work/js-$type" "$type" "${manifests[@]}"
  "$mitigctl" feed verify "$work/js-$type" --root "$work/js-$type/metadata/1.root.json" -o json > "$work/v.json"
  python3 - "$work/v.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
assert sorted(t["id"] for t in v["targets"]) == ["M1", "PL1"], v
PY
  "$mitigctl" feed client --metadata-dir "$work/c-$type" init "$work/js-$type/metadata/1.root.json"
  "$mitigctl" feed client --metadata-dir "$work/c-$type" --metadata-url "$base/js-$type/metadata/" \
    --target-name mitigations/M1.json --target-base-url "$base/js-$type/targets/" --target-dir "$work/t-$type" download
  cmp "$work/t-$type/mitigations%2FM1.json" "$root/examples/manifests/M1.json"
  echo "ok: tuf-js repository ($type) verified by mitigd"; checks=$((checks + 1))

  # 2. mitigd publishes, tuf-js verifies.
  keys="$work/keys-$type"
  for r in root timestamp snapshot targets mitigations; do
    "$mitigctl" feed keygen --type "$type" --bits 2048 --out "$keys/$r" >/dev/null
  done
  repo="$work/m-$type"
  "$mitigctl" feed init "$repo" --root "$keys/root.pub" --timestamp "$keys/timestamp.pub" --snapshot "$keys/snapshot.pub" \
    --targets "$keys/targets.pub" --mitigations "$keys/mitigations.pub" >/dev/null
  "$mitigctl" feed add "$repo" "${manifests[@]}" >/dev/null
  "$mitigctl" feed publish "$repo" --keys-dir "$keys" >/dev/null
  node "$here/client.js" "$base/m-$type/metadata/" "$base/m-$type/targets/" "$repo/metadata/1.root.json" \
    "$work/out-$type" mitigations/M1.json mitigations/PL1.json
  cmp "$work/out-$type/M1.json" "$root/examples/manifests/M1.json"
  cmp "$work/out-$type/PL1.json" "$root/examples/manifests/PL1.json"
  # A second publish after a key rotation of the root: tuf-js follows the chain too.
  "$mitigctl" feed keygen --type "$type" --bits 2048 --out "$keys/root2" >/dev/null
  "$mitigctl" feed set-role "$repo" root --key "$keys/root2.pub" >/dev/null
  "$mitigctl" feed publish "$repo" --keys-dir "$keys" >/dev/null
  node "$here/client.js" "$base/m-$type/metadata/" "$base/m-$type/targets/" "$repo/metadata/1.root.json" \
    "$work/out2-$type" mitigations/M1.json
  echo "ok: mitigctl feed repository ($type, root rotated) verified by tuf-js"; checks=$((checks + 1))
done
# Without consistent snapshots (plain file names), both ways, ed25519.
CONSISTENT=0 node "$here/make_repo.js" "$work/js-plain" ed25519 "${manifests[@]}"
"$mitigctl" feed verify "$work/js-plain" --root "$work/js-plain/metadata/1.root.json" >/dev/null
echo "ok: tuf-js repository without consistent snapshots verified by mitigd"; checks=$((checks + 1))
keys="$work/keys-plain"
for r in root timestamp snapshot targets mitigations; do "$mitigctl" feed keygen --out "$keys/$r" >/dev/null; done
"$mitigctl" feed init "$work/m-plain" --no-consistent-snapshot --root "$keys/root.pub" --timestamp "$keys/timestamp.pub" \
  --snapshot "$keys/snapshot.pub" --targets "$keys/targets.pub" --mitigations "$keys/mitigations.pub" >/dev/null
"$mitigctl" feed add "$work/m-plain" "${manifests[@]}" >/dev/null
"$mitigctl" feed publish "$work/m-plain" --keys-dir "$keys" >/dev/null
node "$here/client.js" "$base/m-plain/metadata/" "$base/m-plain/targets/" "$work/m-plain/metadata/1.root.json" \
  "$work/out-plain" mitigations/M1.json >/dev/null
cmp "$work/out-plain/M1.json" "$root/examples/manifests/M1.json"
echo "ok: mitigctl feed repository without consistent snapshots verified by tuf-js"; checks=$((checks + 1))
# TAP 15 succinct hashed bins, bins computed by @tufjs/models: mitigd and tuf-js resolve them alike.
SUCCINCT=1 node "$here/make_repo.js" "$work/js-bins" ed25519 "$root"/examples/manifests/*.json
"$mitigctl" feed verify "$work/js-bins" --root "$work/js-bins/metadata/1.root.json" -o json > "$work/bins.json"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); assert len(v["targets"]) == 5, v' "$work/bins.json"
node "$here/client.js" "$base/js-bins/metadata/" "$base/js-bins/targets/" "$work/js-bins/metadata/1.root.json" \
  "$work/out-bins" mitigations/M1.json mitigations/ECP1.json >/dev/null
echo "ok: succinct hashed-bin delegations ($(ls "$work/js-bins/metadata" | grep -c '^1\.mitigations-') bins) resolved by mitigd and tuf-js alike"; checks=$((checks + 1))
echo "interop: $checks checks passed"
