#!/usr/bin/env bash
# The packages under a real systemd (Debian 12 booted with systemd-nspawn, private network): both
# .debs installed with dpkg, a site on 127.0.0.1:80 behind the packaged nginx, mitigd.service from the
# package, connected as docs/deploy.md says (mitigctl setup nginx, the module engine):
#  - a web mitigation (exploit dropped, normal traffic 200), a unit mitigation and an app pool apply;
#  - systemctl reload returns with a valid and with a broken config (READY=1 after RELOADING=1);
#  - a member of the control group runs status and apply, a non-member cannot;
#  - the watchdog holds (WatchdogSec=3s in a drop-in, no restart); systemd-analyze verify is clean,
#    security exposure no worse than 2.5; no empty MITIGD_ journal field;
#  - purge reverts everything, nginx restarts, /etc/nginx is byte-identical to before the install.
# Usage: unit_test.sh BUILD_DIR     (exit 77: this machine cannot host a container)
set -uo pipefail
build="$(realpath "$1")"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/nspawn.sh"
ensure_web_rootfs || { echo "SKIP: no Debian root with nginx for systemd-nspawn could be made here"; exit 77; }
work="$(mktemp -d /tmp/mitigd-unit-XXXXXX)"
cleanup() { stop_systemd; rm -rf "$work"; }
trap cleanup EXIT
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
inside() { timeout 60 nsenter -t "$leader" -a "$@"; }
put() { inside sh -c "cat > '$1'"; }  # put PATH < content
code() { inside curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1$1"; }
wait_until() { local deadline=$(( $(date +%s) + $1 )); shift
  while [ "$(date +%s)" -lt "$deadline" ]; do "$@" && return 0; sleep 0.2; done; "$@"; }

(cd "$build" && cpack -G DEB -B "$work/debs" >/dev/null 2>&1) || { echo "FAIL cpack"; exit 1; }
rm -rf "$work/debs/_CPack_Packages"
mkdir -p "$work/units" "$work/bus"
for u in svc-imap pool-ecp; do
  printf '[Unit]\nDescription=mitigd test unit %s\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' "$u" \
    > "$work/units/$u.service"
done
boot_root="$web_rootfs" boot_systemd "mitigd-unit-$$" "$work/units" "$work/bus" --private-network --bind-ro="$work/debs:/debs" ||
  { echo "FAIL systemd did not boot"; exit 1; }
inside systemctl enable --now svc-imap.service pool-ecp.service >/dev/null 2>&1

# --- the operator's server: the packaged nginx, one site on port 80 in front of an app on 8080 ------
put /etc/nginx/sites-available/default <<'SITE'
# The operator's site.
server {
	listen 127.0.0.1:80 default_server;
	server_name _;
	location / {
		proxy_pass http://127.0.0.1:8080;
	}
}
server {
	listen 127.0.0.1:8080;
	location / { return 200 "app\n"; }
}
SITE
inside systemctl restart nginx
check "the site answers on port 80 before mitigd" wait_until 10 [ "$(code /owa/)" = 200 ]
inside tar -C /etc -cf - nginx > "$work/nginx-before.tar"

# --- install both packages -------------------------------------------------------------------------
inside sh -c 'dpkg -i /debs/*.deb' > "$work/dpkg-i.log" 2>&1; rc=$?
check "dpkg -i installs mitigd and libnginx-mod-http-mitigd" bash -c "[ $rc = 0 ] || { cat '$work/dpkg-i.log'; false; }"
check "the module package enabled the module and nginx still validates" \
  inside sh -c 'test -L /etc/nginx/modules-enabled/50-mod-http-mitigd.conf && nginx -t -q'
inside systemd-analyze verify /usr/lib/systemd/system/mitigd.service > "$work/verify.log" 2>&1; rc=$?
check "systemd-analyze verify mitigd.service is clean" bash -c "[ $rc = 0 ] && [ ! -s '$work/verify.log' ] || { cat '$work/verify.log'; false; }"
exposure="$(inside systemd-analyze security mitigd.service 2>/dev/null | sed -n 's/.*Overall exposure level for mitigd.service: \([0-9.]*\).*/\1/p')"
check "systemd-analyze security: exposure $exposure is no worse than 2.5" awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.5) }'

# --- connect it, as docs/deploy.md says --------------------------------------------------------------
put /etc/mitigd/inventory.json <<'JSON'
{ "host": "web01",
  "products": { "exchange": { "scheme": "dotted", "version": { "file": "/etc/mitigd/exchange.version" } } },
  "services": { "MSExchangeIMAP4": { "unit": "svc-imap.service" } },
  "app_pools": { "ECPPool": { "unit": "pool-ecp.service" } },
  "vdirs": { "ecp": { "prefix": "/ecp/", "app_pool": "ECPPool" }, "owa": { "prefix": "/owa/" } },
  "web_server": { "kind": "nginx", "http_include_dir": "/etc/nginx/mitigd/http", "server_include_dir": "/etc/nginx/mitigd/server",
                  "validate": ["/usr/sbin/nginx", "-t", "-q"], "reload": ["/usr/sbin/nginx", "-s", "reload"],
                  "probe_url": "http://127.0.0.1:80", "rules_engine": "module" } }
JSON
echo "15.2.1118.7" | put /etc/mitigd/exchange.version
for m in M1 IMAP1; do put "/var/lib/mitigd/manifests/$m.json" < "$root/examples/manifests/$m.json"; done
python3 - "$root/examples/manifests/IMAP1.json" <<'PY' | put /var/lib/mitigd/manifests/POOL1.json
import json, sys
m = json.load(open(sys.argv[1]))
m.update(id="POOL1", title="Take the ECP app pool offline")
m["actions"] = [{"kind": "disable_app_pool", "name": "ECP pool", "app_pool": "ECPPool", "status": 503}]
print(json.dumps(m, indent=2))
PY
inside sed -i 's/"mode": "dry-run"/"mode": "enforce"/' /etc/mitigd/policy/org.json
inside mitigctl setup nginx > "$work/setup.log" 2>&1; rc=$?
check "mitigctl setup nginx connects the site" bash -c "[ $rc = 0 ] || { cat '$work/setup.log'; false; }"
inside mitigctl check > "$work/check.log" 2>&1; rc=$?
check "mitigctl check passes" bash -c "[ $rc = 0 ] || { cat '$work/check.log'; false; }"
inside mkdir -p /etc/systemd/system/mitigd.service.d
printf '[Service]\nWatchdogSec=3s\n' | put /etc/systemd/system/mitigd.service.d/watchdog.conf
inside systemctl daemon-reload
inside systemctl enable --now mitigd.service >/dev/null 2>&1
check "mitigd.service is active" wait_until 20 [ "$(inside systemctl is-active mitigd.service)" = active ]

exploit='/autodiscover/autodiscover.json?@x.com/%50owershell'
check "web mitigation: the exploit is dropped" wait_until 20 [ "$(code "$exploit")" = 000 ]
check "web mitigation: normal traffic passes" [ "$(code /owa/)" = 200 ]
check "unit mitigation: the service is stopped and masked" wait_until 10 \
  [ "$(inside systemctl is-enabled svc-imap.service)" = masked-runtime ]
check "app pool: its unit is stopped and /ecp/ answers 503" bash -c "[ \"\$(timeout 5 nsenter -t $leader -a systemctl is-active pool-ecp.service)\" = inactive ] && [ \"\$(timeout 5 nsenter -t $leader -a curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/ecp/)\" = 503 ]"
check "the module engine is in use (mitigd_rule in the rule files)" inside grep -rqs mitigd_rule /etc/nginx/mitigd/server

# --- reloads ----------------------------------------------------------------------------------------
inside systemctl reload mitigd.service; rc=$?
check "systemctl reload returns with a valid config" bash -c "[ $rc = 0 ] && [ \"\$(timeout 5 nsenter -t $leader -a systemctl is-active mitigd.service)\" = active ]"
inside cp /etc/mitigd/mitigd.json /root/mitigd.json.good
echo '{ "poll_interval_seconds": "soon" }' | put /etc/mitigd/mitigd.json
inside systemctl reload mitigd.service; rc=$?
check "systemctl reload returns with a broken config, the unit stays active" \
  bash -c "[ $rc = 0 ] && [ \"\$(timeout 5 nsenter -t $leader -a systemctl is-active mitigd.service)\" = active ]"
inside journalctl -u mitigd.service --no-pager -o cat > "$work/journal.txt" 2>&1
check "the journal says the broken config was refused" \
  bash -c "grep -q 'config reload refused, keeping the running config: /etc/mitigd/mitigd.json' '$work/journal.txt' || { tail -20 '$work/journal.txt'; false; }"
inside cp /root/mitigd.json.good /etc/mitigd/mitigd.json
inside systemctl reload mitigd.service

# --- the control group ------------------------------------------------------------------------------
inside useradd -M -G mitigd op; inside useradd -M other
inside runuser -u op -- mitigctl status > "$work/op-status.log" 2>&1; rc=$?
check "a member of the mitigd group runs mitigctl status" bash -c "[ $rc = 0 ] && grep -q 'M1' '$work/op-status.log' || { cat '$work/op-status.log'; false; }"
inside runuser -u op -- mitigctl apply > "$work/op-apply.log" 2>&1; rc=$?
check "a member of the mitigd group runs mitigctl apply (through the daemon)" bash -c "[ $rc = 0 ] || { cat '$work/op-apply.log'; false; }"
inside runuser -u other -- mitigctl apply > "$work/other.log" 2>&1; rc=$?
check "a user outside the group cannot" [ "$rc" != 0 ]

# --- the watchdog and the journal -------------------------------------------------------------------
sleep 7
state="$(inside systemctl show -p ActiveState --value mitigd.service) $(inside systemctl show -p NRestarts --value mitigd.service)"
check "the watchdog holds (WatchdogSec=3s, 7 s later: active, no restart)" \
  bash -c "[ '$state' = 'active 0' ] || { echo 'state: $state'; timeout 5 nsenter -t $leader -a journalctl -u mitigd.service --no-pager -o cat | tail -15; false; }"
inside journalctl -u mitigd.service -o json --no-pager > "$work/journal.json" 2>/dev/null
check "no MITIGD_ journal field is empty" python3 - "$work/journal.json" <<'PY'
import json, sys
bad = [k for line in open(sys.argv[1]) if line.strip() for k, v in json.loads(line).items() if k.startswith("MITIGD_") and v in ("", None)]
sys.exit(1 if bad else 0)
PY

# --- removal -----------------------------------------------------------------------------------------
inside dpkg --purge mitigd libnginx-mod-http-mitigd > "$work/purge.log" 2>&1; rc=$?
check "dpkg --purge removes both packages" bash -c "[ $rc = 0 ] || { cat '$work/purge.log'; false; }"
check "purge reverted the unit mitigation (unmasked, running again)" \
  bash -c "[ \"\$(timeout 5 nsenter -t $leader -a systemctl is-enabled svc-imap.service)\" = enabled ] && [ \"\$(timeout 5 nsenter -t $leader -a systemctl is-active svc-imap.service)\" = active ]"
check "purge reverted the app pool (running again)" [ "$(inside systemctl is-active pool-ecp.service)" = active ]
inside systemctl restart nginx; rc=$?
check "nginx restarts after the purge" [ "$rc" = 0 ]
check "the site serves as before (the former exploit URL reaches the app)" wait_until 10 [ "$(code "$exploit")" = 200 ]
mkdir -p "$work/before" "$work/after"
tar -C "$work/before" -xf "$work/nginx-before.tar"; inside tar -C /etc -cf - nginx | tar -C "$work/after" -xf -
check "/etc/nginx is byte-identical to before the install" diff -r "$work/before" "$work/after"
check "purge removed the state, the package's config and the group (the operator's own file stays)" \
  inside sh -c '! test -e /var/lib/mitigd && [ "$(ls -A /etc/mitigd)" = exchange.version ] && ! getent group mitigd >/dev/null' 
echo "$failures failure(s)"
exit $(( failures > 0 ))
