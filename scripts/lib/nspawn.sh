# A real systemd for tests: a debootstrapped Debian 12 root (cached in $MITIGD_TEST_ROOTFS, by
# default /var/cache/mitigd-test/rootfs-bookworm: ~35-65 s the first time, then reused), booted
# with systemd-nspawn --volatile=overlay so every boot starts clean. Never systemd as PID 1
# through unshare on the host (its boot clean-up wipes the host's /tmp).
#   ensure_rootfs
#   boot_systemd NAME UNITS_DIR BUS_DIR     sets nspawn_pid and leader (the container's PID 1)
#   in_container CMD...                     runs CMD inside (nsenter)
#   stop_systemd
rootfs="${MITIGD_TEST_ROOTFS:-/var/cache/mitigd-test/rootfs-bookworm}"

ensure_rootfs() {
  [ -x "$rootfs/lib/systemd/systemd" ] && return 0
  command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd-container debootstrap >/dev/null
  }
  mkdir -p "$(dirname "$rootfs")"
  (
    flock 9
    [ -x "$rootfs/lib/systemd/systemd" ] && exit 0
    rm -rf "$rootfs.tmp"
    echo "debootstrapping a Debian 12 root for systemd tests into $rootfs (cached for next runs)" >&2
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$rootfs.tmp" >/dev/null
    mv "$rootfs.tmp" "$rootfs"
  ) 9>"$(dirname "$rootfs")/.lock"
}

boot_systemd() {
  local name="$1" units="$2" bus="$3" state
  setsid systemd-nspawn -D "$rootfs" --boot --register=no --keep-unit --machine="$name" --console=passive \
    --volatile=overlay --bind="$units:/usr/local/lib/systemd/system" --bind="$bus:/run/dbus" >/dev/null 2>&1 &
  nspawn_pid=$!
  leader=""
  for _ in $(seq 300); do
    [ -n "$leader" ] || leader="$(pgrep -P "$nspawn_pid" -x systemd || true)"
    if [ -n "$leader" ]; then
      state="$(nsenter -t "$leader" -a systemctl is-system-running 2>/dev/null || true)"
      case "$state" in running|degraded) return 0 ;; esac
    fi
    sleep 0.05
  done
  echo "systemd in the container did not come up (state: ${state:-none})" >&2
  return 1
}

in_container() { nsenter -t "$leader" -a "$@"; }

stop_systemd() {
  [ -n "${nspawn_pid:-}" ] || return 0
  kill -TERM "$nspawn_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
}
