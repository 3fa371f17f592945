# A real systemd for tests: a debootstrapped Debian 12 root (cached in $MITIGD_TEST_ROOTFS, by
# default /var/cache/mitigd-test/rootfs-bookworm: ~35-65 s the first time, then reused), booted
# with systemd-nspawn --volatile=overlay so every boot starts clean. Never systemd as PID 1
# through unshare on the host (its boot clean-up wipes the host's /tmp).
#   ensure_rootfs
#   ensure_web_rootfs                       a copy with nginx and mitigd's runtime libraries (cached)
#   boot_systemd NAME UNITS_DIR BUS_DIR [NSPAWN_ARGS...]   sets nspawn_pid and leader (PID 1 inside);
#                                           $boot_root chooses the root (default: the plain one)
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

# The packages of the web root: nginx, and what mitigd's .deb depends on (from Debian's archive, with
# the host's apt sources). Changing the list rebuilds the cache.
web_rootfs="$rootfs-web"
web_packages="nginx curl man-db procps libbotan-2-19 libboost-json1.81.0 libsqlite3-0 libssl3 libpcre2-8-0 libyaml-0-2 adduser"

ensure_web_rootfs() {
  local stamp="$web_rootfs/.mitigd-packages"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$web_packages" ] && return 0
  ensure_rootfs || return 1
  (
    flock 9
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$web_packages" ] && exit 0
    local tmp="$web_rootfs.tmp"
    rm -rf "$tmp" && cp -a "$rootfs" "$tmp"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      cp /etc/apt/sources.list.d/debian.sources "$tmp/etc/apt/sources.list.d/" && rm -f "$tmp/etc/apt/sources.list"
    fi
    grep -l '^Acquire::' /etc/apt/apt.conf.d/* 2>/dev/null | xargs -r cp -t "$tmp/etc/apt/apt.conf.d/"
    printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d" && chmod +x "$tmp/usr/sbin/policy-rc.d"
    echo "installing $web_packages into a copy of the test root ($web_rootfs, cached)" >&2
    # shellcheck disable=SC2086
    systemd-nspawn -q -D "$tmp" --register=no --keep-unit --pipe /bin/sh -c \
      "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $web_packages && apt-get clean" \
      >"$tmp.log" 2>&1 || { echo "apt-get in the test root failed:" >&2; tail -20 "$tmp.log" >&2; exit 1; }
    rm -f "$tmp/usr/sbin/policy-rc.d"
    echo "$web_packages" > "$tmp/.mitigd-packages"
    rm -rf "$web_rootfs" && mv "$tmp" "$web_rootfs"
  ) 9>"$(dirname "$rootfs")/.lock"
}

boot_systemd() {
  local name="$1" units="$2" bus="$3" state
  shift 3
  setsid systemd-nspawn -D "${boot_root:-$rootfs}" --boot --register=no --keep-unit --machine="$name" --console=passive \
    --volatile=overlay --bind="$units:/usr/local/lib/systemd/system" --bind="$bus:/run/dbus" "$@" >/dev/null 2>&1 &
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
