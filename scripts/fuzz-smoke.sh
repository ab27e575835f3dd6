#!/usr/bin/env bash
# Fuzz smoke test: runs every cargo-fuzz target in fuzz/fuzz_targets for FUZZ_SECONDS seconds
# (default 60) and exits non-zero if any target crashes. Works on stable Rust through
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Zsanitizer and friends). Installs cargo-fuzz if missing.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
status=0
for target_file in fuzz/fuzz_targets/*.rs; do
    target="$(basename "$target_file" .rs)"
    echo "fuzz-smoke: ${target} for ${seconds}s" >&2
    if ! cargo fuzz run "$target" --target-dir fuzz/target -- \
        -max_total_time="$seconds" -print_final_stats=1; then
        echo "fuzz-smoke: ${target} FAILED (see fuzz/artifacts/${target}/)" >&2
        status=1
    fi
done
exit "$status"
