#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f tests/js/package.json ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
