#!/usr/bin/env bash
# Regenerates the example signed feed (examples/feed/repo) from examples/manifests with the
# publisher, reproducibly: the same keys and the same --now give byte-identical metadata
# (ed25519 signatures are deterministic). The keys in keys/ are DEMO KEYS, published on purpose:
# never trust this root outside the demo and the tests.
# Usage: examples/feed/make_feed.sh MITIGCTL [OUTDIR]   (OUTDIR defaults to examples/feed/repo)
set -euo pipefail
mitigctl="$1"
here="$(cd "$(dirname "$0")" && pwd)"
out="${2:-$here/repo}"
keys="$here/keys"
now="2026-11-01T00:00:00Z"
if [ ! -f "$keys/root.key" ]; then
  for role in root timestamp snapshot targets mitigations; do
    "$mitigctl" feed keygen --type ed25519 --out "$keys/$role" >/dev/null
  done
fi
rm -rf "$out"
# Long expiry periods, so that the committed example stays valid; a real feed uses the defaults
# (timestamp 1 day, snapshot 7, mitigations 30, targets 180, root 365) and publishes often.
"$mitigctl" feed init "$out" --root "$keys/root.pub" --timestamp "$keys/timestamp.pub" \
  --snapshot "$keys/snapshot.pub" --targets "$keys/targets.pub" --mitigations "$keys/mitigations.pub" \
  --expires root=3650 --expires targets=3650 --expires mitigations=3650 --expires snapshot=3650 \
  --expires timestamp=3650 >/dev/null
"$mitigctl" feed add "$out" "$here"/../manifests/*.json >/dev/null
"$mitigctl" feed publish "$out" --keys-dir "$keys" --now "$now" >/dev/null
if [ "$out" = "$here/repo" ]; then
  cp "$out/metadata/1.root.json" "$here/root.json"
  echo "example feed written to $out (trusted root: $here/root.json)"
else
  echo "example feed written to $out (trusted root: $out/metadata/1.root.json)"
fi
