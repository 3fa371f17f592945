#!/usr/bin/env bash
# The demo: an Exchange-like site behind a private nginx on loopback, the example signed feed
# (TUF) served over HTTP, the example policy, and the mitigd daemon converging it: plan, exploits
# dropped while normal traffic passes, a new mitigation published to the feed and applied at the
# next poll, a policy block reverting it, the feed going down without anything being lost, the
# security update reverting M1 by itself, and the audit.
# Ends by itself and cleans up. Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
# Build progress goes to stderr (the first run builds for about 10 minutes on 2 cores; later runs
# take seconds), the demo's own story to stdout.
if [ -f build/build.ninja ]; then scripts/build.sh >/dev/null; else scripts/build.sh 1>&2; fi
mitigctl="$root/build/daemon/mitigctl"

work="$(mktemp -d /tmp/mitigd-demo-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cp -r examples/. "$work/"
rm -rf "$work/var"
cd "$work"

source "$root/scripts/lib/site.sh"
start_site "$work" "$root"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
try() {  # try LABEL METHOD TARGET [COOKIE]
  local label="$1" method="$2" target="$3" cookie="${4:-}" code
  code="$(curl -s -o /dev/null -w '%{http_code}' -X "$method" ${cookie:+-H "Cookie: $cookie"} \
          "http://127.0.0.1:$site_port$target" || true)"
  case "$code" in
    000) verdict="DROPPED (connection closed)" ;;
    200) verdict="reached the application (200)" ;;
    *)   verdict="answered $code" ;;
  esac
  printf '  %-34s %-6s %-60.60s -> %s\n' "$label" "$method" "$target" "$verdict"
}
traffic() {
  try "exploit (ProxyNotShell)"  GET "/autodiscover/autodiscover.json?@evil.com/owa/&Email=autodiscover/autodiscover.json%3F@evil.com&Protocol=Powershell"
  try "exploit, encoded %50owershell" GET "/autodiscover/autodiscover.json?@evil.com/%50owershell"
  try "exploit, mixed case"      GET "/AutoDiscover/AutoDiscover.json?@evil.com/PoWeRsHeLl"
  try "normal: Autodiscover"     POST "/autodiscover/autodiscover.xml"
  try "normal: OWA search"       GET "/owa/?q=powershell"
  try "normal: EWS"              POST "/EWS/Exchange.asmx"
  printf '  %-34s OWA Content-Security-Policy: %s\n' "M2.1 header" \
    "$(curl -s -D - -o /dev/null "http://127.0.0.1:$site_port/owa/" | tr -d '\r' | sed -n 's/^Content-Security-Policy: //Ip')"
}
feed_port="$(free_port)"
# The vendor's feed starts without M2.1; it is published while the daemon runs.
"$mitigctl" feed remove feed/repo M2 >/dev/null && "$mitigctl" feed publish feed/repo --keys-dir feed/keys >/dev/null
python3 -m http.server "$feed_port" --bind 127.0.0.1 --directory "$work/feed/repo" >/dev/null 2>&1 & feed_pid=$!; pids+=($feed_pid)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$feed_port/" && break; sleep 0.05; done  # listening
sed -i "s/127.0.0.1:18081/127.0.0.1:$feed_port/g" mitigd-feed.json
export MITIGD_CONFIG="$work/mitigd-feed.json"

say "The server: mail01 runs Exchange $(cat server/exchange.version), behind nginx on 127.0.0.1:$site_port"
traffic

say "The signed feed (TUF) on http://127.0.0.1:$feed_port/, checked against the trusted root"
"$mitigctl" feed verify "http://127.0.0.1:$feed_port/metadata/" --root feed/root.json

say "mitigctl plan  (the dry-run diff: what will change and why)"
"$mitigctl" plan || true

say "mitigctl explain M1  (the decision chain)"
"$mitigctl" explain M1

say "Start the mitigd daemon (poll every 2 s; inotify on policy, inventory, manifests, version file, rule files)"
metrics_port="$(free_port)"
sed -i "s/\"poll_interval_seconds\": 300/\"poll_interval_seconds\": 2/; s/127.0.0.1:19464/127.0.0.1:$metrics_port/" mitigd-feed.json
"$root/build/daemon/mitigd" --config "$work/mitigd-feed.json" 2>"$work/daemon.log" & daemon=$!; pids+=($daemon)
wait_for() {  # wait_for SECONDS COMMAND...
  local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || { echo "  (timed out)"; return 1; }; sleep 0.05; done
}
exploit_dropped() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$site_port/autodiscover/autodiscover.json?@x/%50owershell")" = 000 ]; }
exploit_passes() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$site_port/autodiscover/autodiscover.json?@x/%50owershell")" = 200 ]; }
owa_csp_plain() { curl -s -D - -o /dev/null "http://127.0.0.1:$site_port/owa/" | tr -d '\r' | grep -qx "Content-Security-Policy: default-src 'self'"; }
converged() { "$mitigctl" plan --detailed-exitcode >/dev/null 2>&1; }
daemon_log() { sed 's/^/  daemon| /' "$work/daemon.log" | tail -n +"$1"; }
wait_for 20 exploit_dropped && wait_for 20 converged
daemon_log 1
log_lines=$(wc -l < "$work/daemon.log")

say "Traffic with the mitigations in force"
traffic

say "The rule nginx runs for M1.1: var/nginx/mitigd/server/mitigd-M1.conf (rules_engine \"module\": mitigd's nginx module, literal prefilter)"
sed 's/^/  /' "$work/var/nginx/mitigd/server/mitigd-M1.conf"

say "The vendor publishes M2.1 (OWA CSP) to the signed feed: mitigctl feed add + publish; the next poll applies it"
"$mitigctl" feed add feed/repo "$work/manifests/M2.json" >/dev/null
published=$(date +%s%N)
"$mitigctl" feed publish feed/repo --keys-dir feed/keys
owa_csp_appended() { curl -s -D - -o /dev/null "http://127.0.0.1:$site_port/owa/" | tr -d '\r' | grep -qx "Content-Security-Policy: default-src 'self'; script-src-attr 'none'"; }
wait_for 20 owa_csp_appended && echo "  enforced $(( ($(date +%s%N) - published) / 1000000 )) ms after the publish (poll interval 2 s)"
wait_for 20 converged
daemon_log $((log_lines + 1)); log_lines=$(wc -l < "$work/daemon.log")
printf '  %-34s OWA Content-Security-Policy: %s\n' "M2.1 header" \
  "$(curl -s -D - -o /dev/null "http://127.0.0.1:$site_port/owa/" | tr -d '\r' | sed -n 's/^Content-Security-Policy: //Ip')"

say "Policy: block M2 for this server (mitigctl block edits policy/servers/mail01.json for review and commit)"
"$mitigctl" block M2 --reason "breaks OWA calendar printing" --by alice --until 2027-01-31
wait_for 20 owa_csp_plain && wait_for 20 converged
daemon_log $((log_lines + 1)); log_lines=$(wc -l < "$work/daemon.log")
traffic

say "The feed goes down: the last verified mitigations stay in force, and it shows"
kill "$feed_pid"
feed_update_ok() { curl -s "127.0.0.1:$metrics_port/metrics" | grep -qx "mitigd_feed_update_ok $1"; }
wait_for 20 feed_update_ok 0
daemon_log $((log_lines + 1)); log_lines=$(wc -l < "$work/daemon.log")
"$mitigctl" status | sed -n '/^Feed/,/FAILED/p'
try "exploit, encoded (feed down)" GET "/autodiscover/autodiscover.json?@evil.com/%50owershell"

say "The feed is back: the next poll verifies it again"
python3 -m http.server "$feed_port" --bind 127.0.0.1 --directory "$work/feed/repo" >/dev/null 2>&1 & pids+=($!)
wait_for 20 feed_update_ok 1
daemon_log $((log_lines + 1)); log_lines=$(wc -l < "$work/daemon.log")

say "The security update is installed: Exchange 15.2.1118.20 (>= M1's fixed_in); nobody runs anything"
echo "15.2.1118.20" > server/exchange.version
wait_for 20 exploit_passes && wait_for 20 converged
daemon_log $((log_lines + 1))
traffic

say "mitigctl status"
"$mitigctl" status

say "mitigctl audit  (hash-chained; every decision and change)"
"$mitigctl" audit
"$mitigctl" audit verify

say "Metrics (loopback only)"
curl -s "127.0.0.1:$metrics_port/metrics" | grep -E '^mitigd_(mitigations|reconciles_total|inputs_valid|feed_)' | sed 's/^/  /'

kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true
say "Done: mitigd stopped on SIGTERM; nginx and the app stop now, and $work is removed."
