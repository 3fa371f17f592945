#!/usr/bin/env bash
# Builds the .deb with CPack, checks its contents, then installs and purges it in a scratch root
# (dpkg --root, maintainer scripts run chrootless with DPKG_ROOT) without touching the host.
set -euo pipefail
build="$1"
work="$(mktemp -d /tmp/mitigd-deb-XXXXXX)"
trap 'rm -rf "$work"' EXIT
(cd "$build" && cpack -G DEB -B "$work/out" >/dev/null)
deb="$(ls "$work"/out/mitigd_*.deb)"
dpkg-deb --contents "$deb" > "$work/contents"
for f in ./usr/bin/mitigd ./usr/bin/mitigctl ./usr/lib/systemd/system/mitigd.service ./etc/mitigd/mitigd.json \
         ./usr/lib/nginx/modules/ngx_http_mitigd_module.so ./usr/share/nginx/modules-available/mod-http-mitigd.conf; do
  grep -q " $f\$" "$work/contents" || grep -q " ${f/usr\/lib/lib}\$" "$work/contents" || { echo "FAIL: $f missing from the package"; cat "$work/contents"; exit 1; }
done
dpkg-deb --field "$deb" Depends | grep -q libbotan || { echo "FAIL: no shlib Depends"; exit 1; }
grep -q "^NoNewPrivileges=yes" <(dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards '*mitigd.service')
root="$work/root"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
touch "$root/var/lib/dpkg/status"
dpkg --root="$root" --force-script-chrootless --force-not-root --force-depends -i "$deb" >/dev/null
[ -x "$root/usr/bin/mitigd" ] || { echo "FAIL: not installed"; exit 1; }
[ -f "$root/etc/mitigd/policy/org.json" ] || { echo "FAIL: postinst did not create the policy repo"; exit 1; }
"$root/usr/bin/mitigctl" validate "$root/etc/mitigd/policy" >/dev/null
dpkg --root="$root" --force-script-chrootless --force-not-root --purge mitigd >/dev/null
[ ! -e "$root/usr/bin/mitigd" ] && [ ! -e "$root/var/lib/mitigd" ] && [ ! -e "$root/etc/mitigd" ] || {
  echo "FAIL: purge left files:"; find "$root" -path "$root/var/lib/dpkg" -prune -o -print | grep mitigd; exit 1; }
echo "ok: $(basename "$deb") installs (binaries, unit, config, postinst) and purges cleanly"
