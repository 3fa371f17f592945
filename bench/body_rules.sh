#!/usr/bin/env bash
# bench/body_rules: mitigd's nginx module against bare nginx and ModSecurity v3 (Debian's
# libnginx-mod-http-modsecurity, the connector and libmodsecurity3), one nginx, one run.
#  1. Benign GET, 300-byte URI and a browser's headers, 300 rules: the 100 of bench/web_rules.sh and
#     200 shaped like published virtual patches on the new inputs (query arguments, every header
#     occurrence, header names, the raw path, base64, lengths). Targets: >= 90% of no rules, <= 1 us
#     of worker CPU added per request; ModSecurity with the same 300 rules for scale (>= 20x behind).
#  2. Benign POST, 2 KiB urlencoded form, 50 body rules (one field, any field, field names, the raw
#     body). Target: <= 10 us added per request; ModSecurity with the same 50 rules, and the ratio.
# Both rule sets come from bench/lib/gen_rules.py, written once for each engine. Rounds alternate the
# servers compared (same worker, no reload between them); figures are medians of the rounds. Two
# figures do not move with the machine's noise: nginx's instructions per request under callgrind, and
# the module's share of the worker's perf samples (times the worker CPU per request: its own time).
# Usage: bench/body_rules.sh [BUILD_DIR]   (prints figures and ratios; asserts nothing)
# Environment: ROUNDS (11), WRK_SECONDS (2), WORKLOAD=get (the GET workload alone), PROFILE=get|post
# (perf, where the worker spends its cycles, instead of the rounds), CG_REQUESTS (2000).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(realpath "${1:-$root/build}")"
mitigctl="$build/daemon/mitigctl"
modsec_so=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so
[ -f "$modsec_so" ] || { echo "bench/body_rules: $modsec_so missing (apt-get install libnginx-mod-http-modsecurity)" >&2; exit 1; }
work="$(mktemp -d /tmp/mitigd-bench-body-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
source "$root/scripts/lib/site.sh"   # free_port
source "$root/bench/lib/nginx_bench.sh"
chmod 711 "$work"
bare="$(free_port)"; ours="$(free_port)"; msget="$(free_port)"; msbody="$(free_port)"
prefix="$work/nginx"
mkdir -p "$prefix"/{conf,logs,tmp,html} "$prefix"/mitigd/{http,server} "$work"/{manifests,get300,body50,policy/servers}
head -c 2048 /dev/zero | tr '\0' 'x' > "$prefix/html/index.html"
python3 "$root/bench/lib/gen_rules.py" get300 "$work/get300" "$work/modsec-get.conf" >/dev/null
python3 "$root/bench/lib/gen_rules.py" body50 "$work/body50" "$work/modsec-body.conf" >/dev/null
for f in get body; do
  cat > "$work/modsec-$f-main.conf" <<MS
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 1048576
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction ProcessPartial
SecResponseBodyAccess Off
SecAuditEngine Off
SecDebugLogLevel 0
SecArgumentSeparator &
Include $work/modsec-$f.conf
MS
done
# A static answer for GET and POST alike (405 from the static module turned into the page).
static='location / { root '"$prefix"'/html; try_files /index.html =404; error_page 405 =200 /index.html; }'
cat > "$prefix/conf/nginx.conf" <<NGINX
load_module $build/nginx_module/ngx_http_mitigd_module.so;
load_module $modsec_so;
pid $prefix/nginx.pid;
pcre_jit on;
worker_processes 1;
worker_cpu_affinity 01;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_buffer_size 16k;
  client_body_temp_path $prefix/tmp/b; proxy_temp_path $prefix/tmp/p; fastcgi_temp_path $prefix/tmp/f;
  uwsgi_temp_path $prefix/tmp/u; scgi_temp_path $prefix/tmp/s;
  include $prefix/mitigd/http/*.conf;
  server { listen 127.0.0.1:$bare; $static }
  server { listen 127.0.0.1:$ours; include $prefix/mitigd/server/*.conf; $static }
  server { listen 127.0.0.1:$msget; modsecurity on; modsecurity_rules_file $work/modsec-get-main.conf; $static }
  server { listen 127.0.0.1:$msbody; modsecurity on; modsecurity_rules_file $work/modsec-body-main.conf; $static }
}
NGINX
nginx -p "$prefix" -c conf/nginx.conf -e logs/error.log -g 'daemon off;' & pids+=($!)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$bare/" && break; sleep 0.05; done

bench_mitigd module "$ours"

uri="/owa/service.svc?action=GetItem&ID=-1&AC=1&UA=0&app=Mail&n=42&cid=8a5c2f1e-4b7d-4c3a-9e21-0f6d3b2a1c55&folder=inbox&view=conversation&sort=received&order=desc&offset=0&limit=50&fields=subject,from,received,preview&tz=Europe%2FBerlin&lang=en-US&theme=base&ts=1764547200&x=1"
uri="$uri$(head -c $((300 - ${#uri})) /dev/zero | tr '\0' 'a')"
headers=(-H "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
         -H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" -H "Accept-Language: en-US,en;q=0.9"
         -H "Accept-Encoding: gzip, deflate, br" -H "Referer: https://mail.example.com/owa/"
         -H "Cookie: ClientId=ABCDEF0123; X-OWA-CANARY=abc123def456; X-BackEndCookie=S-1-5-21=def; session=0123456789abcdef")
form="$(python3 -c "
import urllib.parse
f = [('subject', 'Quarterly report for the board'), ('to', 'alice@example.com;bob@example.com'), ('importance', 'normal')]
f += [(f'field{i}', 'value %d with some words in it & symbols' % i) for i in range(40)]
s = urllib.parse.urlencode(f)
print((s + '&pad=' + 'p' * 2048)[:2048])")"
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "$form"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

run_wrk() { local port="$1"; shift; wrk_cpu "http://127.0.0.1:$port$uri" "${headers[@]}" "$@"; }  # PORT [wrk args]
# rounds NAME PORT... -- WRK_ARGS: alternating rounds over the ports; prints one line per port.
rounds() {
  local name="$1"; shift; local ports=() args=()
  while [ "$1" != -- ]; do ports+=("$1"); shift; done; shift; args=("$@")
  local results=()
  for p in "${ports[@]}"; do run_wrk "$p" "${args[@]}" >/dev/null; done  # warm up
  for _ in $(seq "${ROUNDS:-11}"); do for p in "${ports[@]}"; do results+=("$p=$(run_wrk "$p" "${args[@]}")"); done; done
  echo "$name ${results[*]}"
}

# Instructions per request, exact and repeatable (the rounds above are wall-clock and noisy): a
# second nginx with the same rules, without ModSecurity, as one process under callgrind; its
# counters are zeroed, CG_REQUESTS requests go to one server over one connection, and the counts
# are dumped; bare and mitigd alternate twice. User-space instructions only (no kernel).
cg_bare="$(free_port)"; cg_ours="$(free_port)"
sed -e "s|^pid .*|pid $prefix/cg.pid;|" -e "/modsecurity/d" -e "s|127.0.0.1:$bare;|127.0.0.1:$cg_bare;|" \
    -e "s|127.0.0.1:$ours;|127.0.0.1:$cg_ours;|" "$prefix/conf/nginx.conf" > "$prefix/conf/cg.conf"
header_values=(); for ((i = 1; i < ${#headers[@]}; i += 2)); do header_values+=("${headers[$i]}"); done
instructions() {  # NAME METHOD [BODY_FILE]: prints NAME PORT=INSTRUCTIONS_PER_REQUEST...
  local name="$1" method="$2" n="${CG_REQUESTS:-2000}" vg out dump total; shift 2
  rm -f "$work"/cg.out*
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    nginx -p "$prefix" -c conf/cg.conf -e logs/cg-error.log -g 'daemon off; master_process off;' >"$work/cg.log" 2>&1 & vg=$!
  for _ in $(seq 900); do curl -s -o /dev/null "http://127.0.0.1:$cg_bare/" && break; sleep 0.1; done
  for p in "$cg_bare" "$cg_ours"; do python3 "$root/bench/lib/send_requests.py" "$p" 200 "$method" "$uri" "$@" "${header_values[@]}" >/dev/null; done
  out="$name"
  for p in "$cg_bare" "$cg_ours" "$cg_bare" "$cg_ours"; do
    callgrind_control -z "$vg" >/dev/null 2>&1
    python3 "$root/bench/lib/send_requests.py" "$p" "$n" "$method" "$uri" "$@" "${header_values[@]}" >/dev/null
    callgrind_control -d "$vg" >/dev/null 2>&1
    dump="$(ls -t "$work"/cg.out* | head -1)"
    total="$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$dump" | head -1)"
    out="$out $p=$((total / n))"
  done
  kill "$vg" 2>/dev/null; wait "$vg" 2>/dev/null || true
  echo "$out"
}

apply() { "$mitigctl" apply > "$work/apply.log" 2>&1 || { echo "bench/body_rules: mitigctl apply failed:" >&2; tail -20 "$work/apply.log" >&2; exit 1; }; }
cp "$work"/get300/*.json "$work/manifests/" && apply
check_blocked() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
sanity="ours $(check_blocked "http://127.0.0.1:$ours/x?autodiscoverfile0=../a"), modsec $(check_blocked "http://127.0.0.1:$msget/x?autodiscoverfile0=../a")"
# perf_worker DATA [WRK_ARGS]: perf samples (with call graphs) of the worker in a 3 s run on mitigd.
perf_worker() {
  local data="$1" w; shift; w="$(pgrep -P "$(cat "$prefix/nginx.pid")" | head -1)"
  perf record -q -g -o "$data" -p "$w" -- sleep 3 2>/dev/null & local rec=$!
  taskset -c 1 wrk -t1 -c32 -d3s "${headers[@]}" "$@" "http://127.0.0.1:$ours$uri" >/dev/null; wait "$rec" || true
}
# PROFILE=get|post: instead of the rounds, where mitigd's worker spends its cycles (perf).
profile() {
  perf_worker "$work/perf.data" "$@"
  perf report -i "$work/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" | head -8
  echo "the handler with what it calls (libc included):"
  perf report -i "$work/perf.data" --children --sort sym --stdio -g none 2>/dev/null | grep -E "mitigd_handler|mc_evaluate" | head -4
  perf report -i "$work/perf.data" --no-children --sort dso,sym --percent-limit 0.4 --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" | head -40
}
# The module's share of the worker's perf samples (cpu-clock) in a 3 s run on mitigd's server, in
# percent. Times the worker CPU per request, it is the module's own time, free of the round-to-round
# noise in everything else the worker does (libc calls the module makes are not in it). "-": no perf.
module_share() {
  command -v perf >/dev/null || { echo "-"; return; }
  perf_worker "$work/share.data" "$@"
  perf report -i "$work/share.data" --no-children --sort dso --stdio -g none 2>/dev/null |
    awk '/ngx_http_mitigd_module/ { gsub("%", "", $1); print $1; found = 1 } END { if (!found) print "-" }'
}
[ "${PROFILE:-}" = get ] && { profile; exit 0; }
get="$(rounds get "$bare" "$ours" "$msget" -- )"
share_get="$(module_share)"
rm -f "$work"/manifests/*.json && cp "$work"/body50/*.json "$work/manifests/" && apply
sanity="$sanity; body: ours $(check_blocked -d 'autodiscovercmd0=;id' "http://127.0.0.1:$ours/x"), modsec $(check_blocked -d 'autodiscovercmd0=;id' "http://127.0.0.1:$msbody/x")"
[ "${PROFILE:-}" = post ] && { profile -s "$work/post.lua"; exit 0; }
post="-"; cg_post="post"; share_post="-"
if [ "${WORKLOAD:-both}" != get ]; then  # WORKLOAD=get: the GET workload alone (more rounds in the time)
  post="$(rounds post "$bare" "$ours" "$msbody" -- -s "$work/post.lua")"
  share_post="$(module_share -s "$work/post.lua")"
  printf '%s' "$form" > "$work/form.txt"
  cg_post="$(instructions post POST "$work/form.txt")"
fi
rm -f "$work"/manifests/*.json && cp "$work"/get300/*.json "$work/manifests/" && apply
cg_get="$(instructions get GET)"

echo "bench/body_rules: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), ModSecurity $(dpkg-query -W -f='${Version}' libmodsecurity3), 1 worker on CPU 0, wrk -t1 -c32 on CPU 1, ${ROUNDS:-11} alternating rounds"
echo "  a known exploit is refused by each engine (403 expected): $sanity"
python3 - "$get" "$post" "$bare" "$ours" "$msget" "$msbody" "$cg_get" "$cg_post" "$cg_bare" "$cg_ours" "$share_get" "$share_post" <<'PY'
import statistics, sys
get, post = sys.argv[1].split(), sys.argv[2].split()
bare, ours, msget, msbody = sys.argv[3:7]
cg = {line.split()[0]: line.split()[1:] for line in sys.argv[7:9]}
cg_bare, cg_ours = sys.argv[9:11]
share = {"get": sys.argv[11], "post": sys.argv[12]}
def table(line):
    by = {}
    for item in line[1:]:
        port, v = item.split("=")
        by.setdefault(port, []).append(tuple(float(x) for x in v.split(":")))
    return by
def instructions(name):
    by = {}
    for item in cg[name]:
        port, v = item.split("=")
        by.setdefault(port, []).append(int(v))
    b, o = min(by[cg_bare]), min(by[cg_ours])
    return (f"    instructions per request (callgrind, nginx's user space, {len(by[cg_bare])} runs each, least):"
            f" bare {b}, mitigd {o} (+{o - b}, +{(o - b) * 100 / b:.0f}%)")
def report(title, line, ms_port, target, name):
    by = table(line)
    b, o, m = by[bare], by[ours], by[ms_port]
    med = lambda xs, k: statistics.median(x[k] for x in xs)
    ratio_o = statistics.median(x[0] / y[0] for x, y in zip(o, b))
    ratio_m = statistics.median(x[0] / y[0] for x, y in zip(m, b))
    add_o, add_m = med(o, 1) - med(b, 1), med(m, 1) - med(b, 1)
    paired = statistics.median(y[1] - x[1] for x, y in zip(b, o))
    print(f"  {title}")
    print(f"    bare nginx:   {med(b, 0):9.0f} req/s, worker CPU {med(b, 1):7.0f} ns/request")
    print(f"    mitigd:       {med(o, 0):9.0f} req/s ({ratio_o * 100:5.1f}% of bare), {med(o, 1):7.0f} ns/request (+{add_o:.0f} ns; paired by round +{paired:.0f} ns; {target})")
    print(f"    ModSecurity:  {med(m, 0):9.0f} req/s ({ratio_m * 100:5.1f}% of bare), {med(m, 1):7.0f} ns/request (+{add_m:.0f} ns)")
    print(f"    mitigd vs ModSecurity: {med(o, 0) / med(m, 0):.1f}x the throughput, {add_m / max(add_o, 1):.0f}x less added CPU per request"
          f" (rounds, req/s bare/mitigd/ModSecurity: {', '.join(f'{x[0]:.0f}/{y[0]:.0f}/{z[0]:.0f}' for x, y, z in zip(b, o, m))})")
    bad = sum(x[2] for x in b + o + m)
    print(instructions(name))
    if share[name] != "-":
        print(f"    perf, a 3 s run on mitigd: the module's code is {share[name]}% of the worker's samples,"
              f" about {float(share[name]) / 100 * med(o, 1):.0f} ns of its {med(o, 1):.0f} ns per request")
    if bad: print(f"    WARNING: {bad:.0f} non-2xx answers during the runs")
report("benign GET (300-byte URI, browser headers), 300 rules: target >= 90% of bare, <= 1000 ns added", get, msget, "target <= 1000 ns", "get")
if post != ["-"]:
    report("benign POST (2 KiB urlencoded form), 50 body rules: target <= 10 us added", post, msbody, "target <= 10000 ns", "post")
PY
