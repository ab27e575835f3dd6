#!/usr/bin/env bash
# Cluster benchmark (issue 15): the same workloads on one node and on a three-node cluster on
# 127.0.0.1, jindou-bench spreading connections over the nodes (connection i on node i mod 3,
# so the two users of a pair sit on different nodes); then the idle cost of the groups'
# heartbeats (CPU and RSS of an idle cluster) and the follower lag after a load. Writes
# bench/cluster.json and the "Cluster" section of bench/results.md.
#
#   scripts/cluster-bench.sh                 # about 3 minutes
#   DURATION=5s scripts/cluster-bench.sh
#   NODES=3 RUNS=pairs-100x2-w32 KEEP=1 LOG_LEVEL=2 scripts/cluster-bench.sh   # one run,
#       node logs kept (the work directory is printed); results.md is left alone
#
# Every node runs SHARDS shard threads (default 1): all nodes share this machine's cores, so
# the cluster figures measure the replication's cost, not a cluster's capacity.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SHARDS=${SHARDS:-1}
THREADS=${THREADS:-2}
IDLE=${IDLE:-20}
OUT=${OUT:-$ROOT/bench}
NODES=${NODES:-1 3}
RUNS=${RUNS:-}
KEEP=${KEEP:-}
LOG_LEVEL=${LOG_LEVEL:-3}

cargo build --release -q -p jindou -p jindou-loadtest
BIN=$ROOT/target/release
WORK=$(mktemp -d /tmp/jindou-cbench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$KEEP" ]; then echo "node logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_nodes N: starts N nodes (ids 1001…), sets TCPS, APIS (comma lists) and PIDS.
start_nodes() {
  local n=$1 i base init="" dir
  PIDS=(); TCPS=(); APIS=()
  local ports=()
  for i in $(seq 0 $((n - 1))); do ports+=("$(free_port)"); done
  for i in $(seq 0 $((n - 1))); do init+="\"$((1001 + i))@127.0.0.1:${ports[$i]}\", "; done
  for i in $(seq 0 $((n - 1))); do
    dir="$WORK/n$n-$i"; mkdir -p "$dir"
    {
      echo "addr: tcp://127.0.0.1:0"
      echo "wsAddr: ws://127.0.0.1:0"
      echo "httpAddr: 127.0.0.1:0"
      echo "manager: {on: false}"
      echo "rootDir: $dir/data"
      echo "shards: $SHARDS"
      echo "encryption: false"
      echo "logger: {level: $LOG_LEVEL}"
      if [ "$n" -gt 1 ]; then
        echo "cluster:"
        echo "  nodeId: $((1001 + i))"
        echo "  addr: tcp://127.0.0.1:${ports[$i]}"
        echo "  initNodes: [${init%, }]"
      fi
    } >"$dir/jindou.yaml"
    "$BIN/jindou" --config "$dir/jindou.yaml" >"$dir/stdout" 2>"$dir/stderr" &
    PIDS+=("$!")
  done
  for i in $(seq 0 $((n - 1))); do
    dir="$WORK/n$n-$i"
    for _ in $(seq 1 400); do
      grep -q listening "$dir/stdout" 2>/dev/null && break
      kill -0 "${PIDS[$i]}" 2>/dev/null || { cat "$dir/stderr" >&2; exit 1; }
      sleep 0.05
    done
    local line; line=$(grep listening "$dir/stdout")
    TCPS+=("tcp://$(sed -E 's/.*tcp=([^ ]+).*/\1/' <<<"$line")")
    APIS+=("$(sed -E 's/.*http=([^ ]+).*/\1/' <<<"$line")")
  done
  # Ready when every node's /health says every slot has a leader.
  for a in "${APIS[@]}"; do
    for _ in $(seq 1 600); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$a/health")" = 200 ] && break
      sleep 0.1
    done
  done
}

stop_nodes() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

cpu_of() { # CPU seconds of the nodes
  local t=0 p
  for p in "${PIDS[@]}"; do t=$(awk -v t="$t" '{ printf "%.2f", t + ($14 + $15) / 100 }' "/proc/$p/stat"); done
  echo "$t"
}
rss_of() { # RSS KiB of the nodes
  local t=0 p
  for p in "${PIDS[@]}"; do t=$((t + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done
  echo "$t"
}

RESULTS=()
FAILED=0
run() { # $1 = label; rest = jindou-bench arguments
  local name=$1; shift
  if [ -n "$RUNS" ] && [[ ",$RUNS," != *",${name%-n[0-9]*},"* ]]; then return; fi
  local json="$WORK/$name.json" c0 c1 t0 t1
  local targets apis
  targets=$(IFS=,; echo "${TCPS[*]}"); apis=$(IFS=,; echo "${APIS[*]}")
  c0=$(cpu_of); t0=$(date +%s.%N)
  echo "-- $name" >&2
  "$BIN/jindou-bench" --target "$targets" --api "$apis" --threads "$THREADS" --json "$json" \
    --label "$name" --quiet --duration "$DURATION" --warmup "$WARMUP" --size 64 "$@" || FAILED=1
  c1=$(cpu_of); t1=$(date +%s.%N)
  python3 - "$json" "$c0" "$c1" "$t0" "$t1" <<'EOF'
import json, sys
p, c0, c1, t0, t1 = sys.argv[1], *map(float, sys.argv[2:])
r = json.load(open(p))
r["server_cores_busy"] = round((c1 - c0) / max(t1 - t0, 1e-9), 2)
r["loadavg_1m"] = float(open("/proc/loadavg").read().split()[0])
json.dump(r, open(p, "w"), indent=2)
EOF
  RESULTS+=("$json")
}

# Follower lag: right after a load, for each slot, its leader's last log index minus each
# follower's (entries), from /cluster/slots on every node (node i+1 is 1001+i).
lag() {
  python3 - "${APIS[@]}" <<'EOF'
import json, sys, urllib.request
leader_idx, follower_idx = {}, {}
for i, api in enumerate(sys.argv[1:]):
    me = 1001 + i
    for s in json.load(urllib.request.urlopen(f"http://{api}/cluster/slots")):
        if s["leader_id"] == me:
            leader_idx[s["id"]] = s["log_index"]
        elif me in s["replicas"]:
            follower_idx.setdefault(s["id"], []).append(s["log_index"])
print(max([leader_idx[g] - f for g, fs in follower_idx.items() if g in leader_idx for f in fs] or [0]))
EOF
}

IDLE_JSON="$WORK/idle.json"
for n in $NODES; do
  start_nodes "$n"
  sleep 1
  if [ -z "$RUNS" ]; then
  c0=$(cpu_of); sleep "$IDLE"; c1=$(cpu_of)
  python3 - "$n" "$c0" "$c1" "$IDLE" "$(rss_of)" >>"$IDLE_JSON" <<'EOF'
import json, sys
n, c0, c1, idle, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
print(json.dumps({"nodes": n, "idle_cores_busy": round((c1 - c0) / idle, 4), "rss_kib": rss}))
EOF
  fi
  run "pairs-100x2-w32-n$n" --scenario pairs --pairs 100 --window 32
  if [ "$n" -gt 1 ] && [ -z "$RUNS" ]; then LAG=$(lag); echo "follower lag after the load: $LAG entries" >&2; fi
  run "pairs-1x2-w1-n$n" --scenario pairs --pairs 1 --window 1
  run "group-1x300-n$n" --scenario group --groups 1 --members 300 --senders 1 --window 32
  stop_nodes
done

if [ -n "$RUNS" ] || [ "$NODES" != "1 3" ]; then
  for f in "${RESULTS[@]}"; do python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["label"], {k: r[k] for k in ("delivered_per_sec","errors","lost","duplicated","reordered","server_cores_busy")})' "$f"; done
  exit "$FAILED"
fi
python3 - "$OUT" "$SHARDS" "${LAG:-0}" "$IDLE_JSON" "${RESULTS[@]}" <<'EOF'
import json, sys, datetime, os
out, shards, lag, idle_path, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
runs = [json.load(open(f)) for f in files]
idle = [json.loads(l) for l in open(idle_path) if l.strip()]
date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
json.dump({"date": date, "shards_per_node": int(shards), "follower_lag_entries": lag,
           "idle": idle, "runs": runs}, open(f"{out}/cluster.json", "w"), indent=2)
def us(v): return f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"
def rate(v): return f"{v/1e6:.2f} M/s" if v >= 1e6 else (f"{v/1e3:.1f} k/s" if v >= 1e3 else f"{v:.0f}/s")
lines = ["<!-- cluster -->", f"## Cluster: 1 node vs 3 nodes ({date}, `scripts/cluster-bench.sh`)", "",
         f"All nodes on this one machine ({os.cpu_count()} cores, {shards} shard per node, sync `always`, "
         "client on the same cores): the 3-node figures show what replication costs "
         "(every entry written and fdatasynced on 3 nodes, a majority before the SENDACK), "
         "not what 3 machines would carry. Connections alternate over the nodes, so both "
         "users of a pair sit on different nodes.", "",
         "| run | throughput | SENDACK p50 | SENDACK p99 | e2e p50 | e2e p99 | errors / lost / dup / reord | server cores busy | load avg |",
         "|---|---|---|---|---|---|---|---|---|"]
for r in runs:
    e = r["e2e_us"]
    lines.append(f"| {r['label']} | {rate(r['delivered_per_sec'])} msg delivered | {us(r['sendack_us']['p50'])} | "
                 f"{us(r['sendack_us']['p99'])} | {us(e['p50']) if e['count'] else '–'} | {us(e['p99']) if e['count'] else '–'} | "
                 f"{r['errors']} / {r['lost']} / {r['duplicated']} / {r['reordered']} | {r.get('server_cores_busy','–')} | {r.get('loadavg_1m','–')} |")
lines += ["", "| idle | cores busy (all nodes) | RSS (all nodes) |", "|---|---|---|"]
for i in idle:
    lines.append(f"| {i['nodes']} node(s), idle | {i['idle_cores_busy']:.4f} | {i['rss_kib']/1024:.1f} MiB |")
lines += ["", f"Follower lag right after the 3-node pairs load: at most {lag} entries behind the slot's leader."]
fo = f"{out}/failover.json"
if os.path.exists(fo):
    f = json.load(open(fo))
    t = f["leader_failover_s"]
    lines += [f"Failover ({f['date']}, `scripts/cluster-crash-test.sh`, {f['settings']}): {f['kills']} kill -9s "
              f"under load ({f['leader_kills']} of the busy slot's leader, {f['follower_kills']} of a follower), "
              f"{f['verified']} acknowledged messages verified on every node, none lost or duplicated; "
              f"leader kill → first acknowledgement on a survivor (detection + election + first ack): "
              f"median {t['median']} s, p90 {t['p90']} s, max {t['max']} s. With the default timing "
              "(150 ms × 10 ticks) elections start after 0.75–1.5 s."]
else:
    lines += ["Failover: run `scripts/cluster-crash-test.sh` (writes bench/failover.json)."]
section = "\n".join(lines) + "\n"
p = f"{out}/results.md"
old = open(p).read() if os.path.exists(p) else ""
if "<!-- cluster -->" in old:
    old = old[:old.index("<!-- cluster -->")]
open(p, "w").write(old.rstrip("\n") + "\n\n" + section)
print(section)
EOF
exit "$FAILED"
