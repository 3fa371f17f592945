#!/usr/bin/env bash
# How long `nginx -t` (and so every reload) takes with many module rules, each gated by 16 literals:
# the configuration load must stay near-linear (it was quadratic in the literals: 22 s at 1,000
# rules). Prints the seconds per rule count and the ratio to 1 s for 2,000 rules (the target).
# Usage: bench/module_load.sh [MODULE_SO]   (asserts nothing)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
module="$(realpath "${1:-$root/build/nginx_module/ngx_http_mitigd_module.so}")"
work="$(mktemp -d /tmp/mitigd-modload-XXXXXX)"
trap 'rm -rf "$work"' EXIT
for n in 250 1000 2000; do
  python3 - "$n" > "$work/rules.conf" <<'PY'
import sys, random
random.seed(7)
n = int(sys.argv[1])
for r in range(n):
    lits = ",".join(("x-backend-%d-%d=" % (r, k)).encode().hex() for k in range(16))
    print(f'mitigd_rule "R{r}#0" 403 when "request_uri" raw ~* "x-backend-{r}-\\d+=" literals {lits};')
PY
  cat > "$work/nginx.conf" <<NGINX
load_module $module;
pid $work/nginx.pid;
events { worker_connections 64; }
http { server { listen 127.0.0.1:1; include $work/rules.conf; } }
NGINX
  best=""
  for round in 1 2 3; do
    start=$(date +%s%N)
    nginx -p "$work" -c nginx.conf -e "$work/error.log" -t -q
    t=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "module_load: $n rules x 16 literals: nginx -t $best ms (best of 3)"
  [ "$n" = 2000 ] && echo "module_load: ratio to the 1 s target at 2,000 rules: $(python3 -c "print(round($best/1000, 2))")"
done
