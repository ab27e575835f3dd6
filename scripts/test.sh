#!/usr/bin/env bash
# The whole test suite: unit, integration, property, crash and interop tests, then short
# fuzz runs. README names this command.
set -euo pipefail
cd "$(dirname "$0")/.."
# Short fuzz runs of every target first (FUZZ_SECONDS each, SKIP_FUZZ=1 to skip), so the
# test runner's summary closes the output.
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz-smoke.sh
fi
cargo test --workspace
