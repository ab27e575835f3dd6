#!/usr/bin/env bash
# The standard Jindou benchmark: builds release, starts Jindou on a temp dir with random
# loopback ports, runs the standard scenarios with encryption off and on (sync policy always),
# writes bench/results.json and bench/results.md, and stops the server.
#
#   scripts/bench.sh                 # full run (about 3 minutes on 2 cores)
#   DURATION=5s scripts/bench.sh     # shorter measurements
#   SYNC=none scripts/bench.sh       # another sync policy
#
# Scenarios (issue 9): pairs 100×2 W=32 (over TCP, and over WebSocket); pairs 1×2 W=1
# (unloaded latency); group 1×1000 all online; connect 15k (idle, server RSS per connection
# from /varz); rest C=64.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SYNC=${SYNC:-always}
THREADS=${THREADS:-2}
CONNS=${CONNS:-15000}
OUT=${OUT:-$ROOT/bench}
ENCRYPTIONS=${ENCRYPTIONS:-"off on"}

cargo build --release -q -p jindou -p jindou-loadtest
BIN=$ROOT/target/release
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/jindou-bench.XXXXXX)
SERVER_PID=""
# shellcheck source=lib/jindou-server.sh
source "$ROOT/scripts/lib/jindou-server.sh"
cleanup() {
  jindou_stop
  rm -rf "$WORK"
}
trap cleanup EXIT

# The fd limit bounds the connect scenario (client and server are separate processes).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

start_server() { # $1 = encryption true|false
  rm -rf "$WORK/server-$1"
  jindou_start "$WORK/server-$1" "$SYNC" "$1"
}

stop_server() { jindou_stop; }

server_cpu() { # CPU seconds of the server so far
  awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$SERVER_PID/stat"
}

RESULTS=()
FAILED=0
run() { # $1 = name, rest = jindou-bench arguments; RUN_TARGET overrides tcp://$TCP
  local name=$1
  shift
  local json="$WORK/$name.json"
  local cpu0 cpu1 t0 t1
  cpu0=$(server_cpu)
  t0=$(date +%s.%N)
  echo "-- $name: jindou-bench $*" >&2
  if ! "$BIN/jindou-bench" --target "${RUN_TARGET:-tcp://$TCP}" --api "$HTTP" --threads "$THREADS" \
    --json "$json" --hdr "$OUT/$name.hdr" --label "$name" --quiet "$@"; then
    echo "!! $name reported errors or an integrity violation" >&2
    FAILED=1
  fi
  cpu1=$(server_cpu)
  t1=$(date +%s.%N)
  if [ -f "$json" ]; then
    # Attach the server's CPU use over the run (cores busy = CPU seconds / wall seconds).
    python3 - "$json" "$cpu0" "$cpu1" "$t0" "$t1" <<'EOF'
import json, sys
p, c0, c1, t0, t1 = sys.argv[1], *map(float, sys.argv[2:])
r = json.load(open(p))
r["server_cpu_s"] = round(c1 - c0, 2)
r["server_cores_busy"] = round((c1 - c0) / max(t1 - t0, 1e-9), 2)
# Other load on the machine skews results: keep the 1-minute load average with them.
r["loadavg_1m"] = float(open("/proc/loadavg").read().split()[0])
json.dump(r, open(p, "w"), indent=2)
EOF
    RESULTS+=("$json")
  fi
}

common=(--duration "$DURATION" --warmup "$WARMUP" --size 64)
for enc in $ENCRYPTIONS; do
  if [ "$enc" = on ]; then server_enc=true; else server_enc=false; fi
  start_server "$server_enc"
  # Fresh server first, so the RSS growth is the connections' own.
  sleep 1
  run "connect-${CONNS}-enc-$enc" --scenario connect --conns "$CONNS" --connect-rate 5000 \
    --hold 3s --server-pid "$SERVER_PID"
  stop_server
  start_server "$server_enc"
  run "pairs-100x2-w32-enc-$enc" --scenario pairs --pairs 100 --window 32 --encrypt "$enc" "${common[@]}"
  RUN_TARGET="ws://$WS" run "pairs-ws-100x2-w32-enc-$enc" --scenario pairs --pairs 100 --window 32 \
    --encrypt "$enc" "${common[@]}"
  run "pairs-1x2-w1-enc-$enc" --scenario pairs --pairs 1 --window 1 --encrypt "$enc" "${common[@]}"
  if [ "$enc" = off ]; then
    run "group-1x1000-enc-$enc" --scenario group --groups 1 --members 1000 --senders 1 \
      --window 32 --encrypt "$enc" --connect-rate 5000 "${common[@]}"
    run "rest-c64" --scenario rest --concurrency 64 "${common[@]}"
  fi
  stop_server
done

python3 - "$OUT" "$SYNC" "${RESULTS[@]}" <<'EOF'
import json, os, platform, subprocess, sys, datetime
out, sync, files = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.load(open(f)) for f in files]
def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
machine = {
    "cpu": cpu_model(),
    "cores": os.cpu_count(),
    "kernel": platform.release(),
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "sync_policy": sync,
}
json.dump({"machine": machine, "runs": runs}, open(f"{out}/results.json", "w"), indent=2)

def us(v):
    return f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"
def rate(v):
    return f"{v/1e6:.2f} M/s" if v >= 1e6 else (f"{v/1e3:.1f} k/s" if v >= 1e3 else f"{v:.0f}/s")
lines = [
    f"# Jindou benchmark ({machine['date']})",
    "",
    f"Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}; "
    f"client and server share the cores. Sync policy `{sync}`.",
    "",
    "| run | throughput | SENDACK p50 | SENDACK p99 | e2e p50 | e2e p99 | errors / lost / dup / reord | client CPU | server cores busy | load avg |",
    "|---|---|---|---|---|---|---|---|---|---|",
]
for r in runs:
    sat = " (saturated)" if r.get("client_cpu_util", 0) > 0.9 else ""
    if r["scenario"] == "connect":
        per = r.get("rss_per_conn_bytes")
        thr = f"{r.get('connects_per_sec', 0):.0f} conn/s, {r['connections']} conns, " + \
              (f"{per:.0f} B RSS/conn" if per is not None else "RSS n/a")
        c = r.get("connect_us") or {}
        a50, a99 = us(c.get("p50", 0)), us(c.get("p99", 0))
        e50 = e99 = "–"
    else:
        unit = "req" if r["scenario"] == "rest" else "msg"
        thr = f"{rate(r['delivered_per_sec'])} {unit} delivered"
        a50, a99 = us(r["sendack_us"]["p50"]), us(r["sendack_us"]["p99"])
        if r["e2e_us"]["count"]:
            e50, e99 = us(r["e2e_us"]["p50"]), us(r["e2e_us"]["p99"])
        else:
            e50 = e99 = "–"
    integ = f"{r['errors']} / {r['lost']} / {r['duplicated']} / {r['reordered']}"
    lines.append(
        f"| {r['label']} | {thr} | {a50} | {a99} | {e50} | {e99} | {integ} | "
        f"{r.get('client_cpu_util', 0)*100:.0f}%{sat} | {r.get('server_cores_busy', '–')} | {r.get('loadavg_1m', '–')} |"
    )
lines += [
    "",
    "SENDACK = time from SEND to its acknowledgement (message durable); for `rest` the HTTP",
    "response time; for `connect` CONNECT→CONNACK. e2e = SEND → RECV at the receiver.",
    "Client CPU is the load generator's share of its own threads; above ~90% the client, not",
    "the server, limited the run.",
]
# The cluster section (scripts/cluster-bench.sh) is kept as it is.
kept = ""
try:
    old = open(f"{out}/results.md").read()
    if "<!-- cluster -->" in old:
        kept = "\n" + old[old.index("<!-- cluster -->"):]
except OSError:
    pass
open(f"{out}/results.md", "w").write("\n".join(lines) + "\n" + kept)
print("\n".join(lines))
EOF
exit "$FAILED"
