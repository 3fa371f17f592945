#!/usr/bin/env bash
# The real daemon end to end, in front of a real nginx, with a 1 s poll interval: a new manifest
# is enforced within one poll interval; a policy edit converges without a restart; a hand-deleted
# rule file is restored; the security update reverts; a broken manifest is refused alone and shows
# in the metrics; a bad config on SIGHUP is refused and the daemon keeps running;
# SIGTERM stops it.
set -uo pipefail
MITIGD="$1"; MITIGCTL="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir daemon --examples
mkdir -p "$work/staging" && mv "$work/manifests/M2.json" "$work/staging/"
start_site "$work" "$root" || exit 1
metrics_port="$(free_port)"
sed -i "s/\"poll_interval_seconds\": 300/\"poll_interval_seconds\": 1/; s/127.0.0.1:19464/127.0.0.1:$metrics_port/" "$work/mitigd.json"
export MITIGD_CONFIG="$work/mitigd.json"
url="http://127.0.0.1:$site_port"
code() { curl -s -o /dev/null -w '%{http_code}' "$url$1"; }
csp() { curl -s -D - -o /dev/null "$url/owa/" | tr -d '\r' | sed -n 's/^Content-Security-Policy: //Ip'; }
metric() { curl -s "127.0.0.1:$metrics_port/metrics" | sed -n "s/^$1 //p"; }
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
# wait_until SECONDS COMMAND...: polls every 50 ms.
wait_until() { local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt $deadline ]; do "$@" && return 0; sleep 0.05; done; "$@"; }
exploit='/autodiscover/autodiscover.json?@x.com/%50owershell'
dropped() { [ "$(code "$exploit")" = "000" ]; }
passes() { [ "$(code "$exploit")" = "200" ]; }

"$MITIGD" --config "$work/mitigd.json" 2>"$work/daemon.log" & daemon=$!; pids+=($daemon)
check "startup converges: M1 enforced" wait_until 10 dropped

# A new manifest appears in the verified set: enforced within one poll interval (1 s) at most.
start=$(date +%s%N)
cp "$work/staging/M2.json" "$work/manifests/M2.json"
check "new manifest enforced within one poll interval" wait_until 2 bash -c "[ \"\$(curl -s -D - -o /dev/null $url/owa/ | tr -d '\r' | sed -n 's/^Content-Security-Policy: //Ip')\" = \"default-src 'self'; script-src-attr 'none'\" ]"
echo "     (took $(( ($(date +%s%N) - start) / 1000000 )) ms)"

"$MITIGCTL" block M2 --reason "breaks printing" >/dev/null
check "a policy edit converges without a restart" wait_until 3 bash -c "[ \"\$(curl -s -D - -o /dev/null $url/owa/ | tr -d '\r' | sed -n 's/^Content-Security-Policy: //Ip')\" = \"default-src 'self'\" ]"

rm "$work/var/nginx/mitigd/server/mitigd-M1.conf"
check "a hand-deleted rule file is restored (drift)" wait_until 3 bash -c "[ -f '$work/var/nginx/mitigd/server/mitigd-M1.conf' ] && [ \"\$(curl -s -o /dev/null -w '%{http_code}' '$url$exploit')\" = 000 ]"

# A corrupt manifest file: it alone is refused and reported; the rest stays in force, visibly.
printf '{ "schema": 1, "id": ' > "$work/manifests/BROKEN.json"
check "a broken manifest shows in metrics (state invalid)" wait_until 3 bash -c "curl -s 127.0.0.1:$metrics_port/metrics | grep -q '^mitigd_mitigations{state=\"invalid\"} 1'"
check "and the last good state stays in force" dropped
check "and the log says why" grep -q "WARNING.*BROKEN.json:1:.*JSON syntax error" "$work/daemon.log"
rm "$work/manifests/BROKEN.json"
check "reported no more once it is removed" wait_until 3 bash -c "curl -s 127.0.0.1:$metrics_port/metrics | grep -q '^mitigd_mitigations{state=\"invalid\"} 0'"
check "inputs stay valid throughout (one bad file does not refuse the set)" bash -c "[ \"\$(curl -s 127.0.0.1:$metrics_port/metrics | sed -n 's/^mitigd_inputs_valid //p')\" = 1 ]"

# A bad config on SIGHUP is refused; the daemon keeps running with the old one.
cp "$work/mitigd.json" "$work/mitigd.good"
echo '{ "inventory": 5 }' > "$work/mitigd.json"
kill -HUP $daemon
check "a bad config on SIGHUP is refused" wait_until 3 grep -q "config reload refused, keeping the running config" "$work/daemon.log"
cp "$work/mitigd.good" "$work/mitigd.json"
check "the daemon keeps running and answering" bash -c "kill -0 $daemon && curl -sf 127.0.0.1:$metrics_port/metrics >/dev/null"

# The security update: M1 is reverted by itself, and the audit says which version superseded it.
echo "15.2.1118.20" > "$work/server/exchange.version"
check "the security update reverts M1" wait_until 3 passes
check "the audit names the superseding version" wait_until 3 bash -c "'$MITIGCTL' audit --mitigation M1 --event superseded -o json | grep -q '\"superseded_by\":\"15.2.1118.20\"'"
check "the audit log verifies" "$MITIGCTL" audit verify
check "status through the control socket" bash -c "python3 -c 'import socket,json,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b\"{\\\"command\\\":\\\"status\\\"}\\n\"); d=json.loads(s.makefile().readline()); assert \"mitigations\" in d, d' '$work/var/control.sock'"

kill -TERM $daemon
check "SIGTERM stops the daemon" wait_until 5 bash -c "! kill -0 $daemon 2>/dev/null"
echo "$failures failures"
exit $(( failures > 0 ))
