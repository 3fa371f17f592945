#!/usr/bin/env bash
# Builds the two Debian packages into build/out/: mitigd (daemon, mitigctl, unit, man pages, docs,
# alert rules) and libnginx-mod-http-mitigd (the nginx module, Depends: the nginx ABI it was built
# against). Usage: scripts/package.sh      (then: lintian build/out/*.deb)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
rm -rf build/out
(cd build && cpack -G DEB -B "$PWD/out" >/dev/null)
ls -l build/out/*.deb
