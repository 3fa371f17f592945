#!/usr/bin/env bash
# Crash safety: SIGKILL `mitigctl apply` at every checkpoint of applying, and then of reverting, a
# mitigation with three actions (a decoded request rule, a disabled vdir, a response header) on a
# real nginx; after each kill, a plain `apply` must converge and the ledger must still know how to
# undo everything. Prints the number of kill points covered.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/mitigd-crash-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cp -r "$root/examples/." "$work/"
rm -rf "$work/var" "$work"/manifests/*.json
cat > "$work/manifests/MULTI.json" <<'J'
{ "schema": 1, "id": "MULTI", "revision": 1, "title": "three actions",
  "applies_to": { "product": "exchange", "fixed_in": "15.2.1118.20" },
  "actions": [
    { "kind": "rewrite_rule", "name": "rule", "when": [ { "input": "request_uri", "decode": true, "pattern": "(?=.*autodiscover)(?=.*powershell)" } ], "respond": "abort" },
    { "kind": "disable_vdir", "name": "ecp", "vdir": "ecp" },
    { "kind": "response_header", "name": "csp", "scope": "/owa/", "content_type": "^text/html", "header": "Content-Security-Policy", "append": "script-src-attr 'none'" } ],
  "probes": [ { "request": { "target": "/autodiscover/autodiscover.json?@x/%50owershell" }, "expect": "blocked" },
              { "request": { "target": "/ecp/" }, "expect": "blocked" },
              { "request": { "target": "/owa/" }, "expect": "passed" } ] }
J
source "$root/scripts/lib/site.sh"
start_site "$work" "$root" || exit 1
export MITIGD_CONFIG="$work/mitigd.json"
url="http://127.0.0.1:$site_port"
code() { curl -s -o /dev/null -w '%{http_code}' "$url$1"; }
csp() { curl -s -D - -o /dev/null "$url/owa/" | tr -d '\r' | sed -n 's/^Content-Security-Policy: //Ip'; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures+1)); }

converged_applied() {
  "$MITIGCTL" plan --detailed-exitcode >/dev/null || fail "$1: plan not empty after recovery"
  [ "$(code '/autodiscover/autodiscover.json?@x/%50owershell')" = "000" ] || fail "$1: exploit not dropped"
  [ "$(code /ecp/)" = "503" ] || fail "$1: /ecp/ not 503"
  [ "$(csp)" = "default-src 'self'; script-src-attr 'none'" ] || fail "$1: CSP not appended"
  [ "$(sqlite3_rows)" = "3 applied" ] || fail "$1: ledger is not 3 applied rows: $(sqlite3_rows)"
}
converged_reverted() {
  "$MITIGCTL" plan --detailed-exitcode >/dev/null || fail "$1: plan not empty after recovery"
  [ "$(code '/autodiscover/autodiscover.json?@x/%50owershell')" = "200" ] || fail "$1: exploit still blocked"
  [ "$(code /ecp/)" = "200" ] || fail "$1: /ecp/ still blocked"
  [ "$(csp)" = "default-src 'self'" ] || fail "$1: CSP still edited"
  [ -z "$(ls "$work/var/nginx/mitigd/server" "$work/var/nginx/mitigd/http" | grep -v '^$' | grep -v ':$')" ] || fail "$1: files left"
  [ "$(sqlite3_rows)" = "0 " ] || fail "$1: ledger not empty: $(sqlite3_rows)"
}
sqlite3_rows() {
  python3 - "$work/var/state.db" <<'PY'
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("select phase from ledger").fetchall()
print(len(rows), " ".join(sorted(set(r[0] for r in rows))))
PY
}

apply_points=0
for n in $(seq 1 100); do
  echo "15.2.1118.7" > "$work/server/exchange.version"
  MITIGD_TEST_KILL_AT=$n "$MITIGCTL" apply >/dev/null 2>"$work/kill.log"; rc=$?
  if [ $rc -ne 137 ]; then converged_applied "apply, no kill"; break; fi
  apply_points=$n
  "$MITIGCTL" apply >/dev/null || fail "apply after kill $n ($(cat "$work/kill.log"))"
  converged_applied "apply killed at $n ($(cut -d: -f2- "$work/kill.log"))"
  echo "15.2.1118.20" > "$work/server/exchange.version"; "$MITIGCTL" apply >/dev/null
  converged_reverted "reset after $n"
done

revert_points=0
for n in $(seq 1 100); do
  echo "15.2.1118.7" > "$work/server/exchange.version"; "$MITIGCTL" apply >/dev/null
  converged_applied "setup for revert $n"
  echo "15.2.1118.20" > "$work/server/exchange.version"
  MITIGD_TEST_KILL_AT=$n "$MITIGCTL" apply >/dev/null 2>"$work/kill.log"; rc=$?
  if [ $rc -ne 137 ]; then converged_reverted "revert, no kill"; break; fi
  revert_points=$n
  "$MITIGCTL" apply >/dev/null || fail "revert after kill $n ($(cat "$work/kill.log"))"
  converged_reverted "revert killed at $n ($(cut -d: -f2- "$work/kill.log"))"
done
"$MITIGCTL" audit verify >/dev/null || fail "audit log does not verify"
echo "crash safety: $apply_points kill points while applying, $revert_points while reverting; $failures failures"
[ "$apply_points" -ge 5 ] && [ "$revert_points" -ge 3 ] && [ $failures -eq 0 ]
