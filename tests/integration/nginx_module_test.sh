#!/usr/bin/env bash
# ngx_http_mitigd_module on its own, with hand-written mitigd_rule directives in a real nginx:
# the literal gate is consulted (a rule whose literal is absent does not run), rules without
# literals run always, long inputs, several Cookie headers, $mitigd_blocked_by, and the clear
# `nginx -t` errors for malformed directives.
# Usage: nginx_module_test.sh MODULE_SO
set -uo pipefail
module="$(realpath "$1")"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"   # new_workdir, free_port
new_workdir module
port="$(free_port)"
fails=0
check() {  # check NAME COMMAND...
  local name="$1"; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=1; fi
}
write_conf() {  # write_conf RULES...   (one server with the rules, answering 200 otherwise)
  cat > "$work/nginx.conf" <<NGINX
load_module $module;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 64; }
http {
  log_format m '\$request_method \$request_uri \$status [\$mitigd_blocked_by]';
  access_log $work/access.log m;
  client_body_temp_path $work/tmp;
  server {
    listen 127.0.0.1:$port;
$(printf '    %s\n' "$@")
    location / { return 200 "app\n"; }
  }
}
NGINX
}
ngx() { nginx -p "$work" -c nginx.conf -e "$work/error.log" "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# 1. Semantics of the gate. The literal "zzz" is deliberately one the pattern does not need, so
# that whether the rule ran shows: mitigd's compiler never writes such a pair.
write_conf \
  'mitigd_rule "gate#0" 403 when "request_uri" raw ~* "abc" literals 7a7a7a;' \
  'mitigd_rule "always#0" 403 when "method" raw ~ "^DELETE$";' \
  'mitigd_rule "drop#0" 444 when "query" decoded ~* "(?:^|&)x=\.\./" literals 783d2e2e2f;' \
  'mitigd_rule "cookie#0" 403 when "cookie" raw ~* "X-BEResource=.*~" literals 782d62657265736f757263653d;' \
  'mitigd_rule "long#0" 403 when "request_uri" raw ~* "needle" literals 6e6565646c65;'
mkdir -p "$work/tmp"
ngx -t -q || { echo "FAIL the valid configuration does not validate"; cat "$work/error.log"; exit 1; }
nginx -p "$work" -c nginx.conf -e "$work/error.log" -g 'daemon off;' & pids+=($!)  # not the function: $! must be nginx itself
for _ in $(seq 100); do [ "$(code "http://127.0.0.1:$port/")" = 200 ] && break; sleep 0.05; done
base="http://127.0.0.1:$port"
check "a rule whose literal is absent does not run (/abc passes)"  [ "$(code "$base/abc")" = 200 ]
check "the same rule runs once its literal occurs (/abc?zzz: 403)"   [ "$(code "$base/abc?zzz")" = 403 ]
check "the literal matches case-insensitively (/abc?ZZZ: 403)"      [ "$(code "$base/abc?ZZZ")" = 403 ]
check "a rule without literals runs for every request (DELETE: 403)" [ "$(code -X DELETE "$base/x")" = 403 ]
check "GET is not DELETE (200)"                                      [ "$(code "$base/x")" = 200 ]
check "444 drops the connection, decoded query x=%2E%2E%2F"          [ "$(code "$base/?a=1&x=%2E%2E%2F")" = 000 ]
check "a cookie in the second of two Cookie headers (403)" \
  [ "$(code -H 'Cookie: a=1' -H 'Cookie: X-BEResource=h/p~1' "$base/")" = 403 ]
many=(); for i in $(seq 30); do many+=(-H "X-Filler-$i: v"); done
check "a Cookie header after 30 others (past the first header-list part: 403)" \
  [ "$(code "${many[@]}" -H 'Cookie: X-BEResource=h/p~1' "$base/")" = 403 ]
long="$(head -c 3000 /dev/zero | tr '\0' 'a')"
check "a 3000-byte request URI with the literal at its end (403)"    [ "$(code "$base/$long/needle")" = 403 ]
check "the same URI without it (200)"                                [ "$(code "$base/$long/hay")" = 200 ]
check "\$mitigd_blocked_by names the rule in the access log" grep -q '^GET /abc?zzz 403 \[gate#0\]$' "$work/access.log"
check "\$mitigd_blocked_by is empty for a passed request"   grep -q '^GET /abc 200 \[-\]$' "$work/access.log"

# Security review, issue 14 finding 4: a regex error (here a low match limit on a catastrophic
# pattern) in a negated condition let the request through. An engine error makes the rule match.
write_conf \
  'mitigd_rule "neg#0" 403 when "request_uri" raw !~ "(*LIMIT_MATCH=2000)^/n/(a|aa)+$" when "path" raw ~ "^/n/";' \
  'mitigd_rule "pos#0" 403 when "request_uri" raw ~ "(*LIMIT_MATCH=2000)^/p/(a|aa)+$";'
ngx -s reload
slow="$(head -c 40 /dev/zero | tr '\0' 'a')b"
for _ in $(seq 100); do [ "$(code "$base/n/ok")" = 200 ] && grep -q neg "$work/nginx.conf" && break; sleep 0.05; done
sleep 0.3
check "negated condition, engine error: the rule matches (403, fails closed)" [ "$(code "$base/n/$slow")" = 403 ]
check "positive condition, engine error: the rule matches (403)"              [ "$(code "$base/p/$slow")" = 403 ]
check "negated condition that matches cleanly: the rule does not (200)"      [ "$(code "$base/n/aaaa")" = 200 ]
check "the error is logged"                                                  grep -q "it matches (fail closed)" "$work/error.log"

# 2. Malformed directives: nginx -t fails, naming the rule and what was expected.
bad() {  # bad NAME EXPECTED_TEXT DIRECTIVE
  write_conf "$3"
  local out; out="$(ngx -t 2>&1)"
  check "nginx -t refuses: $1" grep -qF "$2" <<<"$out"
}
bad "a literal that is not hex" '"literals" needs comma-separated hex' 'mitigd_rule "r#0" 403 when "path" raw ~ "abc" literals 6g6263;'
bad "a literal under 3 bytes"   '"literals" needs comma-separated hex of 3 bytes' 'mitigd_rule "r#0" 403 when "path" raw ~ "ab" literals 6162;'
bad "literals on a negated condition" 'not negated' 'mitigd_rule "r#0" 403 when "path" raw !~ "abc" literals 616263;'
bad "an unknown input"          'unknown input "bodies"' 'mitigd_rule "r#0" 403 when "bodies" raw ~ "abc";'
bad "a status out of range"     'status "999" is not 200-599' 'mitigd_rule "r#0" 999 when "path" raw ~ "abc";'
bad "a pattern PCRE2 refuses"   'missing closing parenthesis' 'mitigd_rule "r#0" 403 when "path" raw ~ "(abc";'
bad "no condition"              'mitigd_rule r#0: no condition' 'mitigd_rule "r#0" 403;'
exit $fails
