#!/usr/bin/env bash
# `mitigctl rules test`, the gate a publisher runs: the documented request list of M1
# (examples/requests/M1.json: exploits, encoded and mixed-case variants, and benign look-alikes)
# gives the same verdicts offline (PCRE2, nginx's decoder) and live against a real nginx with M1
# applied; a wrong expectation is a mismatch and exit 1, offline and live alike.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir rulescli --examples
failures=0
quiet() { "$@" >/dev/null; }
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
start_site "$work" "$root" || exit 1
export MITIGD_CONFIG="$work/mitigd.json"
m1="$work/manifests/M1.json"; reqs="$work/requests/M1.json"; inv="$work/server/inventory.json"
url="http://127.0.0.1:$site_port"

check "offline: every verdict as documented" quiet "$MITIGCTL" rules test "$m1" --requests "$reqs" --inventory "$inv"
"$MITIGCTL" apply >/dev/null 2>&1
check "live against nginx with M1 applied: every verdict as documented" \
  quiet "$MITIGCTL" rules test "$m1" --requests "$reqs" --inventory "$inv" --live "$url"
"$MITIGCTL" rules test "$m1" --requests "$reqs" --inventory "$inv" --live "$url" -o json > "$work/live.json"
"$MITIGCTL" rules test "$m1" --requests "$reqs" --inventory "$inv" -o json > "$work/offline.json"
check "offline and live verdicts agree request by request" python3 - "$work/offline.json" "$work/live.json" <<'PY'
import json, sys
off, live = (json.load(open(p)) for p in sys.argv[1:3])
assert [r["verdict"] for r in off["results"]] == [r["verdict"] for r in live["results"]], (off, live)
assert live["mismatches"] == 0 and len(live["results"]) == 11
PY
# A wrong expectation: exit 1 and the summary counts it, offline and live.
python3 - "$reqs" "$work/wrong.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["requests"][6]["expect"] = "blocked"; json.dump(d, open(sys.argv[2], "w"))
PY
out="$("$MITIGCTL" rules test "$m1" --requests "$work/wrong.json" --inventory "$inv" 2>&1)"; rc=$?
check "offline: a mismatch exits 1" [ $rc -eq 1 ]
check "offline: and is named" grep -q "FAIL GET /owa/?q=powershell  expected blocked, got passed" <<<"$out"
out="$("$MITIGCTL" rules test "$m1" --requests "$work/wrong.json" --inventory "$inv" --live "$url" 2>&1)"; rc=$?
check "live: a mismatch exits 1" [ $rc -eq 1 ]
check "live: the summary counts it" grep -q "11 requests, 10 as expected, 1 mismatches (live: $url)" <<<"$out"
echo "$failures failures"
exit $(( failures > 0 ))
