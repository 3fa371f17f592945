#!/usr/bin/env bash
# bench/idle_footprint: the daemon's cost when nothing changes. The example server and the
# example signed feed over loopback HTTP, default drift timer, a 60 s poll; after convergence
# the daemon is watched for SECONDS (default 60): RSS (VmRSS, VmHWM) and CPU time from /proc.
# Targets (issue #7): RSS under 15 MB, CPU under 0.5%.
# Usage: bench/idle_footprint.sh [BUILD_DIR] [SECONDS]   (prints figures; asserts nothing)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
seconds="${2:-60}"
source "$root/scripts/lib/site.sh"
new_workdir idle --examples
start_site "$work" "$root" >/dev/null
feed_port="$(free_port)"
python3 -m http.server "$feed_port" --bind 127.0.0.1 --directory "$work/feed/repo" >/dev/null 2>&1 & pids+=($!)
metrics_port="$(free_port)"
sed -i "s/127.0.0.1:18081/127.0.0.1:$feed_port/g; s/\"poll_interval_seconds\": 300/\"poll_interval_seconds\": 60/; s/127.0.0.1:19464/127.0.0.1:$metrics_port/" "$work/mitigd-feed.json"
"$build/daemon/mitigd" --config "$work/mitigd-feed.json" 2>"$work/daemon.log" & daemon=$!; pids+=($daemon)
for _ in $(seq 200); do curl -s "127.0.0.1:$metrics_port/metrics" | grep -q '^mitigd_mitigations{status="applied"} [1-9]' && break; sleep 0.1; done
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s%N)
sleep "$seconds"
[ -n "${SMAPS_OUT:-}" ] && cp "/proc/$daemon/smaps" "$SMAPS_OUT"
t1=$(ticks); s1=$(date +%s%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status"); hwm=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
anon=$(awk '/RssAnon/ {print $2}' "/proc/$daemon/status"); file=$(awk '/RssFile/ {print $2}' "/proc/$daemon/status")
awk -v t=$((t1 - t0)) -v hz="$hz" -v ns=$((s1 - s0)) -v rss="$rss" -v hwm="$hwm" -v anon="$anon" -v file="$file" -v s="$seconds" 'BEGIN {
  cpu = t / hz; wall = ns / 1e9
  printf "idle_footprint: mitigd converged on the example server and feed, watched for %d s\n", s
  printf "  CPU %.2f s of %.1f s = %.3f%% (target < 0.5%%: ratio %.2f)\n", cpu, wall, 100 * cpu / wall, (100 * cpu / wall) / 0.5
  printf "  RSS %.1f MB now (%.1f MB private heap and stacks, %.1f MB shared libraries and files), %.1f MB peak\n", rss / 1024, anon / 1024, file / 1024, hwm / 1024
  printf "  target < 15 MB: ratio %.2f\n", (rss / 1024) / 15
}'
