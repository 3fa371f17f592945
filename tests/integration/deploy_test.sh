#!/usr/bin/env bash
# Connecting mitigd to an existing nginx as docs/deploy.md says, on a copy of Debian's packaged
# /etc/nginx tree under a prefix (paths rewritten, the default site proxying to a test app on
# loopback): `mitigctl check` names each missing piece with its fix, `mitigctl setup nginx` fixes
# them (dry run first, then for real, then idempotent), and plan/apply protect the site.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
[ -f /etc/nginx/nginx.conf ] && [ -f /etc/nginx/sites-available/default ] || { echo "SKIP: no Debian nginx layout in /etc/nginx"; exit 77; }
new_workdir deploy
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
etc="$work/etc/nginx"; mkdir -p "$work/etc" "$work/logs" "$work/var" "$work/manifests" "$work/policy/servers"
cp -a /etc/nginx "$etc"
app_port="$(free_port)"; port="$(free_port)"
python3 "$root/tests/integration/upstream_app.py" "$app_port" >/dev/null & pids+=($!)
# The packaged files, with every path moved under the prefix and the site on a loopback port.
grep -rlZ /etc/nginx "$etc" | xargs -0 sed -i "s#/etc/nginx#$etc#g"
sed -i "s#^pid .*#pid $work/nginx.pid;#; s#/var/log/nginx#$work/logs#g; s#^user .*##" "$etc/nginx.conf"
rm -f "$etc/sites-enabled/default"
cat > "$etc/sites-available/default" <<SITE
# The operator's site.
server {
	listen 127.0.0.1:$port default_server;
	server_name _;
	location / {
		proxy_pass http://127.0.0.1:$app_port;
	}
}
SITE
ln -s ../sites-available/default "$etc/sites-enabled/default"
ngx=(nginx -c "$etc/nginx.conf")
"${ngx[@]}" -t -q 2>/dev/null || { echo "FAIL the copied layout does not validate"; "${ngx[@]}" -t; exit 1; }
"${ngx[@]}" -g 'daemon off;' & pids+=($!)
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -s -o /dev/null "$url/" && break; sleep 0.05; done
cp -a "$etc" "$work/etc-before"

cp "$root/examples/manifests/M1.json" "$root/examples/manifests/M2.json" "$work/manifests/"
# The reload command counts its calls: an engine switch must be one reload, not one per mitigation.
printf '#!/bin/sh\necho x >> "%s/reloads"\nexec nginx -c "%s/nginx.conf" -s reload\n' "$work" "$etc" > "$work/reload.sh"; chmod +x "$work/reload.sh"
reloads() { [ -f "$work/reloads" ] && wc -l < "$work/reloads" || echo 0; }
printf '{ "mitigations_enabled": true, "auto_revert": true }\n' > "$work/policy/org.json"
echo "15.2.1118.7" > "$work/exchange.version"
cat > "$work/inventory.json" <<JSON
{ "host": "web01",
  "products": { "exchange": { "scheme": "dotted", "version": { "file": "exchange.version" } } },
  "web_server": { "kind": "nginx", "http_include_dir": "$etc/mitigd/http", "server_include_dir": "$etc/mitigd/server",
                  "validate": ["nginx", "-c", "$etc/nginx.conf", "-t", "-q"], "reload": ["$work/reload.sh"],
                  "probe_url": "$url" } }
JSON
echo '{"inventory":"inventory.json","policy_dir":"policy","manifests_dir":"manifests","state_db":"var/state.db"}' > "$work/mitigd.json"
export MITIGD_CONFIG="$work/mitigd.json"

out="$("$MITIGCTL" check 2>&1)"; rc=$?
check "check fails on the unconnected server" test "$rc" = 1
check "check names the missing include dirs with mkdir" grep -q "FAIL  include dir $etc/mitigd/server: missing" <<<"$out"
check "check names the server block to edit (the site file and line)" grep -q "inside the server block at $etc/sites-available/default:2" <<<"$out"
check "check names the missing http include" grep -q "FAIL  http include" <<<"$out"
check "check says the live config validates" grep -q "ok    live config" <<<"$out"
out="$("$MITIGCTL" apply 2>&1)"; rc=$?
check "apply refuses with check's message, changing nothing" bash -c "[ $rc = 1 ] && grep -q 'not wired for mitigd yet' <<<\"\$1\" && diff -r '$work/etc-before' '$etc' >/dev/null" _ "$out"

out="$("$MITIGCTL" setup nginx --dry-run 2>&1)"
check "setup --dry-run shows the include line and changes nothing" bash -c "grep -q 'include $etc/mitigd/server/\*.conf;' <<<\"\$1\" && diff -r '$work/etc-before' '$etc' >/dev/null" _ "$out"
out="$("$MITIGCTL" setup nginx 2>&1)"; rc=$?
echo "$out" | sed 's/^/     | /'
check "setup succeeds" test "$rc" = 0
check "setup backed up the site file outside nginx's dirs" bash -c "ls '$work/var/backups/' | grep -q '^default\.'"
check "the site file still is the operator's, with one include line added" bash -c "[ \$(diff '$work/etc-before/sites-available/default' '$etc/sites-available/default' | grep -c '^>') = 1 ]"
out="$("$MITIGCTL" check 2>&1)"; rc=$?
check "check passes after setup" bash -c "[ $rc = 0 ] || { echo \"\$1\"; false; }" _ "$out"
out="$("$MITIGCTL" setup nginx 2>&1)"
check "setup is idempotent" grep -q "nothing to do" <<<"$out"

"$MITIGCTL" apply >/dev/null 2>&1; rc=$?
check "apply protects the site" test "$rc" = 0
check "the exploit is dropped" test "$(curl -s -o /dev/null -w '%{http_code}' "$url/autodiscover/autodiscover.json?@x.com/%50owershell")" = 000
check "normal traffic passes" test "$(curl -s -o /dev/null -w '%{http_code}' "$url/owa/")" = 200
"$MITIGCTL" plan --detailed-exitcode >/dev/null 2>&1; rc=$?
check "plan is empty afterwards" test "$rc" = 0

# The module engine and back, as deploy.md says: each switch re-renders both rule files in one reload.
module="${MITIGD_NGINX_MODULE:-$root/build/nginx_module/ngx_http_mitigd_module.so}"
module="$(realpath "$module")"
printf 'load_module %s;\n' "$module" > "$etc/modules-enabled/50-mod-http-mitigd.conf"
"${ngx[@]}" -s reload 2>/dev/null; sleep 0.3
for engine in module config; do
  python3 - "$work/inventory.json" "$engine" <<'PY2'
import json, sys
inv = json.load(open(sys.argv[1])); inv["web_server"]["rules_engine"] = sys.argv[2]
json.dump(inv, open(sys.argv[1], "w"), indent=2)
PY2
  before=$(reloads)
  "$MITIGCTL" apply >/dev/null 2>&1; rc=$?
  n=$(grep -l mitigd_rule "$etc"/mitigd/server/*.conf 2>/dev/null | wc -l)
  want=$([ "$engine" = module ] && echo 2 || echo 0)
  check "switch to the $engine engine: both rule files re-rendered in one reload ($(( $(reloads) - before )))" \
    bash -c "[ $rc = 0 ] && [ $(( $(reloads) - before )) = 1 ] && [ $n = $want ]"
  check "the exploit is still dropped with the $engine engine" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "$url/autodiscover/autodiscover.json?@x.com/%50owershell")" = 000
done
rm -f "$etc/modules-enabled/50-mod-http-mitigd.conf"; "${ngx[@]}" -s reload 2>/dev/null; sleep 0.3

# Removal, as the package's prerm does it: setup --undo is refused while rules are in force; after
# revert-all it takes out exactly what setup added: the operator's files are byte-identical again.
out="$("$MITIGCTL" setup nginx --undo 2>&1)"; rc=$?
check "setup --undo is refused while a rule file is in force" bash -c "[ $rc = 1 ] && grep -q 'revert-all --web' <<<\"\$1\"" _ "$out"
"$MITIGCTL" revert-all >/dev/null 2>&1; rc=$?
check "revert-all empties the ledger" test "$rc" = 0
out="$("$MITIGCTL" setup nginx --undo 2>&1)"; rc=$?
echo "$out" | sed 's/^/     | /'
check "setup --undo succeeds" test "$rc" = 0
check "the nginx tree is byte-identical to before setup (but for the empty include dirs)" \
  diff -r -x mitigd "$work/etc-before" "$etc"
check "nginx validates and serves the site as before" bash -c "'${ngx[0]}' -c '$etc/nginx.conf' -t -q && [ \$(curl -s -o /dev/null -w '%{http_code}' '$url/autodiscover/autodiscover.json?@x.com/%50owershell') = 200 ]"
out="$("$MITIGCTL" setup nginx --undo 2>&1)"
check "setup --undo is idempotent" grep -q "nothing of mitigctl setup is left" <<<"$out"
echo "$failures failures"
exit $(( failures > 0 ))
