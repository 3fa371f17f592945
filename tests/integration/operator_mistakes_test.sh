#!/usr/bin/env bash
# Operators' mistakes on a real nginx with a Debian-style layout (sites-available/default linked
# from sites-enabled/), with the daemon running (issue 12). Each scenario asserts what mitigd must
# do: never silently unprotected, never blaming a mitigation for the server's own problem, never
# looping, and exit codes and warnings that tell the truth.
set -uo pipefail
MITIGD="$1"; MITIGCTL="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir mistakes --examples
module="${MITIGD_NGINX_MODULE:-$root/build/nginx_module/ngx_http_mitigd_module.so}"
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
wait_until() { local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt $deadline ]; do "$@" && return 0; sleep 0.05; done; "$@"; }

# --- a Debian-style nginx under a private prefix --------------------------------------------------
prefix="$work/nginx"; etc="$prefix/etc"; mkdir -p "$work/var"
mkdir -p "$etc"/{sites-available,sites-enabled,conf.d,mitigd/http,mitigd/server} "$prefix"/{logs,tmp}
app_port="$(free_port)"; site_port="$(free_port)"; metrics_port="$(free_port)"
python3 "$root/tests/integration/upstream_app.py" "$app_port" >/dev/null & pids+=($!)
cat > "$etc/nginx.conf" <<NGINX
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_set_misc_module.so;
load_module $module;
pid $prefix/nginx.pid;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $prefix/tmp/body; proxy_temp_path $prefix/tmp/proxy;
  fastcgi_temp_path $prefix/tmp/fcgi; uwsgi_temp_path $prefix/tmp/uwsgi; scgi_temp_path $prefix/tmp/scgi;
  include $etc/conf.d/*.conf;
  include $etc/mitigd/http/*.conf;
  include $etc/sites-enabled/*;
}
NGINX
site() {  # site [BROKEN]: the operator's own site file; BROKEN drops a ';'
  local semi=';'; [ "${1:-}" = BROKEN ] && semi=''
  cat > "$etc/sites-available/default" <<SITE
upstream exchange { server 127.0.0.1:$app_port; }
server {
  listen 127.0.0.1:$site_port;
  include $etc/mitigd/server/*.conf;
  location / { proxy_pass http://exchange$semi }
}
SITE
}
site
ln -s ../sites-available/default "$etc/sites-enabled/default"
nginx_cmd=(nginx -p "$prefix" -c "$etc/nginx.conf" -e "$prefix/logs/error.log")
"${nginx_cmd[@]}" -g 'daemon off;' & pids+=($!)
wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$site_port/" || { echo "nginx did not start"; exit 1; }

python3 - "$work" "$etc" "$site_port" "$prefix" <<'PY'
import json, sys
work, etc, port, prefix = sys.argv[1:]
inv = json.load(open(f"{work}/server/inventory.json"))
ng = ["nginx", "-p", prefix, "-c", f"{etc}/nginx.conf", "-e", f"{prefix}/logs/error.log"]
inv["web_server"].update({"http_include_dir": f"{etc}/mitigd/http", "server_include_dir": f"{etc}/mitigd/server",
                          "validate": ng + ["-t", "-q"], "reload": ng + ["-s", "reload"],
                          "probe_url": f"http://127.0.0.1:{port}"})
json.dump(inv, open(f"{work}/server/inventory.json", "w"), indent=2)
PY
mkdir -p "$work/staging"; mv "$work/manifests/M2.json" "$work/staging/"
cat > "$work/staging/NEW1.json" <<'JSON'
{ "schema": 1, "id": "NEW1", "revision": 1, "title": "a new emergency rule",
  "applies_to": { "product": "exchange", "scheme": "dotted", "fixed_in": "15.2.9999.0" },
  "actions": [ { "kind": "rewrite_rule", "name": "new exploit", "when": [ { "input": "path", "pattern": "^/new1-exploit" } ], "respond": "deny" } ],
  "probes": [ { "request": { "target": "/new1-exploit" }, "expect": "blocked" }, { "request": { "target": "/owa/" }, "expect": "passed" } ] }
JSON
sed -i "s/127.0.0.1:19464/127.0.0.1:$metrics_port/" "$work/mitigd.json"
export MITIGD_CONFIG="$work/mitigd.json"
url="http://127.0.0.1:$site_port"
exploit='/autodiscover/autodiscover.json?@x.com/%50owershell'
dropped() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$url$exploit")" = "000" ]; }
csp_on() { curl -s -D - -o /dev/null "$url/owa/" | tr -d '\r' | grep -qi "^Content-Security-Policy: .*script-src-attr 'none'"; }
audits() { "$MITIGCTL" audit --event "$1" ${2:+--mitigation "$2"} -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
state_of() { "$MITIGCTL" status -o json 2>/dev/null | python3 -c 'import json,sys
for m in json.load(sys.stdin)["mitigations"]:
    if m["id"] == sys.argv[1]: print(m["state"])' "$1"; }

"$MITIGD" --config "$work/mitigd.json" 2>"$work/daemon.log" & daemon=$!; pids+=($daemon)
check "startup: M1 in force" wait_until 10 dropped

# 1. A broken live config is the server's problem, not the new mitigation's ------------------------
site BROKEN
cp "$work/staging/M2.json" "$work/manifests/"
check "M2 waits for the server (not failed)" wait_until 10 bash -c "[ \"\$('$MITIGCTL' status -o json 2>/dev/null | python3 -c 'import json,sys; print([m[\"state\"] for m in json.load(sys.stdin)[\"mitigations\"] if m[\"id\"]==\"M2\"][0])')\" = waiting ]"
status_text="$("$MITIGCTL" status 2>&1)"
check "status names the operator's file and line" grep -Eq "sites-(enabled|available)/default:[0-9]+" <<<"$status_text"
check "status says NOT IN FORCE and how to retry" bash -c "grep -q 'NOT IN FORCE' <<<\"\$1\" && grep -q 'mitigctl retry M2' <<<\"\$1\"" _ "$status_text"
check "no failure is blamed on M2" test "$(audits failed M2)" = 0
"$MITIGCTL" plan --detailed-exitcode >/dev/null 2>&1; rc=$?
check "plan --detailed-exitcode is 2 while M2 is not in force" test "$rc" = 2
out="$("$MITIGCTL" apply 2>&1)"; rc=$?
check "apply exits non-zero and lists M2" bash -c "[ $rc -ne 0 ] && grep -q 'M2' <<<\"\$1\"" _ "$out"
check "M1 stays in force meanwhile" dropped
check "the metric counts M2 as waiting" bash -c "curl -s 127.0.0.1:$metrics_port/metrics | grep -q '^mitigd_mitigations{state=\"waiting\"} 1'"
start=$(date +%s%N)
site
check "fixing the site puts M2 in force within 5 s, with no command" wait_until 5 csp_on
echo "     (took $(( ($(date +%s%N) - start) / 1000000 )) ms)"

# 2. A failing revert does not loop ------------------------------------------------------------------
site BROKEN
"$MITIGCTL" disable >/dev/null
sleep 30
check "one revert_failed record per mitigation in 30 s" bash -c "[ \"\$1\" = 1 ] && [ \"\$2\" = 1 ]" _ "$(audits revert_failed M1)" "$(audits revert_failed M2)"
attempts="$("$MITIGCTL" status -o json | python3 -c 'import json,sys; print(max(m["attempts"] for m in json.load(sys.stdin)["mitigations"]))')"
check "the failing revert was retried with backoff (2 to 8 attempts in 30 s, got $attempts)" bash -c "[ $attempts -ge 2 ] && [ $attempts -le 8 ]"
check "the daemon log is not flooded" test "$(grep -c 'revert failed' "$work/daemon.log")" -le 10
"$MITIGCTL" plan --detailed-exitcode >/dev/null 2>&1; rc=$?
check "plan --detailed-exitcode is 2 while a revert is pending" test "$rc" = 2
site
check "once the site is fixed the reverts complete" wait_until 10 bash -c "! curl -s -D - -o /dev/null '$url/owa/' | tr -d '\r' | grep -qi 'script-src-attr'"
"$MITIGCTL" enable >/dev/null
check "enabled again: M1 back in force" wait_until 10 dropped

# 3. Typos are caught ----------------------------------------------------------------------------------
err="$("$MITIGCTL" block NOPE1 2>&1 >/dev/null)"; rc=$?
check "block NOPE1 warns about an unknown id (and is allowed)" bash -c "[ $rc = 0 ] && grep -q 'WARNING.*NOPE1' <<<\"\$1\"" _ "$err"
"$MITIGCTL" unblock NOPE1 >/dev/null 2>&1
err="$("$MITIGCTL" block M1 --server web02 2>&1)"; rc=$?
check "block --server web02 without a file needs --create" bash -c "[ $rc = 1 ] && grep -q -- '--create' <<<\"\$1\" && [ ! -e '$work/policy/servers/web02.json' ]" _ "$err"
err="$("$MITIGCTL" block M1 --until 2020-01-01 2>&1)"; rc=$?
check "--until in the past is an error" bash -c "[ $rc = 1 ] && grep -q 'already past' <<<\"\$1\"" _ "$err"
check "nothing was blocked by the refused commands" dropped
sed -i 's/"host": "mail01"/"host": "mail1"/' "$work/server/inventory.json"
err="$("$MITIGCTL" plan 2>&1 >/dev/null)"
check "plan warns: servers/ has mail01.json but none for host mail1" grep -q 'WARNING.*mail01.*"mail1"' <<<"$err"
check "the daemon warns too" wait_until 5 grep -q 'WARNING.*"mail1"' "$work/daemon.log"
check "and the audit records it" wait_until 5 bash -c "[ \$('$MITIGCTL' audit --event warning -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') -ge 1 ]"
sed -i 's/"host": "mail1"/"host": "mail01"/' "$work/server/inventory.json"

# 4. One bad manifest does not freeze the set ----------------------------------------------------------
printf '{ "schema": 1, "id": "BAD9", "revision": 1 }' > "$work/manifests/BAD9.json"
cp "$work/staging/NEW1.json" "$work/manifests/"
check "a good new manifest beside a bad one is applied" wait_until 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $url/new1-exploit)\" = 403 ]"
new1_applied() { [ "$(state_of NEW1)" = applied ]; }
check "and status says so" wait_until 5 new1_applied
check "the bad one is reported invalid, by id" test "$(state_of BAD9)" = invalid
check "M1 is still in force" dropped

kill -TERM $daemon
check "SIGTERM stops the daemon" wait_until 5 bash -c "! kill -0 $daemon 2>/dev/null"
[ $failures -gt 0 ] && { echo "--- daemon log (tail)"; tail -20 "$work/daemon.log"; }
echo "$failures failures"
exit $(( failures > 0 ))
