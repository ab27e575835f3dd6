#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
# Headless Chromium renders the status page in tests/monitoring.rs.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The power-loss tests mount jindou-powerfs (FUSE, pure Rust: no libfuse). Root mounts with
# mount(2); other users need the fusermount3 helper from fuse3.
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# /dev/fuse itself: the fuse module's device (a container must be given it).
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || true
fi
[ -e /dev/fuse ] || echo "install-test-deps: /dev/fuse is missing; the power-loss tests will fail (SKIP_POWERLOSS=1 skips them)" >&2
if [ -f tests/js/package.json ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
