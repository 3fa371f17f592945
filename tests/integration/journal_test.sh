#!/usr/bin/env bash
# Audit records reach the system journal with structured fields. The journal here is a receiver
# on /run/systemd/journal/socket inside a private mount namespace (`unshare -m`, a tmpfs over
# /run: the host's /run is untouched), speaking the journal's native datagram protocol.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"   # new_workdir
new_workdir journal --examples
export MITIGD_CONFIG="$work/mitigd.json" MITIGCTL ROOT="$root" WORK="$work"
unshare -m true 2>/dev/null || { echo "SKIP: no private mount namespace here (unshare -m)"; exit 77; }
unshare -m bash -c '
  set -e
  mount --make-rprivate /
  mount -t tmpfs tmpfs /run
  mkdir -p /run/systemd/journal
  python3 "$ROOT/tests/integration/journal_sink.py" /run/systemd/journal/socket "$WORK/journal.jsonl" & sink=$!
  for _ in $(seq 100); do [ -e "$WORK/journal.jsonl.ready" ] && break; sleep 0.05; done
  "$MITIGCTL" block M2 --reason "journal test" >/dev/null
  sleep 0.3
  kill $sink
'
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
check "the audit record reached the journal" test -s "$work/journal.jsonl"
check "with structured fields" python3 - "$work/journal.jsonl" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
e = [x for x in entries if x.get("MITIGD_EVENT") == "policy_edited"][0]
assert e["MITIGD_MITIGATION"] == "M2", e
assert e["SYSLOG_IDENTIFIER"] == "mitigctl", e
assert e["MITIGD_AUDIT_SEQ"] == "1" and len(e["MITIGD_AUDIT_HASH"]) == 64, e
assert "journal test" in e["MESSAGE"], e
assert e["PRIORITY"] == "5", e
PY
check "and it is the same record as in the hash-chained log" bash -c "'$MITIGCTL' audit -o json | grep -q \"\$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[\"MITIGD_AUDIT_HASH\"])' '$work/journal.jsonl')\""
echo "$failures failures"
exit $(( failures > 0 ))
