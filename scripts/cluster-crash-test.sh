#!/usr/bin/env bash
# Long cluster crash test (release build): three nodes on 127.0.0.1, REST load through every
# node, kill -9 CLUSTER_KILLS times (default 100; the busy channel's leader and a random node in turn),
# restart it, and after each round verify every acknowledged message on every node, once,
# at its acknowledged seq. Prints the kills, the messages verified and each failover time
# (kill -> first acknowledgement on a survivor), and writes them to bench/failover.json. CI
# runs the short version (2 kills).
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
CLUSTER_KILLS="${CLUSTER_KILLS:-100}" \
  cargo test --release -p jindou --test cluster killing_the_busy_leader -- --nocapture --test-threads=1 \
  2>&1 | tee "$LOG"
# The figures for bench/results.md (scripts/cluster-bench.sh shows them).
python3 scripts/failover-summary.py bench/failover.json <"$LOG"
