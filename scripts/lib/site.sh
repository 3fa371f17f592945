# Shared by the demo and the shell integration tests: an Exchange-like app behind a private nginx
# on loopback, for a copy of examples/ in $work. Sets site_port and appends to the pids array.
# Usage: start_site "$work" "$repo_root"
# The nginx loads mitigd's module (examples/server/inventory.json has "rules_engine": "module"):
# $MITIGD_NGINX_MODULE, by default the one scripts/build.sh writes.
# new_workdir NAME [--examples]: a scratch directory in $work, removed on exit once every pid in
# $pids is stopped; with --examples it starts as a copy of examples/ (without its var/).
# Needs $root, the repository. A script with more to clean up keeps its own trap.
new_workdir() {
  work="$(mktemp -d "/tmp/mitigd-$1-XXXXXX")"
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
  if [ "${2:-}" = --examples ]; then
    cp -r "$root/examples/." "$work/"
    rm -rf "$work/var"
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_site() {
  local work="$1" root="$2" app_port prefix
  local module="${MITIGD_NGINX_MODULE:-$root/build/nginx_module/ngx_http_mitigd_module.so}"
  module="$(realpath -e "$module" 2>/dev/null || echo "$module")"  # nginx resolves against its prefix
  [ -f "$module" ] || { echo "start_site: $module is missing (scripts/build.sh builds it; it needs nginx-dev)" >&2; return 1; }
  app_port="$(free_port)"
  site_port="$(free_port)"
  sed -i "s#http://127.0.0.1:18080#http://127.0.0.1:$site_port#" "$work/server/inventory.json"
  python3 "$root/tests/integration/upstream_app.py" "$app_port" >/dev/null & pids+=($!)
  prefix="$work/var/nginx"
  chmod 711 "$work"  # the workers (nobody) write bodies past client_body_buffer_size to $prefix/tmp/body
  mkdir -p "$prefix"/{conf,logs,tmp} "$prefix"/mitigd/{http,server}
  cat > "$prefix/conf/nginx.conf" <<NGINX
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_set_misc_module.so;
load_module $module;
pid $prefix/nginx.pid;
pcre_jit on;
worker_processes 1;
events { worker_connections 512; }
http {
  log_format mitigd '\$request_method \$uri \$status blocked_by=\$mitigd_blocked_by detected_by=\$mitigd_detected_by';
  access_log logs/access.log mitigd;
  client_body_temp_path $prefix/tmp/body; proxy_temp_path $prefix/tmp/proxy;
  fastcgi_temp_path $prefix/tmp/fcgi; uwsgi_temp_path $prefix/tmp/uwsgi; scgi_temp_path $prefix/tmp/scgi;
  include $prefix/mitigd/http/*.conf;
  upstream exchange { server 127.0.0.1:$app_port; keepalive 8; }
  server {
    listen 127.0.0.1:$site_port;
    include $prefix/mitigd/server/*.conf;
    location / { proxy_pass http://exchange; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
  nginx -p "$prefix" -c conf/nginx.conf -e logs/error.log -g 'daemon off;' & pids+=($!)
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$site_port/" && return 0; sleep 0.05; done
  echo "site did not start" >&2
  return 1
}
