#!/usr/bin/env bash
# `mitigctl check` on a copy of Debian's packaged /etc/apache2 (sites-enabled links, mods-enabled):
# it names mod_rewrite missing, the include missing from the default <VirtualHost>, an operator
# RewriteRule [L] above the include, and a later RewriteEngine Off, each with the file and line;
# and passes once `mitigctl setup apache` wired the site (validated with apache2ctl -t on the copy);
# `setup apache --undo` makes the site file byte-identical again.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"
[ -f /etc/apache2/apache2.conf ] && [ -f /etc/apache2/sites-available/000-default.conf ] || { echo "SKIP: no Debian apache2 layout"; exit 77; }
new_workdir deploy-apache
failures=0
check() { local name="$1"; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures+1)); fi; }
etc="$work/etc/apache2"; mkdir -p "$work/etc" "$work/policy" "$work/manifests" "$work/var"
cp -a /etc/apache2 "$etc"
# Links in the copy point into the host's /etc/apache2: point them into the copy.
find "$etc" -type l | while read -r l; do t="$(readlink "$l")"; case "$t" in /etc/apache2/*) ln -sfn "$etc/${t#/etc/apache2/}" "$l" ;; esac; done
rm -f "$etc/mods-enabled/rewrite.load"
mkdir -p "$etc/mitigd/server"
site="$etc/sites-available/000-default.conf"
printf '{ "mitigations_enabled": true }\n' > "$work/policy/org.json"
cat > "$work/inventory.json" <<JSON
{ "host": "web01", "products": {},
  "web_server": { "kind": "apache", "server_include_dir": "$etc/mitigd/server",
                  "validate": ["env", "APACHE_CONFDIR=$etc", "apache2ctl", "-t"], "reload": ["true"], "probe_url": "http://127.0.0.1:80" } }
JSON
echo '{"inventory":"inventory.json","policy_dir":"policy","manifests_dir":"manifests","state_db":"var/state.db"}' > "$work/mitigd.json"
export MITIGD_CONFIG="$work/mitigd.json"
vhost_line="$(grep -n '<VirtualHost' "$site" | cut -d: -f1)"

out="$("$MITIGCTL" check --offline 2>&1)"; rc=$?
check "check fails on the unconnected Apache" test "$rc" = 1
check "check names mod_rewrite with a2enmod" grep -q "FAIL  mod_rewrite.*a2enmod rewrite" <<<"$(tr '\n' ' ' <<<"$out")"
check "check names the default vhost and the line to add" grep -q "add \`IncludeOptional $etc/mitigd/server/\*.conf\` as the first line inside the <VirtualHost> at $site:$vhost_line" <<<"$out"

ln -s ../mods-available/rewrite.load "$etc/mods-enabled/rewrite.load"
# An operator rule above mitigd's include, and RewriteEngine Off below it.
sed -i "${vhost_line}a\\	RewriteEngine On\\n	RewriteRule ^/autodiscover/ - [L]\\n	IncludeOptional $etc/mitigd/server/*.conf\\n	RewriteEngine Off" "$site"
out="$("$MITIGCTL" check --offline 2>&1)"; rc=$?
check "check names the RewriteRule above the include (both lines)" grep -q "RewriteRule at $site:$((vhost_line + 2)) comes before mitigd's include at $site:$((vhost_line + 3))" <<<"$out"
check "check names the later RewriteEngine Off" grep -q "RewriteEngine Off\` at $site:$((vhost_line + 4))" <<<"$out"
out="$("$MITIGCTL" apply 2>&1)"; rc=$?
check "apply refuses with the same message" bash -c "[ $rc = 1 ] && grep -q 'RewriteEngine Off' <<<\"\$1\"" _ "$out"

out="$("$MITIGCTL" setup apache 2>&1)"; rc=$?
check "setup apache refuses to decide for the operator (their RewriteRule above mitigd's include)" bash -c "[ $rc = 1 ] && grep -q 'comes before mitigd.s include' <<<\"\$1\"" _ "$out"
sed -i "$((vhost_line + 1)),$((vhost_line + 4))d" "$site"
cp "$site" "$work/site-before"
out="$("$MITIGCTL" setup apache --dry-run 2>&1)"
check "setup apache --dry-run names the vhost and changes nothing" bash -c "grep -q 'first in the <VirtualHost> at $site:$vhost_line' <<<\"\$1\" && cmp -s '$work/site-before' '$site'" _ "$out"
out="$("$MITIGCTL" setup apache 2>&1)"; rc=$?
echo "$out" | sed 's/^/     | /'
check "setup apache succeeds (validated by apache2ctl -t)" test "$rc" = 0
check "the include is the first line of the vhost" bash -c "sed -n '$((vhost_line + 2))p' '$site' | grep -q 'IncludeOptional $etc/mitigd/server/\*.conf'"
out="$("$MITIGCTL" check --offline 2>&1)"; rc=$?
check "check passes once the include is first in the vhost" bash -c "[ $rc = 0 ] || { echo \"\$1\"; false; }" _ "$out"
out="$("$MITIGCTL" setup apache 2>&1)"
check "setup apache is idempotent" grep -q "nothing to do" <<<"$out"
"$MITIGCTL" setup apache --undo >/dev/null 2>&1; rc=$?
check "setup apache --undo makes the site file byte-identical again" bash -c "[ $rc = 0 ] && cmp '$work/site-before' '$site'"
echo "$failures failures"
exit $(( failures > 0 ))
