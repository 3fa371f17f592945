#!/usr/bin/env bash
# The committed example feed is what examples/feed/make_feed.sh produces with the publisher:
# regenerated into a scratch directory, every metadata and target file is byte-identical, and
# the trusted root shipped beside it is its 1.root.json.
set -euo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/mitigd-examplefeed-XXXXXX)"
trap 'rm -rf "$work"' EXIT
"$root/examples/feed/make_feed.sh" "$MITIGCTL" "$work/repo" >/dev/null
diff -r "$root/examples/feed/repo/metadata" "$work/repo/metadata"
diff -r "$root/examples/feed/repo/targets" "$work/repo/targets"
cmp "$root/examples/feed/root.json" "$work/repo/metadata/1.root.json"
"$MITIGCTL" feed verify "$root/examples/feed/repo" --root "$root/examples/feed/root.json" >/dev/null
echo "example feed: reproducible and verified"
