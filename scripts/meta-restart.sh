#!/usr/bin/env bash
# Measurement (not CI): 1,000,000 metadata changes over the REST API, kill -9, restart, and
# the time until every shard answers, with the snapshot sizes and encode times the server
# logged. META_CHANGES sets the number of changes; META_SNAPSHOT_OPS overrides
# storage.metaSnapshotOps (a huge value measures a restart that replays the whole log).
set -euo pipefail
cd "$(dirname "$0")/.."
RUST_LOG="${RUST_LOG:-info,jindou::audit=warn}" \
  cargo test --release -p jindou --test meta_snapshot restart_after_a_million_metadata_changes \
  -- --ignored --nocapture
