#!/usr/bin/env bash
# Builds the Debian package (stripped binaries, the unit, the nginx module, docs) into build/out/.
# Usage: scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
(cd build && cpack -G DEB -B out >/dev/null)
ls -l build/out/*.deb
