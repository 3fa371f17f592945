#!/usr/bin/env bash
# The official TUF conformance suite (theupdateframework/tuf-conformance) against
# `mitigctl feed client`. Runs when the three repositories are present as git directories (bare is
# fine), and skips with exit 77 and a message otherwise:
#   TUF_CONFORMANCE_GIT  (default /work/.mirror/theupdateframework+tuf-conformance/repo)
#   PYTHON_TUF_GIT       (default /work/.mirror/theupdateframework+python-tuf/repo; tag v5.1.0)
#   SECURESYSTEMSLIB_GIT (default /work/.mirror/secure-systems-lab+securesystemslib/repo; tag v1.4.0)
# Needs Debian's python3-pytest and faketime; the machine's python3 must have `cryptography`.
# Usage: tests/interop/tuf_conformance.sh MITIGCTL [PYTEST ARGS...]
set -uo pipefail
MITIGCTL="$(realpath "$1")"; shift
conformance="${TUF_CONFORMANCE_GIT:-/work/.mirror/theupdateframework+tuf-conformance/repo}"
python_tuf="${PYTHON_TUF_GIT:-/work/.mirror/theupdateframework+python-tuf/repo}"
sslib="${SECURESYSTEMSLIB_GIT:-/work/.mirror/secure-systems-lab+securesystemslib/repo}"
for g in "$conformance" "$python_tuf" "$sslib"; do
  git --git-dir="$g" rev-parse HEAD >/dev/null 2>&1 || { echo "skip: $g is not a git directory (see docs/feed.md)"; exit 77; }
done
python3 -c 'import cryptography' 2>/dev/null || { echo "skip: python3 has no cryptography module"; exit 77; }
[ -d /usr/lib/python3/dist-packages/_pytest ] && command -v faketime >/dev/null || {
  echo "skip: needs Debian's python3-pytest and faketime (apt-get install python3-pytest faketime)"; exit 77; }
work="$(mktemp -d /tmp/mitigd-tufconf-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/suite" "$work/pylib" "$work/tuf" "$work/sslib"
git --git-dir="$conformance" archive HEAD | tar -x -C "$work/suite"
git --git-dir="$python_tuf" archive v5.1.0 | tar -x -C "$work/tuf"
git --git-dir="$sslib" archive v1.4.0 | tar -x -C "$work/sslib"
ln -s "$work/tuf/tuf" "$work/pylib/tuf"
ln -s "$work/sslib/securesystemslib" "$work/pylib/securesystemslib"
for m in pytest _pytest pluggy iniconfig py.py packaging attr attrs; do
  [ -e "/usr/lib/python3/dist-packages/$m" ] && ln -s "/usr/lib/python3/dist-packages/$m" "$work/pylib/$m"
done
cd "$work/suite"
PYTHONPATH="$work/pylib" python3 -m pytest -q -p no:cacheprovider tuf_conformance \
  --entrypoint "$MITIGCTL feed client" "$@" 2>&1 | tee "$work/out.txt" | tail -25
summary="$(grep -E '^[0-9]+ (passed|failed)|passed|failed' "$work/out.txt" | tail -1)"
echo "tuf-conformance ($(git --git-dir="$conformance" rev-parse --short HEAD)): $summary"
grep -qE '(^| )[0-9]+ failed' <<<"$summary" && exit 1
grep -qE '[0-9]+ passed' <<<"$summary"
