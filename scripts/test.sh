#!/usr/bin/env bash
# The whole test suite: unit, integration, property, crash and interop tests, then short
# fuzz runs. README names this command.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
if [ -x scripts/fuzz-smoke.sh ] && [ "${SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz-smoke.sh
fi
