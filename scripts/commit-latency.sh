#!/usr/bin/env bash
# Group-commit latency against the disk's own: starts Jindou (sync policy always) on a data
# directory on the repository's disk, finds its pairs peak (closed loop), then runs pairs open
# loop at half of it while `jindou-disk-probe` measures raw 4 KiB write+fdatasync on the same
# disk in the same seconds. Prints the server-side SENDACK and commit-sync percentiles (from
# /metrics, the measured window only: bucket upper bounds), the client-side SENDACK and the
# probe's, and the ratio the performance issue sets a goal for (server SENDACK p99 ≤ 4× raw
# fdatasync p99 under load). Also measures the probe on the idle machine first.
#
#   scripts/commit-latency.sh               # about 50 s
#   RATE=150000 scripts/commit-latency.sh   # skip the peak search, use this rate
#   DURATION=20s scripts/commit-latency.sh
#   CLIENT_NICE=10 scripts/commit-latency.sh  # the load generator yields the CPU to the server,
#                                             # as on a box where the server runs alone
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
RATE=${RATE:-}
CLIENT_NICE=${CLIENT_NICE:-0}

cargo build --release -q -p jindou -p jindou-loadtest
BIN=$ROOT/target/release
WORK=$(mktemp -d "$ROOT/target/commit-latency.XXXXXX")
SERVER_PID=""
# shellcheck source=lib/jindou-server.sh
source "$ROOT/scripts/lib/jindou-server.sh"
cleanup() {
  jindou_stop
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "-- raw write+fdatasync, idle machine" >&2
"$BIN/jindou-disk-probe" --dir "$WORK" --duration 5s --json "$WORK/probe-idle.json"

jindou_start "$WORK/server" always false

bench() { nice -n "$CLIENT_NICE" "$BIN/jindou-bench" --target "tcp://$TCP" --api "$HTTP" --threads "$THREADS" --quiet \
  --scenario pairs --pairs 100 --window 32 --size 64 "$@"; }

if [ -z "$RATE" ]; then
  echo "-- peak: pairs 100x2 W32 closed loop" >&2
  bench --duration 5s --warmup 2s --json "$WORK/peak.json" >/dev/null
  RATE=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["delivered_per_sec"] / 2))' "$WORK/peak.json")
fi
echo "-- warm-up at $RATE/s" >&2
bench --rate "$RATE" --duration 3s --warmup 1s >/dev/null
curl -sf "http://$HTTP/metrics" >"$WORK/before.prom"
echo "-- open loop at $RATE/s for $DURATION, disk probe beside it" >&2
"$BIN/jindou-disk-probe" --dir "$WORK" --duration "$DURATION" --json "$WORK/probe-load.json" \
  >"$WORK/probe-load.txt" &
PROBE=$!
bench --rate "$RATE" --duration "$DURATION" --warmup 0s --json "$WORK/load.json" >/dev/null
wait "$PROBE"
curl -sf "http://$HTTP/metrics" >"$WORK/after.prom"

python3 - "$WORK" "$RATE" <<'EOF'
import json, re, sys, collections
work, rate = sys.argv[1], sys.argv[2]
def buckets(path):
    h = collections.defaultdict(lambda: collections.defaultdict(float))
    for l in open(path):
        m = re.match(r'(\w+)_bucket\{(.*)\} (\S+)', l)
        if m:
            name, labels, v = m.groups()
            le = re.search(r'le="([^"]+)"', labels).group(1)
            h[name][float(le)] += float(v)
    return h
b0, b1 = buckets(f"{work}/before.prom"), buckets(f"{work}/after.prom")
def quantiles(name):
    d = sorted((le, b1[name][le] - b0[name].get(le, 0.0)) for le in b1[name])
    total = d[-1][1] if d else 0
    out, low = {}, {}
    for q in (0.5, 0.9, 0.99, 0.999):
        prev = 0.0
        out[q] = low[q] = float("nan")
        for le, c in d:
            if total and c >= q * total:
                out[q], low[q] = le * 1e3, prev * 1e3
                break
            prev = le
    return int(total), out, low
idle = json.load(open(f"{work}/probe-idle.json"))["fdatasync_us"]
load = json.load(open(f"{work}/probe-load.json"))["fdatasync_us"]
client = json.load(open(f"{work}/load.json"))
print(f"rate {rate}/s, delivered {client['delivered_per_sec']:.0f}/s")
print(f"raw fdatasync idle     p50 {idle['p50']/1e3:.2f} ms  p99 {idle['p99']/1e3:.2f} ms  p99.9 {idle['p999']/1e3:.2f} ms")
print(f"raw fdatasync loaded   p50 {load['p50']/1e3:.2f} ms  p99 {load['p99']/1e3:.2f} ms  p99.9 {load['p999']/1e3:.2f} ms")
for name, label in (("jindou_storage_commit_sync_seconds", "server commit sync"),
                    ("jindou_sendack_latency_seconds", "server SENDACK")):
    n, q, lo = quantiles(name)
    print(f"{label:<22} p50 ≤{q[0.5]:g} ms  p90 ≤{q[0.9]:g} ms  p99 ≤{q[0.99]:g} ms  p99.9 ≤{q[0.999]:g} ms  (n={n})")
    if name == "jindou_sendack_latency_seconds":
        raw = load['p99'] / 1e3
        print(f"  server SENDACK p99 in ({lo[0.99]:g}, {q[0.99]:g}] ms = {lo[0.99] / raw:.1f}x to {q[0.99] / raw:.1f}x the raw loaded fdatasync p99 (goal ≤ 4x)")
s = client["sendack_us"]
print(f"client SENDACK         p50 {s['p50']/1e3:.2f} ms  p99 {s['p99']/1e3:.2f} ms  p99.9 {s['p999']/1e3:.2f} ms")
EOF
