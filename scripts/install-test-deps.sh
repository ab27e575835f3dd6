#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain. Idempotent, and quick when
# everything is there (scripts/test.sh runs it every time). On Debian as root it installs
# through apt-get; otherwise it fails, naming what is missing and the command that installs it.
#
#   chromium      the status page in headless Chromium (tests/monitoring.rs)   SKIP_BROWSER=1
#   nodejs, npm   the JS SDK interop and vector tests (tests/js)                SKIP_JS=1
#   npm ci        wukongimjssdk@1.0.4 and ws in tests/js/node_modules           SKIP_JS=1
#   fuse3, /dev/fuse  the power-loss tests on jindou-powerfs                    SKIP_POWERLOSS=1
#
# What a SKIP_*=1 variable opts out of is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
skip() { [ "${!1:-0}" = 1 ]; }
have() { command -v "$1" >/dev/null 2>&1; }

need=()
if ! skip SKIP_BROWSER && ! have chromium && ! have chromium-browser; then need+=(chromium); fi
if ! skip SKIP_JS; then
  have node || need+=(nodejs)
  have npm || need+=(npm)
fi
# jindou-powerfs is pure Rust (no libfuse). Root mounts with mount(2); other users need the
# fusermount3 helper from fuse3.
if ! skip SKIP_POWERLOSS && ! have fusermount3; then need+=(fuse3); fi

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! have apt-get; then
    echo "install-test-deps: missing ${need[*]}: run \`sudo bash scripts/install-test-deps.sh\`" \
      "(Debian: apt-get install -y ${need[*]}), or opt out of what needs them (SKIP_BROWSER=1," \
      "SKIP_JS=1, SKIP_POWERLOSS=1)" >&2
    exit 1
  fi
  echo "install-test-deps: apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# /dev/fuse itself: the fuse module's device (a container must be given it).
if ! skip SKIP_POWERLOSS && [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || true
  if [ ! -e /dev/fuse ]; then
    echo "install-test-deps: /dev/fuse is missing and cannot be created: the power-loss tests" \
      "need FUSE (load the fuse module, or run the container with --device /dev/fuse), or set" \
      "SKIP_POWERLOSS=1" >&2
    exit 1
  fi
fi

# The npm packages, pinned by tests/js/package-lock.json; reinstalled when the lock changes.
if ! skip SKIP_JS; then
  stamp=tests/js/node_modules/.jindou-lock.sha256
  want="$(sha256sum tests/js/package-lock.json | cut -d' ' -f1)"
  if [ ! -d tests/js/node_modules/wukongimjssdk ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "install-test-deps: npm ci in tests/js"
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
fi
