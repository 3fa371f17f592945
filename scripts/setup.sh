#!/usr/bin/env bash
# Installs the Debian 12 packages mitigd needs to build, test and run its demo, only when missing
# (a second run takes well under a second). Needs root for apt-get when something is missing.
set -euo pipefail

packages=(
  cmake ninja-build g++ clang pkg-config dpkg-dev
  libboost-json1.81-dev libbotan-2-dev libsqlitecpp-dev catch2 libsystemd-dev libssl-dev libpcre2-dev
  nginx-light nginx-dev libnginx-mod-http-set-misc apache2 curl python3 wrk openssl
  systemd-container debootstrap
  python3-pytest faketime prometheus python3-jsonschema lintian
  libyaml-dev libnginx-mod-http-modsecurity
)
# python3-pytest and faketime run the official TUF conformance suite (when its checkouts are
# present); prometheus brings promtool, which tests the shipped alert rules; python3-jsonschema checks
# the JSON output against docs/schema; lintian checks the .debs. libyaml reads CrowdSec rules for
# `mitigctl import crowdsec`; ModSecurity v3 for nginx is the baseline of bench/body_rules.sh.
# Node.js and npm run the independent TUF implementation (tuf-js) of the interop tests.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d keeps the packaged nginx/apache from starting system-wide servers on install:
  # mitigd's tests and demo run their own private instances on loopback.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tuf-js for the interop tests, pinned by tests/interop/package-lock.json.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -d "$here/tests/interop/node_modules/tuf-js" ]; then
  (cd "$here/tests/interop" && npm ci --no-audit --no-fund --silent)
fi
