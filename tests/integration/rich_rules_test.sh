#!/usr/bin/env bash
# The richer rule model against a real nginx (issue 15). LIT1: the literal and length operators on
# the inputs every engine evaluates, live on the module and on the plain directives. RICH1: every new
# input, transform and operator (tests/integration/rich/manifests/RICH1.json), with exploits and benign
# look-alikes (rich/requests.json: a repeated User-Agent hiding JNDI in its second occurrence, an
# encoded argument name, base64 in an argument, the raw path, a length limit in a scope). The
# offline verdicts (the rule core) and the live ones (nginx with the module) are as documented and
# equal request by request; the plain-directive engine and Apache refuse the manifest, naming what
# they cannot evaluate, and the mitigation shows as not in force.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir rich --examples
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
start_site "$work" "$root" || exit 1
export MITIGD_CONFIG="$work/mitigd.json"
rm -f "$work"/manifests/*.json
cp "$root"/tests/integration/rich/manifests/{RICH1,LIT1}.json "$work/manifests/"
lit="$work/manifests/LIT1.json"; lit_reqs="$root/tests/integration/rich/literal-requests.json"
reqs="$root/tests/integration/rich/requests.json"; m="$work/manifests/RICH1.json"; inv="$work/server/inventory.json"
url="http://127.0.0.1:$site_port"

"$MITIGCTL" rules test "$m" --requests "$reqs" -o json > "$work/offline.json"; rc=$?
check "offline (the rule core): every verdict as documented" [ "$rc" = 0 ]
"$MITIGCTL" apply > "$work/apply.txt" 2>&1; rc=$?
check "apply with the module engine puts it in force" bash -c "[ $rc = 0 ] || { cat '$work/apply.txt'; false; }"
"$MITIGCTL" rules test "$m" --requests "$reqs" --live "$url" -o json > "$work/live.json"; rc=$?
check "live (nginx with the module): every verdict as documented" bash -c "[ $rc = 0 ] || { python3 -c 'import json,sys; [print(\"   \", r) for r in json.load(open(sys.argv[1]))[\"results\"] if not r[\"ok\"]]' '$work/live.json'; false; }"
"$MITIGCTL" rules test "$lit" --requests "$lit_reqs" --live "$url" > "$work/lit-module.txt" 2>&1; rc=$?
check "literal and length operators, live on the module" bash -c "[ $rc = 0 ] || { grep FAIL '$work/lit-module.txt'; false; }"
check "offline and live agree request by request" python3 - "$work/offline.json" "$work/live.json" <<'PY'
import json, sys
off, live = (json.load(open(p)) for p in sys.argv[1:3])
assert [r["verdict"] for r in off["results"]] == [r["verdict"] for r in live["results"]]
assert len(off["results"]) == 18
PY
# Generated variants (encodings, repeats, separators, base64 forms, header name case, raw paths):
# offline and live must agree request by request, whatever the verdict.
python3 "$root/tests/integration/rich/variants.py" "$work/variants.json"
"$MITIGCTL" rules test "$m" --requests "$work/variants.json" -o json > "$work/v-offline.json"
"$MITIGCTL" rules test "$m" --requests "$work/variants.json" --live "$url" -o json > "$work/v-live.json"
check "generated variants: offline (the rule core) equals live nginx on each" python3 - "$work/v-offline.json" "$work/v-live.json" <<'PY'
import json, sys
off, live = (json.load(open(p))["results"] for p in sys.argv[1:3])
bad = [(o["method"], o["target"], o["verdict"], l["verdict"], l["detail"]) for o, l in zip(off, live) if o["verdict"] != l["verdict"]]
for b in bad: print("     MISMATCH", *b)
blocked = sum(o["verdict"] == "blocked" for o in off)
print(f"     {len(off)} variants compared ({blocked} blocked, {len(off) - blocked} passed), {len(bad)} mismatches")
sys.exit(1 if bad or len(off) < 80 else 0)
PY
check "rules test names the rule with no literal gate (runs on every request), and a scope is a gate" python3 - "$work/offline.json" <<'PY'
import json, sys
rules = {r["action"]: r["gated_by_literal"] for r in json.load(open(sys.argv[1]))["rules"]}
assert rules["oversized Authorization anywhere"] is False and rules["JNDI in any User-Agent"] is True, rules
assert rules["oversized API key on /ecp/"] is True, rules  # gated by its scope's prefix
PY

out="$("$MITIGCTL" rules test "$m" --requests "$reqs" --cost 2>&1)"
check "rules test --cost measures each rule through the core" bash -c "[ \$(grep -c '^measured \"' <<<\"\$1\") = 9 ]" _ "$out"

# The plain-directive engine cannot evaluate these inputs: refused by name, reported not in force.
python3 - "$inv" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1])); inv["web_server"]["rules_engine"] = "config"
json.dump(inv, open(sys.argv[1], "w"), indent=2)
PY
out="$("$MITIGCTL" rules render "$m" --inventory "$inv" 2>&1)"; rc=$?
check "rules render with the config engine refuses, naming the input" \
  bash -c "[ $rc != 0 ] && grep -q 'cannot enforce on this server (nginx, rules_engine \"config\"): the transform \"lowercase\" needs the nginx module engine' <<<\"\$1\"" _ "$out"
"$MITIGCTL" apply > "$work/apply-config.txt" 2>&1; rc=$?
check "apply on the config engine exits 1 and says the mitigation is not in force" \
  bash -c "[ $rc = 1 ] && grep -q 'cannot enforce on this server' '$work/apply-config.txt' || { cat '$work/apply-config.txt'; false; }"
check "the module's rule file is gone (nginx validates without the module)" bash -c "! ls '$work'/var/nginx/mitigd/server/*RICH1* 2>/dev/null"
"$MITIGCTL" rules test "$lit" --requests "$lit_reqs" --live "$url" > "$work/lit-config.txt" 2>&1; rc=$?
check "literal and length operators, live on the plain directives (their exact regexes)" bash -c "[ $rc = 0 ] || { grep FAIL '$work/lit-config.txt'; false; }"
"$MITIGCTL" status -o json > "$work/status.json"
check "status: RICH1 not in force, with the reason" python3 - "$work/status.json" <<'PY'
import json, sys
m = [x for x in json.load(open(sys.argv[1]))["mitigations"] if x["id"] == "RICH1"][0]
assert m["not_in_force"] and "cannot enforce on this server" in m["reason"], m
PY
out="$("$MITIGCTL" rules test "$m" --requests "$reqs" --server apache 2>&1)"; rc=$?
check "rules test --server apache: cannot enforce, exit 1" bash -c "[ $rc = 1 ] && grep -q 'got cannot enforce' <<<\"\$1\"" _ "$out"
echo "$failures failures"
exit $(( failures > 0 ))
