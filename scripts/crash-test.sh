#!/usr/bin/env bash
# Long crash tests (release build): kill -9 the server CRASH_CYCLES times (default 200) while
# TCP and REST clients send, then POWERLOSS_CYCLES times (default 50) with the data on
# jindou-powerfs and a power cut after each kill; after every restart each acknowledged
# message must be stored once, at its acknowledged seq, in order. CI runs the short versions
# (4 kills, 3 power cuts) in cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
CRASH_CYCLES="${CRASH_CYCLES:-200}" POWERLOSS_CYCLES="${POWERLOSS_CYCLES:-50}" \
  cargo test --release -p jindou --test crash_server -- --nocapture --test-threads=1
