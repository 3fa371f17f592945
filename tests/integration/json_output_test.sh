#!/usr/bin/env bash
# The machine-readable output of mitigctl matches the schemas documented in docs/json.md
# (docs/schema/*.schema.json): status, report, audit and the run report of apply, retry and
# revert-all, in a converged state and with a mitigation waiting on a broken server config (the
# optional fields cause and next_attempt). Validated by Debian's python3-jsonschema.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
new_workdir json --examples
start_site "$work" "$root" || exit 1
export MITIGD_CONFIG="$work/mitigd.json"
failures=0
valid() {  # valid SCHEMA NAME COMMAND...: the command's -o json output matches the schema
  local schema="$1" name="$2"; shift 2
  "$@" -o json > "$work/$name.json" 2> "$work/$name.err"
  if /usr/bin/python3 "$root/tests/support/validate_json.py" "$root/docs/schema" "$schema" "$work/$name.json" > "$work/$name.why"; then
    echo "ok   $name matches $schema"
  else
    echo "FAIL $name does not match $schema"; sed 's/^/     | /' "$work/$name.why" "$work/$name.err"; failures=$((failures+1))
  fi
}
valid run.schema.json "apply" "$MITIGCTL" apply --offline
valid status.schema.json "status (converged)" "$MITIGCTL" status
valid report.schema.json "report" "$MITIGCTL" report
valid audit.schema.json "audit" "$MITIGCTL" audit
valid audit.schema.json "audit --since 1h --event applied" "$MITIGCTL" audit --since 1h --event applied

# The server's own config broken: a new mitigation waits, with a cause and a next attempt.
conf="$work/var/nginx/conf/nginx.conf"
cp "$conf" "$work/nginx.conf.good"
sed -i 's/^worker_processes 1;/worker_processes 1;\nthis_is_not_a_directive on;/' "$conf"
python3 - "$work/manifests/M1.json" "$work/manifests/M9.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["id"] = "M9"; m["title"] = "a copy of M1 that arrives while nginx is broken"
json.dump(m, open(sys.argv[2], "w"), indent=2)
PY
valid run.schema.json "apply (waiting)" "$MITIGCTL" apply --offline
valid status.schema.json "status (waiting)" "$MITIGCTL" status
grep -q '"cause": *"environment"' "$work/status (waiting).json" && grep -q '"next_attempt"' "$work/status (waiting).json" \
  && echo "ok   the waiting mitigation has its cause and next attempt" \
  || { echo "FAIL no waiting mitigation with cause and next_attempt in status"; failures=$((failures+1)); }
cp "$work/nginx.conf.good" "$conf"
valid run.schema.json "retry" "$MITIGCTL" retry
valid run.schema.json "revert-all" "$MITIGCTL" revert-all
valid report.schema.json "report (after revert-all)" "$MITIGCTL" report
[ "$failures" -eq 0 ] && echo "all JSON output matches docs/schema" || { echo "$failures failure(s)"; exit 1; }
