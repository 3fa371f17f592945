#!/usr/bin/env bash
# The real daemon on the signed TUF feed served over real HTTP, in front of a real nginx, with a
# 1 s poll: a mitigation published to the feed is enforced within one poll interval; one removed
# from the feed is reverted (withdrawn); the feed going down, or serving a tampered target, leaves
# everything in force and shows in status, metrics, the journal/log and the audit; recovery too.
set -uo pipefail
MITIGD="$1"; MITIGCTL="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir feed --examples
start_site "$work" "$root" || exit 1

# A fresh feed with its own keys: M1 only at first.
keys="$work/keys"; repo="$work/repo"
for r in root timestamp snapshot targets mitigations; do "$MITIGCTL" feed keygen --out "$keys/$r" >/dev/null; done
"$MITIGCTL" feed init "$repo" --root "$keys/root.pub" --timestamp "$keys/timestamp.pub" --snapshot "$keys/snapshot.pub" \
  --targets "$keys/targets.pub" --mitigations "$keys/mitigations.pub" >/dev/null
"$MITIGCTL" feed add "$repo" "$work/manifests/M1.json" >/dev/null
"$MITIGCTL" feed publish "$repo" --keys-dir "$keys" >/dev/null
feed_port="$(free_port)"
serve_feed() { python3 -m http.server "$feed_port" --bind 127.0.0.1 --directory "$repo" >/dev/null 2>&1 & feed_pid=$!; pids+=($feed_pid); }
serve_feed
metrics_port="$(free_port)"
cat > "$work/mitigd.json" <<JSON
{ "inventory": "server/inventory.json", "policy_dir": "policy", "state_db": "var/state.db",
  "feed": { "metadata_url": "http://127.0.0.1:$feed_port/metadata/", "targets_url": "http://127.0.0.1:$feed_port/targets/",
            "trusted_root": "$repo/metadata/1.root.json", "timeout_seconds": 5 },
  "poll_interval_seconds": 1, "drift_interval_seconds": 60,
  "metrics_listen": "127.0.0.1:$metrics_port", "control_socket": "var/control.sock" }
JSON
export MITIGD_CONFIG="$work/mitigd.json"
url="http://127.0.0.1:$site_port"
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
wait_until() { local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt $deadline ]; do "$@" && return 0; sleep 0.05; done; "$@"; }
exploit='/autodiscover/autodiscover.json?@x.com/%50owershell'
dropped() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$url$exploit")" = "000" ]; }
csp_is() { [ "$(curl -s -D - -o /dev/null "$url/owa/" | tr -d '\r' | sed -n 's/^Content-Security-Policy: //Ip')" = "$1" ]; }
metric_is() { [ "$(curl -s "127.0.0.1:$metrics_port/metrics" | sed -n "s/^$1 //p")" = "$2" ]; }

"$MITIGD" --config "$work/mitigd.json" 2>"$work/daemon.log" & daemon=$!; pids+=($daemon)
check "startup: M1 from the signed feed is enforced" wait_until 10 dropped
check "feed metrics: update ok" wait_until 3 metric_is mitigd_feed_update_ok 1

# Publish M2: enforced within one poll interval (1 s, plus up to 10% jitter and the apply).
"$MITIGCTL" feed add "$repo" "$work/manifests/M2.json" >/dev/null
start=$(date +%s%N)
"$MITIGCTL" feed publish "$repo" --keys-dir "$keys" >/dev/null
check "a mitigation published to the feed is enforced within one poll interval (+ jitter and the apply)" \
  wait_until 2 csp_is "default-src 'self'; script-src-attr 'none'"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
echo "     (took $elapsed ms; poll interval 1000 ms)"

# The feed goes down: nothing is lost, and it is visible.
kill "$feed_pid"
check "feed down: metrics show it (mitigd_feed_update_ok 0)" wait_until 4 metric_is mitigd_feed_update_ok 0
check "feed down: M1 stays in force" dropped
check "feed down: M2 stays in force" csp_is "default-src 'self'; script-src-attr 'none'"
check "feed down: status says the last update failed" bash -c "'$MITIGCTL' status | grep -q 'last update FAILED: .*Connection refused'"
check "feed down: the log says so" grep -q "feed: .*Connection refused (the last verified state stays in force)" "$work/daemon.log"
check "feed down: the audit says so" bash -c "'$MITIGCTL' audit --event feed_unreachable | grep -q 'stays in force'"
serve_feed
check "feed back: metrics recover" wait_until 4 metric_is mitigd_feed_update_ok 1
check "feed back: the audit records the recovery" bash -c "'$MITIGCTL' audit --event feed_recovered | grep -q 'verifies again'"

# A tampered target on the mirror (a new manifest whose bytes do not match the signed hash).
cp "$work/manifests/PL1.json" "$work/PL1.json"
"$MITIGCTL" feed add "$repo" "$work/PL1.json" >/dev/null
"$MITIGCTL" feed publish "$repo" --keys-dir "$keys" >/dev/null
for f in "$repo"/targets/mitigations/*PL1.json; do sed -i 's/ProxyLogon/ProxyLogin/' "$f"; done
check "tampered target: refused, the update fails visibly" wait_until 4 metric_is mitigd_feed_update_ok 0
check "tampered target: the log names the hash mismatch" wait_until 2 grep -q "PL1.json: sha256 does not match" "$work/daemon.log"
check "tampered target: the last verified state stays in force" dropped
check "tampered target: PL1 was never applied" bash -c "! '$MITIGCTL' status | grep -q '^  PL1'"

# Withdrawn from the feed: reverted.
"$MITIGCTL" feed remove "$repo" PL1 M2 >/dev/null
"$MITIGCTL" feed publish "$repo" --keys-dir "$keys" >/dev/null
check "a mitigation withdrawn from the feed is reverted" wait_until 4 csp_is "default-src 'self'"
check "the audit says it was withdrawn" wait_until 2 bash -c "'$MITIGCTL' audit --mitigation M2 --event reverted | grep -qi 'withdrawn'"
check "M1 still enforced" dropped
check "the audit log verifies" "$MITIGCTL" audit verify

kill -TERM $daemon
check "SIGTERM stops the daemon" wait_until 5 bash -c "! kill -0 $daemon 2>/dev/null"
echo "$failures failures"
exit $(( failures > 0 ))
