#!/usr/bin/env bash
# mitigctl as an operator runs it: plan's exit codes and JSON, a blocking policy, explain,
# validate, and one clear message with exit 1 for each kind of bad input.
set -uo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"   # new_workdir
new_workdir cli --examples
fails=0
check() {  # check NAME CONDITION...
  local name="$1"; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails+1)); fi
}
contains() { grep -qF -- "$2" <<<"$1"; }

out="$("$MITIGCTL" --config "$work/mitigd.json" plan -o json --detailed-exitcode)"; rc=$?
check "plan on examples exits 2 (changes)" test "$rc" -eq 2
check "plan JSON has schema and the M1 apply step" python3 -c '
import json,sys; d=json.loads(sys.argv[1])
assert d["schema"]=="mitigd.plan/1"
steps=[s for s in d["steps"] if s["mitigation"]=="M1" and s["op"]=="apply"]
assert steps and steps[0]["kind"]=="rewrite_rule", steps
assert {m["id"] for m in d["mitigations"]} >= {"M1","M2","PL1","ECP1","IMAP1"}' "$out"

# A second policy that blocks M1.
mkdir -p "$work/policy2/servers"
cat > "$work/policy2/org.json" <<'J'
{ "mitigations_enabled": true, "blocked": [ { "id": "M1", "reason": "breaks the autodiscover monitor", "by": "alice" } ] }
J
sed 's#"policy_dir": "policy"#"policy_dir": "policy2"#' "$work/mitigd.json" > "$work/mitigd2.json"
out="$("$MITIGCTL" --config "$work/mitigd2.json" plan -o json)"
check "a blocking policy shows M1 blocked with its reason" python3 -c '
import json,sys; d=json.loads(sys.argv[1])
m=[m for m in d["mitigations"] if m["id"]=="M1"][0]
assert m["status"]=="blocked" and "breaks the autodiscover monitor" in m["reason"] and "alice" in m["reason"], m
assert not [s for s in d["steps"] if s["mitigation"]=="M1"]' "$out"
out="$("$MITIGCTL" --config "$work/mitigd2.json" explain M1)"
check "explain prints the decision chain" contains "$out" "blocked by organisation policy"

out="$("$MITIGCTL" validate "$work/policy" 2>&1)"; rc=$?
check "validate accepts the example policy repo" test "$rc" -eq 0

# Bad inputs: one clear message naming file and field or line, exit 1.
bad() {  # bad NAME FILE CONTENT EXPECTED_SUBSTRING
  local name="$1" file="$2" content="$3" expect="$4"
  local dir; dir="$(mktemp -d "$work/bad-XXXX")"
  cp -r "$work/manifests" "$dir/manifests"
  printf '%s' "$content" > "$dir/manifests/$file"
  local msg rc
  msg="$("$MITIGCTL" validate-manifests "$dir/manifests" 2>&1)"; rc=$?
  check "$name: exit 1" test "$rc" -eq 1
  check "$name: message names it ($expect)" contains "$msg" "$expect"
  check "$name: one line" test "$(printf '%s\n' "$msg" | wc -l)" -eq 1
}
bad "JSON syntax error" X.json $'{\n "schema": 1,\n "id": "X"\n "revision": 1 }' "X.json:4:"
bad "unknown field" X.json '{"schema":1,"id":"X","revision":1,"title":"t","applies_to":{"product":"p"},"actions":[{"kind":"disable_service","service":"s","mask":"runtime","maks":1}]}' "actions[0].maks: expected no such field"
bad "bad regex" X.json '{"schema":1,"id":"X","revision":1,"title":"t","applies_to":{"product":"p"},"actions":[{"kind":"rewrite_rule","name":"r1","when":[{"input":"request_uri","pattern":"a(b"}],"respond":"abort"}]}' "actions[0].when[0].pattern: expected a valid PCRE2 pattern: missing closing parenthesis"
bad "broken manifest" X.json '{"schema":1,"id":"X","revision":"two"}' "X.json: revision: expected an integer"
bad "duplicate id" X.json "$(cat "$work/manifests/M1.json")" "id M1 is already used by"

# A bad policy file refuses the whole plan (the last good state stays in force).
printf '{ "mitigations_enabled": "yes" }' > "$work/policy2/org.json"
msg="$("$MITIGCTL" --config "$work/mitigd2.json" plan 2>&1)"; rc=$?
check "bad policy: exit 1" test "$rc" -eq 1
check "bad policy: names file and field" contains "$msg" "policy2/org.json: mitigations_enabled: expected true or false"
msg="$("$MITIGCTL" validate "$work/policy2" 2>&1)"; rc=$?
check "validate refuses the bad policy repo" test "$rc" -eq 1

# block / unblock edit the policy file in place; the round trip is byte-identical.
cp "$work/policy/servers/mail01.json" "$work/server-before.json"
"$MITIGCTL" --config "$work/mitigd.json" block M1 --reason "breaks the monitor, \"badly\"" --until 2027-01-31 >/dev/null
out="$("$MITIGCTL" --config "$work/mitigd.json" plan -o json)"
check "block M1 (server file) shows M1 blocked" python3 -c '
import json,sys; d=json.loads(sys.argv[1])
m=[m for m in d["mitigations"] if m["id"]=="M1"][0]
assert m["status"]=="blocked" and "breaks the monitor" in m["reason"], m' "$out"
"$MITIGCTL" --config "$work/mitigd.json" unblock M1 >/dev/null
check "unblock restores the server file byte for byte" cmp -s "$work/server-before.json" "$work/policy/servers/mail01.json"
cp "$work/policy/org.json" "$work/org-before.json"
"$MITIGCTL" --config "$work/mitigd.json" block M2 IMAP1 --org --reason "change freeze" >/dev/null
"$MITIGCTL" --config "$work/mitigd.json" unblock IMAP1 M2 --org >/dev/null
check "org block/unblock round trip is byte-identical" cmp -s "$work/org-before.json" "$work/policy/org.json"
"$MITIGCTL" --config "$work/mitigd.json" disable --org >/dev/null
out="$("$MITIGCTL" --config "$work/mitigd.json" explain M1)"
check "disable --org turns mitigations off" contains "$out" "mitigations are disabled (organisation off"
"$MITIGCTL" --config "$work/mitigd.json" enable --org >/dev/null
check "enable --org restores the file" cmp -s "$work/org-before.json" "$work/policy/org.json"
printf '{ "blocked": 7 }' > "$work/policy/servers/mail01.json"
msg="$("$MITIGCTL" --config "$work/mitigd.json" block M1 2>&1)"; rc=$?
check "block refuses to write over an invalid file" test "$rc" -eq 1
check "and says why" contains "$msg" "refusing to edit an invalid file"
check "the invalid file is left as it was" test "$(cat "$work/policy/servers/mail01.json")" = '{ "blocked": 7 }'

# Security review, issue 14 finding 3: block/unblock followed a symlink in the policy dir.
printf '{ "blocked": [] }\n' > "$work/victim.json"
rm -f "$work/policy/servers/mail01.json"; ln -s "$work/victim.json" "$work/policy/servers/mail01.json"
"$MITIGCTL" --config "$work/mitigd.json" block M1 --reason test >/dev/null 2>&1
check "block replaces a planted symlink instead of writing through it" bash -c "[ \"\$(cat '$work/victim.json')\" = '{ \"blocked\": [] }' ] && [ ! -L '$work/policy/servers/mail01.json' ] && grep -q M1 '$work/policy/servers/mail01.json'"
check "no temporary file is left in the policy dir" bash -c "! ls -a '$work/policy/servers' | grep -q tmp"

# Every command of the table (as `mitigctl --help` lists it) answers --help with its own options
# (exit 0), and the man page documents it.
commands="$("$MITIGCTL" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p')"
check "the command table lists at least 18 commands" [ "$(wc -w <<<"$commands")" -ge 18 ]
for c in $commands; do
  out="$("$MITIGCTL" "$c" --help 2>&1)"; rc=$?
  check "$c --help exits 0 and shows its usage" bash -c "[ $rc = 0 ] && grep -q '^usage: mitigctl $c' <<<\"\$1\"" _ "$out"
  check "mitigctl(8) documents $c" grep -Eq "^\.B[IR]?( .*)?[ \"]${c//-/\\\\-}([ \"]|\$)" "$root/docs/man/mitigctl.8"
done
out="$("$MITIGCTL" validate-manifests "$root/tests/integration/rich/manifests" 2>&1)"
check "validate-manifests names the rule without a literal gate" grep -q 'EVERY RICH1: oversized Authorization anywhere' <<<"$out"
out="$("$MITIGCTL" import crowdsec "$root/tests/importers/crowdsec/upload-servlet.yaml" --product filemanager --fixed-in 2.0.0 2>&1)"; rc=$?
check "import crowdsec prints a manifest that validates" bash -c "[ $rc = 0 ] && mkdir -p '$work/imported' && printf '%s' \"\$1\" > '$work/imported/cs.json' && '$MITIGCTL' validate-manifests '$work/imported' >/dev/null" _ "$out"
out="$("$MITIGCTL" import crowdsec "$root/tests/importers/crowdsec/refused-libinjection.yaml" --product x --fixed-in 1.0 2>&1)"; rc=$?
check "import refuses libinjection by name and prints nothing on stdout" bash -c "[ $rc = 1 ] && grep -q 'libinjectionSQL.*no mitigd equivalent' <<<\"\$1\"" _ "$out"
msg="$("$MITIGCTL" --config "$work/mitigd.json" plan --csv x 2>&1)"; rc=$?
check "plan --csv is refused (an option of report)" bash -c "[ $rc = 1 ] && grep -q 'unknown option --csv' <<<\"\$1\"" _ "$msg"
check "--version" bash -c "'$MITIGCTL' --version | grep -q '^mitigctl [0-9]'"

echo "$fails failures"
exit $(( fails > 0 ))
