#!/usr/bin/env bash
# bench/time_to_mitigate: how long from a vendor publishing a new mitigation to the exploit being
# dropped on a server, with mitigd polling the signed feed every second, against the baseline of
# ../shared/TESTING.md run in the same script: an Ansible (ansible-core) local playbook that
# writes one nginx rule file and reloads nginx.
#  - mitigd: N rounds; each publishes a new mitigation (mitigctl feed add + publish, a new
#    timestamp) and measures until the exploit request for it is dropped by the real nginx.
#    Target: median < poll interval + 200 ms.
#  - Ansible: the same kind of change pushed by hand (a playbook run), timed end to end. This is
#    only the push; someone still has to notice the advisory and run it.
# Usage: bench/time_to_mitigate.sh [BUILD_DIR] [ROUNDS]   (prints figures and ratios; asserts nothing)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
rounds="${2:-9}"
mitigd="$build/daemon/mitigd"; mitigctl="$build/daemon/mitigctl"
source "$root/scripts/lib/site.sh"
new_workdir ttm --examples
start_site "$work" "$root" >/dev/null
url="http://127.0.0.1:$site_port"

keys="$work/keys"; repo="$work/repo"
for r in root timestamp snapshot targets mitigations; do "$mitigctl" feed keygen --out "$keys/$r" >/dev/null; done
"$mitigctl" feed init "$repo" --root "$keys/root.pub" --timestamp "$keys/timestamp.pub" --snapshot "$keys/snapshot.pub" \
  --targets "$keys/targets.pub" --mitigations "$keys/mitigations.pub" >/dev/null
"$mitigctl" feed publish "$repo" --keys-dir "$keys" >/dev/null
feed_port="$(free_port)"
python3 -m http.server "$feed_port" --bind 127.0.0.1 --directory "$repo" >/dev/null 2>&1 & pids+=($!)
cat > "$work/mitigd.json" <<JSON
{ "inventory": "server/inventory.json", "policy_dir": "policy", "state_db": "var/state.db",
  "feed": { "metadata_url": "http://127.0.0.1:$feed_port/metadata/", "targets_url": "http://127.0.0.1:$feed_port/targets/",
            "trusted_root": "$repo/metadata/1.root.json" },
  "poll_interval_seconds": 1, "drift_interval_seconds": 600, "metrics_listen": "", "control_socket": "var/control.sock" }
JSON
"$mitigd" --config "$work/mitigd.json" 2>"$work/daemon.log" & pids+=($!)
sleep 1

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
times=()
for i in $(seq 1 "$rounds"); do
  id="T$i"
  cat > "$work/$id.json" <<JSON
{ "schema": 1, "id": "$id", "revision": 1, "title": "bench mitigation $i", "description": "drops /exploit-$i",
  "cves": [], "severity": "high",
  "applies_to": { "product": "exchange", "scheme": "dotted", "min": "15.0.0.0", "fixed_in": "99.0" },
  "actions": [ { "kind": "rewrite_rule", "name": "exploit $i", "when": [ { "input": "request_uri", "pattern": "^/exploit-$i\\\\b" } ], "respond": "abort" } ],
  "probes": [ { "request": { "method": "GET", "target": "/exploit-$i" }, "expect": "blocked" } ] }
JSON
  # Publish at a random point of the poll cycle, as a vendor would.
  sleep "0.$(( RANDOM % 10 ))"
  "$mitigctl" feed add "$repo" "$work/$id.json" >/dev/null
  start=$(now_ms)
  "$mitigctl" feed publish "$repo" --keys-dir "$keys" >/dev/null
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/exploit-$i")" = 000 ]; do
    [ $(( $(now_ms) - start )) -lt 10000 ] || { echo "round $i: not enforced after 10 s" >&2; exit 1; }
    sleep 0.005
  done
  times+=($(( $(now_ms) - start )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
median=${sorted[$(( rounds / 2 ))]}
echo "time_to_mitigate: mitigd, signed feed over loopback HTTP, poll interval 1000 ms, $rounds rounds"
echo "  publish -> exploit dropped (ms): ${times[*]}"
echo "  median ${median} ms, min ${sorted[0]} ms, max ${sorted[$(( rounds - 1 ))]} ms; target < 1200 ms (poll + 200 ms)"

# The baseline: an Ansible push of the same kind of change.
if ! command -v ansible-playbook >/dev/null; then
  echo "  (installing ansible-core for the baseline)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible-core >/dev/null
fi
prefix="$work/var/nginx"
cat > "$work/play.yml" <<YAML
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: write the rule file
      copy:
        dest: "$prefix/mitigd/server/ansible-{{ n }}.conf"
        content: "if (\$request_uri ~* \"^/ansible-{{ n }}\") { return 444; }\n"
    - name: reload nginx
      command: nginx -p "$prefix" -c conf/nginx.conf -s reload
YAML
ans=()
for i in 1 2 3; do
  start=$(now_ms)
  ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
    ansible-playbook -i localhost, "$work/play.yml" -e "n=$i" >/dev/null
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/ansible-$i")" = 000 ]; do sleep 0.005; done
  ans+=($(( $(now_ms) - start )))
done
asorted=($(printf '%s\n' "${ans[@]}" | sort -n))
amedian=${asorted[1]}
echo "baseline: ansible-playbook (local, writes one nginx rule file and reloads nginx), 3 runs"
echo "  run -> exploit dropped (ms): ${ans[*]}; median ${amedian} ms"
awk -v m="$median" -v a="$amedian" 'BEGIN { printf "ratio: mitigd (publish to enforced, including the poll wait) / ansible push = %.2f\n", m / a }'
