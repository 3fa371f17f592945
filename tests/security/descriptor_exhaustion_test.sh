#!/usr/bin/env bash
# Security review, issue 14 finding 1: a local user holding ~1,100 loopback connections to the
# metrics port and the control socket (the daemon limited to 256 descriptors) made the accept
# loops end for good: /metrics and the control socket stayed dead after the attacker left. Now the
# daemon caps clients, puts deadlines on reads, survives EMFILE, and keeps working.
set -uo pipefail
MITIGD="$1"; MITIGCTL="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir dos --examples
mkdir -p "$work/var"
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
wait_until() { local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
  while [ "$(date +%s%N)" -lt $deadline ]; do "$@" && return 0; sleep 0.1; done; "$@"; }
metrics_port="$(free_port)"
# No web server here: only the daemon's own sockets are attacked.
python3 - "$work/server/inventory.json" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1])); inv.pop("web_server", None); inv.pop("vdirs", None)
json.dump(inv, open(sys.argv[1], "w"))
PY
sed -i "s/127.0.0.1:19464/127.0.0.1:$metrics_port/" "$work/mitigd.json"
export MITIGD_CONFIG="$work/mitigd.json"
( ulimit -n 256; exec "$MITIGD" --config "$work/mitigd.json" 2>"$work/daemon.log" ) & daemon=$!; pids+=($daemon)
metrics_up() { curl -sf -m 2 "127.0.0.1:$metrics_port/metrics" | grep -q '^mitigd_reconciles_total'; }
check "the daemon serves metrics" wait_until 10 metrics_up

# The attacker: 1,100 connections to each socket, held for 4 s, sending nothing.
python3 - "$metrics_port" "$work/var/control.sock" <<'PY'
import resource, socket, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY and hard < 4096 else 4096, hard))
held = []
for _ in range(1100):
    for family, addr in ((socket.AF_INET, ("127.0.0.1", int(sys.argv[1]))), (socket.AF_UNIX, sys.argv[2])):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(0.2)
        try:
            s.connect(addr); held.append(s)
        except OSError:
            s.close()
print(f"     attacker holds {len(held)} connections")
time.sleep(4)
for s in held: s.close()
PY
check "the daemon survived" kill -0 $daemon
check "metrics answer again once the attacker left" wait_until 15 metrics_up
check "the control socket answers again (mitigctl apply through the daemon)" wait_until 15 bash -c "'$MITIGCTL' apply >/dev/null 2>&1 && '$MITIGCTL' apply 2>&1 | grep -q 'of the mitigd daemon'"
# A slow client that sends a partial request is cut off by the deadline, not held forever.
check "a half-sent request is closed by the deadline" python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(b"GET /metrics HTTP/1.1\r\n")
s.settimeout(10); t = time.time(); d = s.recv(100); sys.exit(0 if time.time() - t < 8 else 1)' "$metrics_port"
check "an over-long control request is refused" python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
try:
    s.sendall(b"{" + b" " * 200000 + b"\n")
    d = s.recv(4096)
except OSError:
    sys.exit(0)  # reset: refused
sys.exit(0 if b"too long" in d or d == b"" else 1)' "$work/var/control.sock"
kill -TERM $daemon
check "SIGTERM stops the daemon" wait_until 5 bash -c "! kill -0 $daemon 2>/dev/null"
echo "$failures failures"
exit $(( failures > 0 ))
