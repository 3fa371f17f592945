#!/usr/bin/env bash
# Builds the two .debs with CPack (mitigd and libnginx-mod-http-mitigd), checks their contents, their
# dependencies (shared libraries; the nginx ABI for the module), size and lintian, then installs and
# purges both in a scratch root (dpkg --root, maintainer scripts chrootless with DPKG_ROOT) without
# touching the host. The live removal (revert, nginx starts after purge) is in unit_test.sh.
set -euo pipefail
build="$1"
work="$(mktemp -d /tmp/mitigd-deb-XXXXXX)"
trap 'rm -rf "$work"' EXIT
(cd "$build" && cpack -G DEB -B "$work/out" >/dev/null 2>&1)
deb="$(ls "$work"/out/mitigd_*.deb)"
mod="$(ls "$work"/out/libnginx-mod-http-mitigd_*.deb)"
has() {  # has DEB FILE...
  local d="$1"; shift
  dpkg-deb --contents "$d" > "$work/contents"
  for f in "$@"; do
    grep -q " $f\$" "$work/contents" || { echo "FAIL: $f missing from $(basename "$d")"; cat "$work/contents"; exit 1; }
  done
}
has "$deb" ./usr/bin/mitigd ./usr/bin/mitigctl ./usr/lib/systemd/system/mitigd.service ./etc/mitigd/mitigd.json \
    ./usr/share/man/man8/mitigd.8.gz ./usr/share/man/man8/mitigctl.8.gz ./usr/share/doc/mitigd/copyright \
    ./usr/share/doc/mitigd/docs/deploy.md ./usr/share/doc/mitigd/docs/json.md ./usr/share/mitigd/prometheus/mitigd-alerts.yml
has "$mod" ./usr/lib/nginx/modules/ngx_http_mitigd_module.so ./usr/share/nginx/modules-available/mod-http-mitigd.conf
if dpkg-deb --contents "$deb" | grep -q ngx_http_mitigd_module; then echo "FAIL: the module is in the mitigd package"; exit 1; fi
dpkg-deb --field "$deb" Depends | grep -q libbotan || { echo "FAIL: no shlib Depends"; exit 1; }
abi="$(sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)"
dpkg-deb --field "$mod" Depends | grep -q "$abi" || { echo "FAIL: the module does not depend on $abi"; exit 1; }
size=$(( $(stat -c %s "$deb") + $(stat -c %s "$mod") ))
[ "$size" -lt $((8 * 1024 * 1024)) ] || { echo "FAIL: the .debs are $size bytes together (limit 8 MB)"; exit 1; }
echo "ok: two packages, $size bytes together; the module depends on $abi"
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 "$deb" "$mod" > "$work/lintian" 2>&1 || true
  if grep -q "^E: " "$work/lintian"; then echo "FAIL: lintian reports errors:"; cat "$work/lintian"; exit 1; fi
  echo "ok: lintian reports no errors ($(grep -c '^W: ' "$work/lintian") warnings)"
fi
grep -q "^NoNewPrivileges=yes" <(dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards '*mitigd.service')
root="$work/root"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
touch "$root/var/lib/dpkg/status"
dpkg --root="$root" --force-script-chrootless --force-not-root --force-depends -i "$deb" "$mod" >/dev/null 2>>"$work/dpkg.log"
[ -x "$root/usr/bin/mitigd" ] || { echo "FAIL: not installed"; exit 1; }
[ -f "$root/etc/mitigd/policy/org.json" ] || { echo "FAIL: postinst did not create the policy repo"; exit 1; }
"$root/usr/bin/mitigctl" validate "$root/etc/mitigd/policy" >/dev/null
[ "$(readlink "$root/etc/nginx/modules-enabled/50-mod-http-mitigd.conf")" = /usr/share/nginx/modules-available/mod-http-mitigd.conf ] ||
  { echo "FAIL: the module package did not enable the module"; exit 1; }
dpkg --root="$root" --force-script-chrootless --force-not-root --purge mitigd libnginx-mod-http-mitigd >/dev/null 2>>"$work/dpkg.log"
[ ! -e "$root/etc/nginx/modules-enabled/50-mod-http-mitigd.conf" ] && [ ! -e "$root/etc/nginx/modules-enabled/50-mod-http-mitigd.conf.removed" ] ||
  { echo "FAIL: purge left the module's load link"; exit 1; }
[ ! -e "$root/usr/bin/mitigd" ] && [ ! -e "$root/var/lib/mitigd" ] && [ ! -e "$root/etc/mitigd" ] || {
  echo "FAIL: purge left files:"; find "$root" -path "$root/var/lib/dpkg" -prune -o -print | grep mitigd; exit 1; }
echo "ok: $(basename "$deb") and $(basename "$mod") install (binaries, unit, config, module link) and purge cleanly"
