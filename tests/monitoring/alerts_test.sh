#!/usr/bin/env bash
# The shipped Prometheus alert rules: promtool checks them and runs their unit tests.
set -euo pipefail
cd "$(dirname "$0")"
command -v promtool >/dev/null || { echo "SKIP: promtool (Debian package prometheus) is not installed"; exit 77; }
promtool check rules ../../packaging/mitigd-alerts.yml
promtool test rules alerts_test.yml
