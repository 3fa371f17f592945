#!/usr/bin/env bash
# report --csv: RFC 4180 output that Python's csv module reads back, including a title with
# commas, quotes and a newline.
set -euo pipefail
MITIGCTL="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib/site.sh"   # new_workdir
new_workdir csv --examples
python3 - "$work/manifests/M2.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["title"] = 'OWA "script" injection, M2.1:\nappend script-src-attr'
json.dump(m, open(p, "w"), indent=2)
PY
"$MITIGCTL" --config "$work/mitigd.json" report --csv "$work/report.csv" >/dev/null
python3 - "$work/report.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert list(rows[0].keys()) == ["Server","Id","Revision","Kind","Title","Status","Since","CVEs","FixedIn","Reason"], rows[0].keys()
by = {r["Id"]: r for r in rows}
assert set(by) == {"ECP1","IMAP1","M1","M2","PL1"}, set(by)
assert by["M2"]["Title"] == 'OWA "script" injection, M2.1:\nappend script-src-attr', repr(by["M2"]["Title"])
assert by["M1"]["Status"] == "pending" and by["M1"]["CVEs"] == "CVE-2022-41040;CVE-2022-41082" and by["M1"]["FixedIn"] == "15.2.1118.20"
assert by["PL1"]["Status"] == "superseded" and all(r["Server"] == "mail01" for r in rows)
print("ok: %d rows read back" % len(rows))
PY
