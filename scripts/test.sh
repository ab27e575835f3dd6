#!/usr/bin/env bash
# The whole test suite: short fuzz runs, then unit, integration, property, crash, power-loss,
# full-disk, JS SDK and browser tests, then a one-minute soak. README names this command.
#
# Everything runs by default. It first installs what the tests need
# (scripts/install-test-deps.sh: as root on Debian it installs, otherwise it fails with the
# command to run). The only way to leave something out is an explicit opt-out, which is
# printed at the start and at the end:
#   SKIP_FUZZ=1        the fuzz runs                 SKIP_SOAK=1      the soak
#   SKIP_POWERLOSS=1   the power-loss tests (FUSE)   SKIP_DISKFULL=1  the full-disk tests (root)
#   SKIP_JS=1          the JS SDK tests (Node)       SKIP_BROWSER=1   the Chromium test
set -euo pipefail
cd "$(dirname "$0")/.."
# The shape of the house first: rooms import only downwards, no import circle
# (docs/architecture.md, "Rooms and their arrows").
python3 scripts/check-rooms.py

skipped=()
for v in SKIP_FUZZ SKIP_POWERLOSS SKIP_DISKFULL SKIP_JS SKIP_BROWSER SKIP_SOAK; do
  if [ "${!v:-0}" = 1 ]; then skipped+=("$v=1"); export "$v"; fi
done
report_skips() {
  if [ "${#skipped[@]}" -gt 0 ]; then
    echo "SKIPPED by request: ${skipped[*]}"
  else
    echo "nothing skipped"
  fi
}
report_skips

if ! bash scripts/install-test-deps.sh; then
  echo "error: the tests' dependencies are missing (see above): run" \
    "\`sudo bash scripts/install-test-deps.sh\`, or opt out explicitly" >&2
  exit 1
fi
# The full-disk tests mount a small tmpfs: that needs root.
if [ "${SKIP_DISKFULL:-0}" != 1 ] && [ "$(id -u)" != 0 ]; then
  echo "error: the full-disk tests mount a tmpfs and need root: run the tests as root, or set" \
    "SKIP_DISKFULL=1" >&2
  exit 1
fi

# Short fuzz runs of every target first (FUZZ_SECONDS each).
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz-smoke.sh
fi

cargo test --workspace

# A one-minute soak (mixed load on the debug build): no errors, no loss, heap growth within
# its per-message bound. The 10-minute release form is `scripts/soak.sh`.
if [ "${SKIP_SOAK:-0}" != 1 ]; then
  SOAK_SECONDS="${SOAK_SECONDS:-60}" PROFILE=debug bash scripts/soak.sh
fi
report_skips
