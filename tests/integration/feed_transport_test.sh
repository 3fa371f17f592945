#!/usr/bin/env bash
# Feed transports, each against a real server on loopback: HTTPS with a configured CA (and refused
# without it, or for a name the certificate does not carry), an HTTP proxy for http:// (absolute
# form) and for https:// (CONNECT tunnel, TLS end to end), and a file:// mirror directory.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
new_workdir transport
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
verify() { "$MITIGCTL" feed verify "$@" >/dev/null; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

repo="$root/examples/feed/repo"; trust="$root/examples/feed/root.json"
# A private CA and a certificate for 127.0.0.1 only.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=mitigd test CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null
https_port="$(free_port)"; http_port="$(free_port)"; proxy_port="$(free_port)"
python3 "$root/tests/integration/https_server.py" "$https_port" "$repo" "$work/server.pem" "$work/server.key" 2>/dev/null & pids+=($!)
python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$repo" >/dev/null 2>&1 & pids+=($!)
python3 "$root/tests/integration/http_proxy.py" "$proxy_port" "$work/proxy.log" 2>/dev/null & pids+=($!)
wait_port "$https_port" && wait_port "$http_port" && wait_port "$proxy_port" || { echo "servers did not start"; exit 1; }

https="https://127.0.0.1:$https_port"
check "HTTPS with the configured CA verifies the feed" \
  verify "$https/metadata/" --targets-url "$https/targets/" --root "$trust" --ca-file "$work/ca.pem"
out="$("$MITIGCTL" feed verify "$https/metadata/" --targets-url "$https/targets/" --root "$trust" 2>&1)"; rc=$?
check "HTTPS without that CA (system CAs only) is refused" [ $rc -ne 0 ]
check "  ... with a certificate error" grep -qi "certificate verify failed" <<<"$out"
out="$("$MITIGCTL" feed verify "https://localhost:$https_port/metadata/" --targets-url "https://localhost:$https_port/targets/" \
  --root "$trust" --ca-file "$work/ca.pem" 2>&1)"; rc=$?
check "HTTPS to a name the certificate does not carry is refused" [ $rc -ne 0 ]
check "  ... by certificate verification (not a connection error)" grep -qi "certificate verify failed" <<<"$out"

: > "$work/proxy.log"
check "http:// through the proxy verifies" verify "http://127.0.0.1:$http_port/metadata/" \
  --targets-url "http://127.0.0.1:$http_port/targets/" --root "$trust" --proxy "http://127.0.0.1:$proxy_port"
check "  ... and the proxy saw absolute-form requests" grep -q "^GET http://127.0.0.1:$http_port/metadata/timestamp.json" "$work/proxy.log"
: > "$work/proxy.log"
check "https:// through the proxy (CONNECT, TLS end to end) verifies" verify "$https/metadata/" \
  --targets-url "$https/targets/" --root "$trust" --ca-file "$work/ca.pem" --proxy "http://127.0.0.1:$proxy_port"
check "  ... and the proxy only saw CONNECT" bash -c "grep -q '^CONNECT 127.0.0.1:$https_port' '$work/proxy.log' && ! grep -q '^GET' '$work/proxy.log'"

check "a file:// mirror directory verifies" verify "$repo" --root "$trust"
cp -r "$repo" "$work/mirror"
echo tampered >> "$work/mirror/metadata/1.mitigations.json"
out="$("$MITIGCTL" feed verify "$work/mirror" --root "$trust" 2>&1)"; rc=$?
check "a tampered mirror is refused" [ $rc -ne 0 ]
echo "$failures failures"
exit $(( failures > 0 ))
