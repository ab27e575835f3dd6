#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
# Headless Chromium renders the status page in tests/monitoring.rs.
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ -f tests/js/package.json ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
