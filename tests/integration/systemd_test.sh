#!/usr/bin/env bash
# Services and app pools against a real systemd (Debian 12, booted with systemd-nspawn by this
# test, driven by mitigd over D-Bus through the container's bus socket), in front of a real nginx:
#  - a running+enabled unit is masked and stopped, and restored exactly (running, enabled);
#  - a stopped+disabled unit (masked persistently) is restored exactly (stopped, disabled);
#  - a unit that does not exist: a clear error, and nothing changed;
#  - drift: a manual `systemctl unmask` + `start` shows as a repair with that reason, and apply
#    repairs it;
#  - an app pool: its unit is stopped and its vdir answers 503 through nginx while other paths
#    answer 200; the revert starts it again and the vdir serves again.
set -uo pipefail
MITIGCTL="$1"; MITIGD="${2:-}"; DRIVER_TOOL="${3:-}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/nspawn.sh"
source "$root/scripts/lib/site.sh"
# Only a machine that cannot host a container at all skips (exit 77, shown as skipped by ctest);
# any failure once systemd runs is a test failure.
ensure_rootfs || { echo "SKIP: no Debian root for systemd-nspawn could be made here"; exit 77; }
work="$(mktemp -d /tmp/mitigd-systemd-XXXXXX)"
pids=()
cleanup() { stop_systemd; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }

mkdir -p "$work/units" "$work/bus"
for u in svc-running svc-stopped pool-ecp; do
  printf '[Unit]\nDescription=mitigd test unit %s\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' "$u" \
    > "$work/units/$u.service"
done
# Units for the driver's error paths: one whose start fails, one whose start hangs.
printf '[Service]\nType=oneshot\nExecStart=/bin/false\n' > "$work/units/svc-fails.service"
printf '[Service]\nType=oneshot\nExecStart=/bin/sleep 30\n' > "$work/units/svc-hangs.service"
start=$(date +%s%N)
boot_systemd mitigd-test-$$ "$work/units" "$work/bus" || { echo "SKIP: systemd-nspawn cannot boot a container here"; exit 77; }
echo "     (systemd booted in $(( ($(date +%s%N) - start) / 1000000 )) ms)"
in_container systemctl enable --now svc-running.service pool-ecp.service 2>/dev/null
in_container systemctl disable svc-stopped.service 2>/dev/null

cp -r "$root/examples/." "$work/"
rm -rf "$work/var" "$work/manifests"/*
start_site "$work" "$root" || exit 1
python3 - "$work/server/inventory.json" "$work/bus/system_bus_socket" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
inv["services"] = {"IMAP4": {"unit": "svc-running.service"}, "POP3": {"unit": "svc-stopped.service"},
                   "Ghost": {"unit": "ghost.service"}}
inv["app_pools"] = {"ECPPool": {"unit": "pool-ecp.service"}}
inv["vdirs"]["ecp"]["app_pool"] = "ECPPool"
inv["systemd"] = {"bus": "unix:path=" + sys.argv[2]}
json.dump(inv, open(sys.argv[1], "w"), indent=2)
PY
manifest() {  # manifest ID ACTION_JSON [PROBES_JSON]
  cat > "$work/manifests/$1.json" <<JSON
{ "schema": 1, "id": "$1", "revision": 1, "title": "test $1", "description": "systemd test", "cves": [],
  "severity": "high", "applies_to": { "product": "exchange", "scheme": "dotted", "min": "15.0.0.0", "fixed_in": "15.2.1118.20" },
  "actions": [ $2 ], "probes": [ ${3:-} ] }
JSON
}
manifest S1 '{ "kind": "disable_service", "name": "IMAP4", "service": "IMAP4", "mask": "runtime" }'
manifest S2 '{ "kind": "disable_service", "name": "POP3", "service": "POP3", "mask": "persistent" }'
manifest P1 '{ "kind": "disable_app_pool", "name": "ECP pool", "app_pool": "ECPPool", "status": 503 }' \
  '{ "request": { "method": "GET", "target": "/ecp/default.aspx" }, "expect": "blocked" }, { "request": { "method": "GET", "target": "/owa/" }, "expect": "passed" }'
export MITIGD_CONFIG="$work/mitigd.json"
url="http://127.0.0.1:$site_port"
code() { curl -s -o /dev/null -w '%{http_code}' "$url$1"; }
unit_is() { [ "$(in_container systemctl is-active "$1" 2>/dev/null)" = "$2" ] && [ "$(in_container systemctl is-enabled "$1" 2>/dev/null)" = "$3" ]; }

check "before: svc-running is active and enabled" unit_is svc-running.service active enabled
check "before: /ecp/ reaches the application" [ "$(code /ecp/default.aspx)" = 200 ]
"$MITIGCTL" apply > "$work/apply1.txt" 2>&1
cat "$work/apply1.txt" | sed 's/^/     | /'
check "running+enabled unit: masked (runtime) and stopped" unit_is svc-running.service inactive masked-runtime
check "stopped+disabled unit: masked persistently, still stopped" unit_is svc-stopped.service inactive masked
check "app pool: unit masked and stopped" unit_is pool-ecp.service inactive masked-runtime
check "app pool: its vdir answers 503 through nginx" [ "$(code /ecp/default.aspx)" = 503 ]
check "app pool: other paths still answer 200" [ "$(code /owa/)" = 200 ]

# A unit that does not exist: clear error, nothing changed, nothing in the ledger.
manifest S3 '{ "kind": "disable_service", "name": "Ghost", "service": "Ghost" }'
out="$("$MITIGCTL" apply 2>&1)"; rc=$?
echo "$out" | sed 's/^/     | /'
check "missing unit: apply fails" [ $rc -ne 0 ]
check "missing unit: the error names it" grep -q "S3 failed and was undone: unit ghost.service does not exist on this host" <<<"$out"
check "missing unit: nothing in the ledger for it" bash -c "! '$MITIGCTL' status -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(m[\"id\"]==\"S3\" and m[\"status\"]==\"applied\" for m in d[\"mitigations\"]) else 1)'"
check "missing unit: the other units were not touched" unit_is svc-running.service inactive masked-runtime
rm "$work/manifests/S3.json"

# Drift: someone unmasks and starts the service by hand.
in_container systemctl unmask --runtime svc-running.service 2>/dev/null
in_container systemctl start svc-running.service
"$MITIGCTL" plan -o json > "$work/plan.json"
check "drift: the plan repairs S1 and says why" python3 -c "
import json,sys
p = json.load(open('$work/plan.json'))
steps = [s for s in p['steps'] if s['mitigation'] == 'S1']
assert steps and steps[0]['op'] == 'repair', steps
assert 'unmasked' in steps[0]['reason'] and 'active' in steps[0]['reason'], steps[0]['reason']
"
"$MITIGCTL" apply >/dev/null 2>&1
check "drift: apply repaired it (masked, stopped)" unit_is svc-running.service inactive masked-runtime
check "drift: the audit records the repair" bash -c "'$MITIGCTL' audit --mitigation S1 --event drift_repaired | grep -q unmasked"

# The security update: everything is restored exactly.
echo "15.2.1118.20" > "$work/server/exchange.version"
"$MITIGCTL" apply > "$work/apply2.txt" 2>&1
sed 's/^/     | /' "$work/apply2.txt"
check "revert: the running+enabled unit runs again, enabled" unit_is svc-running.service active enabled
check "revert: the stopped+disabled unit stays stopped and disabled" unit_is svc-stopped.service inactive disabled
check "revert: the app pool runs again" unit_is pool-ecp.service active enabled
check "revert: the vdir serves again" [ "$(code /ecp/default.aspx)" = 200 ]
check "revert: the ledger is empty" bash -c "[ \"\$('$MITIGCTL' status -o json | python3 -c 'import json,sys; print(sum(m[\"status\"]==\"applied\" for m in json.load(sys.stdin)[\"mitigations\"]))')\" = 0 ]"
check "the audit log verifies" "$MITIGCTL" audit verify

# The driver's errors: clear, and nothing changed.
if [ -n "$DRIVER_TOOL" ]; then
  bus="unix:path=$work/bus/system_bus_socket"
  out="$("$DRIVER_TOOL" "$bus" start svc-fails.service)"
  check "a job that fails: named, with systemd's result" grep -qx "unavailable: start svc-fails.service: the job ended with result \"failed\"" <<<"$out"
  out="$("$DRIVER_TOOL" "$bus" start svc-hangs.service 500)"
  check "a job that hangs: a timeout error" grep -qx "timeout: start svc-hangs.service: the job did not finish within 500 ms" <<<"$out"
  in_container systemctl stop svc-hangs.service 2>/dev/null
  chmod 755 "$work"   # nobody must reach the bus socket: the refusal has to come from systemd
  out="$(setpriv --reuid=65534 --regid=65534 --clear-groups "$DRIVER_TOOL" "$bus" stop svc-running.service)"
  check "access denied (not root): a clear error" grep -q "^permission_denied: stop svc-running.service: access denied" <<<"$out" || echo "     got: $out"
  check "  ... and the unit is untouched" unit_is svc-running.service active enabled
  out="$("$DRIVER_TOOL" "$bus" state nope.service)"
  check "a unit that does not exist: not_found" grep -qx "not_found: unit nope.service does not exist on this host" <<<"$out"
  out="$("$DRIVER_TOOL" "$bus" state 'bad;name')"
  check "a unit name that is not one: refused before any bus call" grep -q "^invalid_input: " <<<"$out"
fi

# The daemon: it reacts to unit changes through D-Bus signals (drift and poll timers are 10 min
# here), and reverts by itself when the security update is installed.
if [ -n "$MITIGD" ]; then
  echo "15.2.1118.7" > "$work/server/exchange.version"
  sed -i 's/"poll_interval_seconds": 300/"poll_interval_seconds": 600/; s/"drift_interval_seconds": 60/"drift_interval_seconds": 600/; s/"metrics_listen": "[^"]*"/"metrics_listen": ""/' "$work/mitigd.json"
  "$MITIGD" --config "$work/mitigd.json" 2>"$work/daemon.log" & daemon=$!; pids+=($daemon)
  wait_until() { local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
    while [ "$(date +%s%N)" -lt $deadline ]; do "$@" && return 0; sleep 0.05; done; "$@"; }
  check "daemon: converges at startup" wait_until 10 unit_is svc-running.service inactive masked-runtime
  in_container systemctl unmask --runtime svc-running.service 2>/dev/null
  in_container systemctl start svc-running.service
  start=$(date +%s%N)
  check "daemon: a unit started by hand is repaired at once (D-Bus signal, not the 10 min drift timer)" \
    wait_until 5 unit_is svc-running.service inactive masked-runtime
  echo "     (repaired $(( ($(date +%s%N) - start) / 1000000 )) ms after the manual start)"
  check "daemon: the log shows the unit trigger" grep -q "TRIGGER=unit" "$work/daemon.log"
  echo "15.2.1118.20" > "$work/server/exchange.version"
  check "daemon: the security update restores the prior unit states" \
    wait_until 10 bash -c "[ \"\$(nsenter -t $leader -a systemctl is-active svc-running.service)\" = active ] && [ \"\$(nsenter -t $leader -a systemctl is-enabled svc-stopped.service)\" = disabled ]"
  kill -TERM $daemon
  check "daemon: stops on SIGTERM" wait_until 5 bash -c "! kill -0 $daemon 2>/dev/null"
fi
# Whole or nothing, undone in reverse: an app pool (web 503, then its unit) and a service that
# cannot be masked (its unit file is in /etc/systemd/system: systemd leaves it unmasked, and the
# reconciler's check after mask and stop catches that). The failure undoes the unit changes,
# then the 503, and every unit is as before.
rm -f "$work/manifests"/*.json
in_container sh -c 'printf "[Service]\nExecStart=/bin/sleep infinity\n" > /etc/systemd/system/etc-unit.service && systemctl daemon-reload && systemctl start etc-unit.service'
python3 - "$work/server/inventory.json" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1])); inv["services"]["EtcUnit"] = {"unit": "etc-unit.service"}
json.dump(inv, open(sys.argv[1], "w"), indent=2)
PY
cat > "$work/manifests/A1.json" <<'JSON'
{ "schema": 1, "id": "A1", "revision": 1, "title": "two parts", "description": "atomicity", "cves": [], "severity": "high",
  "applies_to": { "product": "exchange", "scheme": "dotted", "min": "1.0", "fixed_in": "99.0" },
  "actions": [ { "kind": "disable_app_pool", "name": "ECP pool", "app_pool": "ECPPool", "status": 503 },
               { "kind": "disable_service", "name": "etc unit", "service": "EtcUnit" } ] }
JSON
check "before: the app pool runs" unit_is pool-ecp.service active enabled
out="$("$MITIGCTL" apply 2>&1)"; rc=$?
echo "$out" | sed 's/^/     | /'
check "atomicity: the apply fails, naming the unit that could not be masked" bash -c "[ $rc -ne 0 ] && grep -q 'A1 failed and was undone: unit etc-unit.service is still inactive / static after mask and stop' <<<'$out'"
check "atomicity: the app pool's unit was restored (running, enabled)" unit_is pool-ecp.service active enabled
check "atomicity: its vdir serves again (the 503 was undone too)" [ "$(code /ecp/default.aspx)" = 200 ]
check "atomicity: the other unit runs again" [ "$(in_container systemctl is-active etc-unit.service)" = active ]
check "atomicity: nothing in the ledger" bash -c "! '$MITIGCTL' status -o json | grep -q '\"status\":\"applied\"'"

# Crash safety with units: SIGKILL `mitigctl apply` at every checkpoint of applying, then of
# reverting, a mitigation with an app pool (web 503 + unit) and a service; after each kill a plain
# apply converges and the ledger still knows how to undo everything.
rm -f "$work/manifests"/*.json
in_container systemctl stop etc-unit.service
cat > "$work/manifests/A2.json" <<'JSON'
{ "schema": 1, "id": "A2", "revision": 1, "title": "pool and service", "description": "crash", "cves": [], "severity": "high",
  "applies_to": { "product": "exchange", "scheme": "dotted", "min": "1.0", "fixed_in": "15.2.1118.20" },
  "actions": [ { "kind": "disable_app_pool", "name": "ECP pool", "app_pool": "ECPPool", "status": 503 },
               { "kind": "disable_service", "name": "IMAP4", "service": "IMAP4" } ] }
JSON
rows() { python3 -c "import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute('select phase from ledger').fetchall(); print(len(r), ' '.join(sorted(set(x[0] for x in r))))" "$work/var/state.db"; }
crash_ok=1
applied_state() {
  "$MITIGCTL" plan --detailed-exitcode >/dev/null && unit_is pool-ecp.service inactive masked-runtime &&
    unit_is svc-running.service inactive masked-runtime && [ "$(code /ecp/default.aspx)" = 503 ] && [ "$(rows)" = "3 applied" ]
}
reverted_state() {
  "$MITIGCTL" plan --detailed-exitcode >/dev/null || { echo "     (plan not empty)"; return 1; }
  unit_is pool-ecp.service active enabled || { echo "     (pool-ecp: $(in_container systemctl is-active pool-ecp.service) $(in_container systemctl is-enabled pool-ecp.service))"; return 1; }
  unit_is svc-running.service active enabled || { echo "     (svc-running: $(in_container systemctl is-active svc-running.service) $(in_container systemctl is-enabled svc-running.service))"; return 1; }
  [ "$(code /ecp/default.aspx)" = 200 ] || { echo "     (/ecp/ $(code /ecp/default.aspx))"; return 1; }
  [ "$(rows)" = "0 " ] || { echo "     (ledger: $(rows))"; return 1; }
}
apply_points=0; revert_points=0
for n in $(seq 1 60); do
  echo "15.2.1118.7" > "$work/server/exchange.version"
  MITIGD_TEST_KILL_AT=$n "$MITIGCTL" apply >/dev/null 2>"$work/kill.log"; rc=$?
  if [ $rc -ne 137 ]; then applied_state || { echo "     not converged without a kill"; crash_ok=0; }; break; fi
  apply_points=$n
  "$MITIGCTL" apply >/dev/null 2>&1
  applied_state || { echo "     apply killed at $n ($(cut -d: -f2- "$work/kill.log")): not converged"; crash_ok=0; }
  echo "15.2.1118.20" > "$work/server/exchange.version"; "$MITIGCTL" apply >/dev/null 2>&1
  reverted_state || { echo "     reset after $n: not reverted"; crash_ok=0; }
done
for n in $(seq 1 60); do
  echo "15.2.1118.7" > "$work/server/exchange.version"; "$MITIGCTL" apply >/dev/null 2>&1
  echo "15.2.1118.20" > "$work/server/exchange.version"
  MITIGD_TEST_KILL_AT=$n "$MITIGCTL" apply >/dev/null 2>"$work/kill.log"; rc=$?
  if [ $rc -ne 137 ]; then reverted_state || { echo "     not reverted without a kill"; crash_ok=0; }; break; fi
  revert_points=$n
  "$MITIGCTL" apply >/dev/null 2>&1
  reverted_state || { echo "     revert killed at $n ($(cut -d: -f2- "$work/kill.log")): not converged"; crash_ok=0; }
done
echo "     kill points covered: $apply_points while applying, $revert_points while reverting"
check "crash safety: converged after a SIGKILL at every checkpoint, units included" [ $crash_ok = 1 ] && [ $apply_points -ge 8 ]

echo "$failures failures"
exit $(( failures > 0 ))
