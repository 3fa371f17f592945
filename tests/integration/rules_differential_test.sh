#!/usr/bin/env bash
# Offline verdicts (PCRE2 and nginx's decoder, as `mitigctl rules test` computes them) must be
# the verdicts of the real nginx for every tricky variant: encodings, case, path tricks, cookies.
# Request by request, for M1, PL1, ECP1 and T1 (a scoped two-condition rule, a negated condition)
# in force together, with each rules engine: plain
# directives ("config"), then mitigd's nginx module ("module", literal prefilter), switched in the
# inventory of the running site, which mitigd must re-render by itself. Prints the count compared.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir diff --examples
rm -f "$work/manifests/M2.json" "$work/manifests/IMAP1.json"
cp "$root/tests/integration/rules_differential_T1.json" "$work/manifests/T1.json"   # scope, AND, negation
start_site "$work" "$root" || exit 1
export MITIGD_CONFIG="$work/mitigd.json"
echo "15.2.397.3" > "$work/server/exchange.version"   # old enough for M1, PL1 and ECP1 to apply
python3 "$root/tests/integration/rules_differential.py" "$work/requests.json"

compare() {
  local engine="$1"
  python3 - "$work/server/inventory.json" "$engine" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1])); inv["web_server"]["rules_engine"] = sys.argv[2]
json.dump(inv, open(sys.argv[1], "w"), indent=2)
PY
  "$MITIGCTL" apply >/dev/null || { echo "[$engine] apply failed"; return 1; }
  [ "$("$MITIGCTL" status -o json | python3 -c 'import json,sys; print(sorted(m["id"] for m in json.load(sys.stdin)["mitigations"] if m["status"]=="applied"))')" = "['ECP1', 'M1', 'PL1', 'T1']" ] \
    || { echo "[$engine] M1, PL1, ECP1 and T1 are not all applied"; return 1; }
  if [ "$engine" = module ]; then
    grep -q '^mitigd_rule "M1#0"' "$work/var/nginx/mitigd/server/mitigd-M1.conf" || { echo "[module] M1 was not re-rendered"; return 1; }
  else
    grep -q '^if (\$mitigd_request_uri_decoded' "$work/var/nginx/mitigd/server/mitigd-M1.conf" || { echo "[config] M1 was not re-rendered"; return 1; }
  fi
  for m in M1 PL1 ECP1 T1; do
    "$MITIGCTL" rules test "$work/manifests/$m.json" --requests "$work/requests.json" --inventory "$work/server/inventory.json" -o json > "$work/$m.offline.json" || true
  done
  # Live: all four are in force at once, so a request is blocked live when any of them blocks it.
  "$MITIGCTL" rules test "$work/manifests/M1.json" --requests "$work/requests.json" --inventory "$work/server/inventory.json" \
    --live "http://127.0.0.1:$site_port" -o json > "$work/live.json" || true
  python3 - "$work" "$engine" <<'PY'
import json, sys
w, engine = sys.argv[1], sys.argv[2]
offline = [json.load(open(f"{w}/{m}.offline.json"))["results"] for m in ("M1", "PL1", "ECP1", "T1")]
live = json.load(open(f"{w}/live.json"))["results"]
bad = []
for i, r in enumerate(live):
    off = any(o[i]["verdict"] == "blocked" for o in offline)
    # Live, any of them may answer: its drop (444) or its status (403, 503) is a block.
    blocked_live = r["detail"] in ("connection dropped", "status 403", "status 444", "status 503")
    if r["verdict"] == "error" or off != blocked_live:
        bad.append((r["method"], r["target"], "offline " + ("blocked" if off else "passed"), "live " + r["verdict"], r["detail"]))
for b in bad:
    print(f"[{engine}] MISMATCH", *b)
blocked = sum(1 for i in range(len(live)) if any(o[i]["verdict"] == "blocked" for o in offline))
print(f"[{engine}] {len(live)} requests compared offline vs live nginx ({blocked} blocked, {len(live) - blocked} passed), {len(bad)} mismatches")
sys.exit(1 if bad else 0)
PY
}
failures=0
compare config || failures=1
compare module || failures=1
exit $failures
