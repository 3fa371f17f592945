# Shared by the nginx benches (web_rules.sh, body_rules.sh): the worker's own CPU time, one wrk run
# measured by it, and mitigd's files beside a bench nginx. Expects $prefix (the nginx prefix, with
# mitigd/http and mitigd/server include dirs and conf/nginx.conf) and $work.

# "PID NS": the nginx worker and its CPU time so far (/proc/PID/schedstat), which time stolen by
# other tenants of the machine does not inflate.
worker_cpu_ns() { local w; w="$(pgrep -P "$(cat "$prefix/nginx.pid")" | head -1)"; echo "$w $(cut -d' ' -f1 "/proc/$w/schedstat")"; }

# wrk_cpu URL [WRK_ARGS...]: wrk on CPU 1 (the worker is pinned to CPU 0) for WRK_SECONDS (2);
# prints REQ_PER_S:WORKER_CPU_NS_PER_REQUEST:NON_2XX_ANSWERS.
wrk_cpu() {
  local url="$1" before after out; shift
  before="$(worker_cpu_ns)"
  out="$(taskset -c 1 wrk -t1 -c32 -d"${WRK_SECONDS:-2}"s "$@" "$url")"
  after="$(worker_cpu_ns)"
  python3 - "$before" "$after" "$out" <<'PY'
import re, sys
(wb, cb), (wa, ca) = sys.argv[1].split(), sys.argv[2].split()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", sys.argv[3]).group(1))
total = int(re.search(r"(\d+) requests in", sys.argv[3]).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", sys.argv[3])
ns = (int(ca) - int(cb)) / total if wb == wa else 0.0  # 0: the worker was replaced meanwhile
print(f"{rps:.0f}:{ns:.0f}:{bad.group(1) if bad else 0}")
PY
}

# bench_inventory ENGINE PROBE_PORT: mitigd's inventory for the bench nginx (rules_engine ENGINE).
bench_inventory() {
  cat > "$work/inventory.json" <<J
{ "host": "bench", "products": { "exchange": { "version": { "file": "version" } } },
  "web_server": { "kind": "nginx", "rules_engine": "$1", "http_include_dir": "$prefix/mitigd/http", "server_include_dir": "$prefix/mitigd/server",
    "validate": ["nginx", "-p", "$prefix", "-c", "conf/nginx.conf", "-e", "logs/error.log", "-t", "-q"],
    "reload": ["nginx", "-p", "$prefix", "-c", "conf/nginx.conf", "-e", "logs/error.log", "-s", "reload"],
    "probe_url": "http://127.0.0.1:$2" } }
J
}

# bench_mitigd ENGINE PROBE_PORT: policy (enabled), an unpatched Exchange version, the inventory and
# mitigd.json in $work; exports MITIGD_CONFIG (manifests go to $work/manifests).
bench_mitigd() {
  mkdir -p "$work"/{manifests,policy/servers}
  echo '{ "mitigations_enabled": true }' > "$work/policy/org.json"
  echo "15.2.1118.7" > "$work/version"
  bench_inventory "$1" "$2"
  echo "{ \"inventory\": \"inventory.json\", \"policy_dir\": \"policy\", \"manifests_dir\": \"manifests\", \"state_db\": \"state.db\" }" > "$work/mitigd.json"
  export MITIGD_CONFIG="$work/mitigd.json"
}
