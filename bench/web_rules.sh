#!/usr/bin/env bash
# bench/web_rules: the cost of mitigd's rules on a real nginx, measured in one run.
#  1. Throughput (wrk, loopback, keep-alive) of the same nginx serving a small static page with no
#     rules and with 100 active mitigations from the compiler (decoded request_uri rules, cookie
#     rules, scoped rules), on a realistic ~110-byte Exchange-like URI. Target: >= 90% of no rules.
#     The rules run in mitigd's nginx module (rules_engine "module", the literal prefilter); the
#     plain-directive engine ("config") is measured too, for comparison.
#  2. Time to apply one new mitigation end to end (mitigctl apply: plan, write, nginx -t, reload,
#     wait until the new config serves, probes, ledger) against `nginx -t` + `nginx -s reload` in
#     the same run. Target: <= 1.5x.
# Usage: bench/web_rules.sh [BUILD_DIR]   (prints figures and ratios; asserts nothing)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(realpath "${1:-$root/build}")"  # nginx resolves a relative module path against its prefix
mitigctl="$build/daemon/mitigctl"
work="$(mktemp -d /tmp/mitigd-bench-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
source "$root/scripts/lib/site.sh"   # free_port
source "$root/bench/lib/nginx_bench.sh"
port="$(free_port)"
bare_port="$(free_port)"  # the same nginx and worker, a server block without mitigd's includes
prefix="$work/nginx"
mkdir -p "$prefix"/{conf,logs,tmp,html} "$prefix"/mitigd/{http,server} "$work"/{manifests,policy/servers}
head -c 2048 /dev/zero | tr '\0' 'x' > "$prefix/html/index.html"
cat > "$prefix/conf/nginx.conf" <<NGINX
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_set_misc_module.so;
load_module $build/nginx_module/ngx_http_mitigd_module.so;
pid $prefix/nginx.pid;
pcre_jit on;
worker_processes 1;
worker_cpu_affinity 01;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $prefix/tmp/b; proxy_temp_path $prefix/tmp/p; fastcgi_temp_path $prefix/tmp/f;
  uwsgi_temp_path $prefix/tmp/u; scgi_temp_path $prefix/tmp/s;
  include $prefix/mitigd/http/*.conf;
  server {
    listen 127.0.0.1:$port;
    include $prefix/mitigd/server/*.conf;
    location / { root $prefix/html; try_files /index.html =404; }
  }
  server {
    listen 127.0.0.1:$bare_port;
    location / { root $prefix/html; try_files /index.html =404; }
  }
}
NGINX
nginx -p "$prefix" -c conf/nginx.conf -e logs/error.log -g 'daemon off;' & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done

ngx=(nginx -p "$prefix" -c conf/nginx.conf -e logs/error.log)
bench_mitigd module "$port"

# 100 realistic, distinct mitigations: decoded request_uri lookaheads, cookie rules, scoped path rules.
python3 - "$work/manifests" <<'PY'
import json, sys
words = ["autodiscover", "powershell", "ecp", "owa", "ews", "mapi", "rpc", "oab", "sync", "admin", "proxy", "backend",
         "exchange", "mailbox", "calendar", "contacts", "search", "attachment", "download", "upload"]
for i in range(100):
    a, b = words[i % 20], words[(i * 7 + 3) % 20]
    kind = i % 4
    if kind == 0:
        when = [{"input": "request_uri", "decode": True, "pattern": f"(?=.*{a})(?=.*{b}{i})"}]
    elif kind == 1:
        when = [{"input": "cookie", "pattern": f"X-Backend-{i}=(.+)/(.+)~(.+)"}]
    elif kind == 2:
        when = [{"input": "query", "decode": True, "pattern": f"(?:^|&){a}{i}=[^&]*(?:\\.\\./|%2e%2e)"}]
    else:
        when = [{"input": "header:User-Agent", "pattern": f"^exploit-kit-{i}/"}, {"input": "method", "pattern": "^POST$"}]
    action = {"kind": "rewrite_rule", "name": f"rule {i}", "when": when, "respond": "abort"}
    if i % 5 == 0:
        action["scope"] = f"/{a}/"
    m = {"schema": 1, "id": f"B{i:03d}", "revision": 1, "title": f"bench {i}",
         "applies_to": {"product": "exchange", "fixed_in": "15.2.1118.20"}, "actions": [action]}
    json.dump(m, open(f"{sys.argv[1]}/B{i:03d}.json", "w"))
PY

uri="/owa/service.svc?action=GetItem&ID=-1&AC=1&UA=0&app=Mail&n=42&cid=8a5c2f1e-4b7d-4c3a-9e21-0f6d3b2a1c55"
# nginx's worker on CPU 0, wrk on CPU 1 (bench/lib/nginx_bench.sh): REQ_PER_S:CPU_NS_PER_REQ:NON_2XX.
run_wrk() {  # [PORT]
  WRK_SECONDS="${WRK_SECONDS:-3}" wrk_cpu "http://127.0.0.1:${1:-$port}$uri" \
    -H "Cookie: ClientId=ABCDEF; X-OWA-CANARY=abc123; X-BackEndCookie=S-1-5-21=def"
}

echo "bench/web_rules: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), 1 worker on CPU 0, wrk -t1 -c32 on CPU 1, URI ${#uri} bytes"
run_wrk >/dev/null  # warm up
bare1="$(run_wrk)"
# For scale: the four web mitigations of examples/ (M1.1, both ProxyLogon cookie rules, M2.1, ECP).
mkdir -p "$work/bench-set" && mv "$work"/manifests/B*.json "$work/bench-set/"
cp "$root"/examples/manifests/{M1,PL1,M2,ECP1}.json "$work/manifests/"
"$mitigctl" apply >/dev/null
examples="$(run_wrk)"  # against bare1, the run just before
rm "$work"/manifests/{M1,PL1,M2,ECP1}.json && "$mitigctl" apply >/dev/null
mv "$work"/bench-set/B*.json "$work/manifests/"
"$mitigctl" apply >/dev/null
rules="$(ls "$prefix"/mitigd/server/mitigd-B*.conf | wc -l)"
# Rounds of (no rules, 100 rules) back to back, on the same worker: the server block without
# mitigd's includes, then the one with the 100 rules. No reload between them, and each round's
# ratio compares runs seconds apart, so drift on a shared machine cancels; the median round is
# the figure.
bares=(); ruleds=()
for _ in $(seq "${ROUNDS:-9}"); do
  bares+=("$(WRK_SECONDS="${WRK_SECONDS:-2}" run_wrk "$bare_port")")
  ruleds+=("$(WRK_SECONDS="${WRK_SECONDS:-2}" run_wrk)")
done
# The same 100 mitigations as plain directives (one `if` per condition), for comparison.
bench_inventory config "$port" && "$mitigctl" apply >/dev/null
config_rules="$(run_wrk)"
bench_inventory module "$port" && "$mitigctl" apply >/dev/null
python3 - "${bares[*]}" "${ruleds[*]}" "$rules" "$examples" "$config_rules" "$bare1" <<'PY'
import statistics, sys
pair = lambda x: tuple(float(v) for v in x.split(":"))
bares = [pair(x) for x in sys.argv[1].split()]
ruleds = [pair(x) for x in sys.argv[2].split()]
n = int(sys.argv[3])
ex, cfg, bare1 = pair(sys.argv[4]), pair(sys.argv[5]), pair(sys.argv[6])
ratios = [r[0] / b[0] for b, r in zip(bares, ruleds)]
ratio = statistics.median(ratios)
bare, ruled = statistics.median(b[0] for b in bares), statistics.median(r[0] for r in ruleds)
cpu_bare, cpu_ruled = statistics.median(b[1] for b in bares), statistics.median(r[1] for r in ruleds)
print(f"  no rules:        {bare:10.0f} req/s  (rounds: {', '.join(f'{b[0]:.0f}' for b in bares)})")
print(f"  the 4 example web mitigations: {ex[0]:10.0f} req/s  ({ex[0] / bare1[0] * 100:.1f}% of the no-rules run before it)")
print(f"  {n} mitigations, module engine: {ruled:10.0f} req/s  (rounds: {', '.join(f'{r[0]:.0f}' for r in ruleds)})")
print(f"  {n} mitigations, config engine (plain if directives): {cfg[0]:10.0f} req/s  ({cfg[0] / bare * 100:.1f}% of no rules)")
print(f"  ratio: {ratio * 100:.1f}% of no rules, median of rounds {', '.join(f'{x * 100:.1f}%' for x in ratios)} (target >= 90%)")
print(f"  nginx worker CPU per request (median; not inflated by other tenants' load): no rules {cpu_bare:.0f} ns, "
      f"{n} rules {cpu_ruled:.0f} ns (+{cpu_ruled - cpu_bare:.0f} ns), capacity ratio {cpu_bare / cpu_ruled * 100:.1f}%; "
      f"config engine {cfg[1]:.0f} ns")
PY

# 2. One new mitigation end to end vs nginx -t + reload, 7 rounds each, medians. The worker is
# unpinned first: pinning steadies throughput, but a pinned worker made reload latencies jumpy.
sed -i '/worker_cpu_affinity/d' "$prefix/conf/nginx.conf" && "${ngx[@]}" -s reload && sleep 0.3
cp "$root/examples/manifests/M1.json" "$work/M1.json"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
apply_times=(); base_times=(); served_times=()
for round in 1 2 3 4 5 6 7; do
  s=$(date +%s%N); "${ngx[@]}" -t -q; "${ngx[@]}" -s reload; base_times+=("$(ms "$s")")
  sleep 0.3
  # The fair baseline: nginx -t + reload + until only the new config answers. nginx's master keeps
  # the old workers accepting for 100 ms after starting the new ones (ngx_msleep(100) before the
  # shutdown signal), so that is: a marker of the new config answers, then those 100 ms.
  echo "location = /bench-gen-$round { return 204; }" > "$prefix/mitigd/server/zz-bench-gen.conf"
  s=$(date +%s%N); "${ngx[@]}" -t -q; "${ngx[@]}" -s reload
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/bench-gen-$round")" = 204 ]; do sleep 0.001; done
  sleep 0.1; served_times+=("$(ms "$s")")
  rm "$prefix/mitigd/server/zz-bench-gen.conf"; "${ngx[@]}" -s reload
  sleep 0.3
  cp "$work/M1.json" "$work/manifests/M1.json"
  s=$(date +%s%N); "$mitigctl" apply >/dev/null; apply_times+=("$(ms "$s")")
  rm "$work/manifests/M1.json"; "$mitigctl" apply >/dev/null   # withdrawn: reverted, for the next round
  sleep 0.2
done
python3 - "${base_times[*]}" "${apply_times[*]}" "${served_times[*]}" <<'PY'
import statistics, sys
base = [int(x) for x in sys.argv[1].split()]
apply = [int(x) for x in sys.argv[2].split()]
served = [int(x) for x in sys.argv[3].split()]
b, a, v = statistics.median(base), statistics.median(apply), statistics.median(served)
print(f"  nginx -t + nginx -s reload (returns before the new config serves): median {b:.0f} ms  {base}")
print(f"  nginx -t + reload + until only the new config serves: median {v:.0f} ms  {served}")
print(f"  mitigctl apply (1 new, 100 in force; write, validate, reload, wait for the new config, 4 probes, ledger): median {a:.0f} ms  {apply}")
print(f"  ratio: {a / b:.2f}x against reload returning (target <= 1.5x), {a / v:.2f}x against the new config serving")
PY
