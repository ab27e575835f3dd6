#!/usr/bin/env bash
# Long crash test: kill -9 the server CRASH_CYCLES times (default 200) while TCP and REST
# clients send, and verify after every restart that each acknowledged message is stored once,
# at its acknowledged seq, in order. CI runs the short version (4 kills) in cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
CRASH_CYCLES="${CRASH_CYCLES:-200}" cargo test --release -p jindou --test crash_server -- --nocapture
