#!/usr/bin/env bash
# Request bodies and detect mode against a real nginx with the module (issue 15).
# BODY1 (tests/integration/body/manifests): form fields (urlencoded, chunked, Expect: 100-continue),
# multipart file names with either line ending and quoted boundaries, field names, the raw body from
# nginx's temporary file, each cap with oversize pass and block. The offline tester (the rule core)
# and live nginx give the documented verdicts and agree on 133 generated variants; the upstream
# still receives the body. The plain-directive engine refuses body rules by name. DET1 runs in
# detect mode: matching requests pass, are counted per rule and read back through `mitigctl status`
# and the daemon's metrics (mitigd_rule_matches_total); one policy line promotes it to enforce.
set -uo pipefail
MITIGD="$1"; MITIGCTL="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir body --examples
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
wait_until() { local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt $deadline ]; do "$@" && return 0; sleep 0.05; done; "$@"; }
start_site "$work" "$root" || exit 1
metrics_port="$(free_port)"
sed -i "s/127.0.0.1:19464/127.0.0.1:$metrics_port/" "$work/mitigd.json"
export MITIGD_CONFIG="$work/mitigd.json"
rm -f "$work"/manifests/*.json
cp "$root"/tests/integration/body/manifests/{BODY1,DET1}.json "$work/manifests/"
m="$work/manifests/BODY1.json"; inv="$work/server/inventory.json"; url="http://127.0.0.1:$site_port"
python3 "$root/tests/integration/body/body_requests.py" "$work/reqs.json" "$work/variants.json"

"$MITIGCTL" rules test "$m" --requests "$work/reqs.json" > "$work/offline.txt" 2>&1; rc=$?
check "offline (the rule core): every body verdict as documented" bash -c "[ $rc = 0 ] || { grep FAIL '$work/offline.txt'; false; }"
"$MITIGCTL" apply > "$work/apply.txt" 2>&1; rc=$?
check "apply with the module engine puts BODY1 and DET1 in force" bash -c "[ $rc = 0 ] || { cat '$work/apply.txt'; false; }"
"$MITIGCTL" rules test "$m" --requests "$work/reqs.json" --live "$url" > "$work/live.txt" 2>&1; rc=$?
check "live (nginx with the module): every body verdict as documented" bash -c "[ $rc = 0 ] || { grep FAIL '$work/live.txt'; false; }"
"$MITIGCTL" rules test "$m" --requests "$work/variants.json" -o json > "$work/v-offline.json"
"$MITIGCTL" rules test "$m" --requests "$work/variants.json" --live "$url" -o json > "$work/v-live.json"
check "generated body variants: offline (the rule core) equals live nginx on each" python3 - "$work/v-offline.json" "$work/v-live.json" <<'PY'
import json, sys
off, live = (json.load(open(p))["results"] for p in sys.argv[1:3])
bad = [(o["method"], o["target"], o["verdict"], l["verdict"], l["detail"]) for o, l in zip(off, live) if o["verdict"] != l["verdict"]]
for b in bad[:20]: print("     MISMATCH", *b)
blocked = sum(o["verdict"] == "blocked" for o in off)
print(f"     {len(off)} variants compared ({blocked} blocked, {len(off) - blocked} passed), {len(bad)} mismatches")
sys.exit(1 if bad or len(off) < 120 or blocked < 20 else 0)
PY
body="$(curl -s -H 'Content-Type: application/x-www-form-urlencoded' --data 'a=1&cmd=ls' "$url/echo-body" -w ' %{http_code}')"
check "a benign body still reaches the upstream whole" bash -c "[[ '$body' == *'a=1&cmd=ls'*' 200' ]] || { echo '     got: $body'; false; }"

# Detect mode: DET1's rules let matching requests through and count them.
for i in 1 2 3; do curl -s -o /dev/null -H 'Content-Type: application/x-www-form-urlencoded' --data "file=..%2F..%2Fetc%2Fpasswd&n=$i" "$url/owa/x"; done
curl -s -o /dev/null "$url/owa/x?file=../../x"
curl -s -o /dev/null -H 'Content-Type: application/x-www-form-urlencoded' --data 'file=report.pdf' "$url/owa/x"
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' --data 'file=../x' "$url/owa/x")"
check "detect mode lets a matching request through" [ "$code" = 200 ]
"$MITIGCTL" status -o json > "$work/status.json"
check "status shows DET1's hits per mode (4 body, 1 query detected; nothing blocked)" python3 - "$work/status.json" <<'PY'
import json, sys
m = [x for x in json.load(open(sys.argv[1]))["mitigations"] if x["id"] == "DET1"][0]
assert m["rule_mode"] == "detect" and m["rule_matches"] == {"enforce": 0, "detect": 5}, m
PY
check "status -o json with rule matches still matches docs/schema/status.schema.json" \
  /usr/bin/python3 "$root/tests/support/validate_json.py" "$root/docs/schema" status.schema.json "$work/status.json"
check "status (text) says detect mode and the hits" bash -c "'$MITIGCTL' status | grep -q 'rules in detect mode: 0 request(s) blocked, 5 detected'"
check "the access log names the detecting rule (\$mitigd_detected_by)" grep -q 'POST /owa/x 200 blocked_by=- detected_by=DET1#0' "$work/var/nginx/logs/access.log"
check "and the blocking one (\$mitigd_blocked_by)" grep -q 'POST /owa/x 403 blocked_by=BODY1#0 ' "$work/var/nginx/logs/access.log"
"$MITIGD" --config "$work/mitigd.json" 2>"$work/daemon.log" & daemon=$!; pids+=($daemon)
metrics() { curl -s "127.0.0.1:$metrics_port/metrics"; }
check "metrics: mitigd_rule_matches_total per mitigation, action and mode" wait_until 10 bash -c \
  "curl -s 127.0.0.1:$metrics_port/metrics | grep -qx 'mitigd_rule_matches_total{mitigation=\"DET1\",action=\"traversal in the file field\",mode=\"detect\"} 4'"
check "metrics: the query rule counted apart, and BODY1's blocks as enforce" bash -c \
  "metrics() { curl -s 127.0.0.1:$metrics_port/metrics; }; metrics | grep -qx 'mitigd_rule_matches_total{mitigation=\"DET1\",action=\"traversal in the file argument\",mode=\"detect\"} 1' && metrics | grep -q 'mitigd_rule_matches_total{mitigation=\"BODY1\",action=\"shell command in the cmd form field\",mode=\"enforce\"} [1-9]'"
kill "$daemon"; wait "$daemon" 2>/dev/null

# Promotion: one policy line.
python3 - "$work/policy/org.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["rule_modes"] = {"DET1": "enforce"}
json.dump(p, open(sys.argv[1], "w"), indent=2)
PY
check "the dry-run plan names the promotion" bash -c "'$MITIGCTL' plan | grep -q \"the rules' mode changed (detect -> enforce)\""
"$MITIGCTL" apply > "$work/apply-promote.txt" 2>&1; rc=$?
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' --data 'file=../x' "$url/owa/x")"
check "rule_modes {DET1: enforce} in the policy promotes it: the same request is refused" bash -c "[ $rc = 0 ] && [ '$code' = 403 ] || cat '$work/apply-promote.txt'"
check "benign traffic still passes after promotion" [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' --data 'file=report.pdf' "$url/owa/x")" = 200 ]

# The plain-directive engine cannot read bodies: refused by name, reported not in force.
python3 - "$inv" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1])); inv["web_server"]["rules_engine"] = "config"
json.dump(inv, open(sys.argv[1], "w"), indent=2)
PY
out="$("$MITIGCTL" rules render "$m" --inventory "$inv" 2>&1)"; rc=$?
check "rules render with the config engine refuses, naming the body input" \
  bash -c "[ $rc != 0 ] && grep -q 'reads the request body, which only the nginx module engine inspects' <<<\"\$1\"" _ "$out"
echo "$failures failures"
exit $(( failures > 0 ))
