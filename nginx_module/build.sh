#!/usr/bin/env bash
# Builds ngx_http_mitigd_module.so against the installed nginx (Debian's nginx-dev: headers and
# configure flags of the packaged nginx, --with-compat, so the module loads into it).
# Usage: nginx_module/build.sh OUT_DIR    -> OUT_DIR/ngx_http_mitigd_module.so
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
src=/usr/share/nginx/src
[ -f "$src/conf_flags" ] || { echo "nginx_module/build.sh: $src/conf_flags missing: apt-get install nginx-dev" >&2; exit 1; }
tree="$out/nginx-src"
stamp="$tree/.configured-$(md5sum "$src/conf_flags" "$here/config" | md5sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  rm -rf "$tree" && cp -r "$src" "$tree"
  # shellcheck disable=SC1091
  (cd "$tree" && source ./conf_flags && ./configure "${NGX_CONF_FLAGS[@]}" \
     --with-cc-opt='-g -O2 -fstack-protector-strong -fPIC -D_FORTIFY_SOURCE=2' \
     --with-ld-opt='-Wl,-z,relro -Wl,-z,now -fPIC' --add-dynamic-module="$here" >"$out/configure.log" 2>&1) ||
    { echo "nginx_module/build.sh: configure failed, see $out/configure.log" >&2; exit 1; }
  touch "$stamp"
fi
make -s -C "$tree" -f objs/Makefile modules >"$out/make.log" 2>&1 || { cat "$out/make.log" >&2; exit 1; }
cp "$tree/objs/ngx_http_mitigd_module.so" "$out/ngx_http_mitigd_module.so"
# The package's copy, stripped as dh_strip would (the build's copy keeps its symbols for gdb).
mkdir -p "$out/package"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
  -o "$out/package/ngx_http_mitigd_module.so" "$out/ngx_http_mitigd_module.so"
