#!/usr/bin/env bash
# The demo: an Exchange-like site behind a private nginx on loopback, the example manifests and
# policy, and mitigd converging it: plan, apply, exploits dropped while normal traffic passes,
# a policy block reverting M2, and the security update reverting M1 by itself, with the audit.
# Ends by itself and cleans up. Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
scripts/build.sh >/dev/null
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
export MITIGD_CONFIG="$work/mitigd.json"

say "The server: mail01 runs Exchange $(cat server/exchange.version), behind nginx on 127.0.0.1:$site_port"
traffic

say "mitigctl plan  (the dry-run diff: what will change and why)"
"$mitigctl" plan || true

say "mitigctl explain M1  (the decision chain)"
"$mitigctl" explain M1

say "mitigctl apply  (validate -> reload -> probe, per mitigation; the mitigd daemon is not built yet)"
"$mitigctl" apply

say "Traffic after apply"
traffic

say "Policy: block M2 in the server's policy file (as an operator would commit it), then converge"
python3 - policy/servers/mail01.json <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p))
d["blocked"] = [{"id": "M2", "reason": "breaks OWA calendar printing", "by": "alice", "until": "2027-01-31"}]
json.dump(d, open(p, "w"), indent=2); open(p, "a").write("\n")
PY
"$mitigctl" plan --detailed-exitcode | tail -n 12 || true
"$mitigctl" apply
traffic

say "The security update is installed: Exchange 15.2.1118.20 (>= M1's fixed_in)"
echo "15.2.1118.20" > server/exchange.version
"$mitigctl" apply
traffic

say "mitigctl status"
"$mitigctl" status

say "mitigctl audit  (hash-chained; every decision and change)"
"$mitigctl" audit
"$mitigctl" audit verify

say "Done: nginx and the app stop now, the work dir $work is removed."
