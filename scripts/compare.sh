#!/usr/bin/env bash
# Side-by-side: Jindou (sync always / none) against NATS core, NATS JetStream (file storage),
# Redis pub/sub, Redis streams (appendfsync always) and MQTT QoS 1 (mosquitto), same tool, same
# workload, alternating runs. Writes bench/compare.json, bench/compare.md (table with ratios)
# and bench/compare.svg (throughput and p99 per system).
#
#   scripts/compare.sh                      # 2 rounds, 10 s per run (about 11 minutes)
#   ROUNDS=1 DURATION=5s scripts/compare.sh
#   SYSTEMS="jetstream mqtt" OUT=/tmp/cmp scripts/compare.sh   # a subset, elsewhere
#
# Besides the closed-loop runs (each sender keeps WINDOW messages outstanding: the peak), every
# system runs the pairs workload open loop at one common rate, OPEN_RATE msgs/s (default:
# half of Jindou's sync-always pairs peak in round 1), so latency is compared at equal load;
# jindou-bench measures from each message's intended send time (no coordinated omission).
#
# Peers are installed with apt-get when missing and available (nats-server, redis-server,
# mosquitto). JetStream runs as `nats-server -js -sd <tmp>`; mosquitto gets
# max_inflight_messages 1000 and max_queued_messages 10000000 (defaults 20 / 1000: it would
# throttle the fan-out and then drop QoS 1 messages) and set_tcp_nodelay true.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
PAIRS=${PAIRS:-100}
WINDOW=${WINDOW:-32}
MEMBERS=${MEMBERS:-1000}
# Core NATS disconnects subscribers that fall behind ("slow consumer"); if that happens, pace
# its group run with NATS_GROUP_RATE=<msgs/s> (deliveries/s = rate × (members − 1)).
NATS_GROUP_RATE=${NATS_GROUP_RATE:-0}
OPEN_RATE=${OPEN_RATE:-auto}
OUT=${OUT:-$ROOT/bench}
SYSTEMS=${SYSTEMS:-"jindou-always jindou-none nats jetstream redis redis-stream mqtt"}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
APT_UPDATED=""
# Whether apt offers package $1. (grep reads all of its input: with -q it would stop at the
# match, apt-cache would die of SIGPIPE and pipefail would call the package absent.)
apt_has() { command -v apt-cache >/dev/null && apt-cache policy "$1" 2>/dev/null | grep 'Candidate: [0-9]' >/dev/null; }
ensure() { # $1 = binary, $2 = apt package
  command -v "$1" >/dev/null 2>&1 && return 0
  command -v "/usr/sbin/$1" >/dev/null 2>&1 && return 0
  # A fresh machine has no package lists yet: fetch them once before judging a package absent.
  if command -v apt-get >/dev/null && [ -z "$APT_UPDATED" ] && ! apt_has "$2"; then
    echo "updating the apt package lists" >&2
    as_root apt-get update -q >/dev/null || true
    APT_UPDATED=1
  fi
  if apt_has "$2"; then
    echo "installing $2 (apt)" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || command -v "/usr/sbin/$1" >/dev/null 2>&1
}
NATS_BIN=""
REDIS_BIN=""
MOSQUITTO_BIN=""
if ensure nats-server nats-server; then NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server); fi
if ensure redis-server redis-server; then REDIS_BIN=$(command -v redis-server || echo /usr/sbin/redis-server); fi
if ensure mosquitto mosquitto; then MOSQUITTO_BIN=$(command -v mosquitto || echo /usr/sbin/mosquitto); fi

cargo build --release -q -p jindou -p jindou-loadtest
BIN=$ROOT/target/release
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/jindou-compare.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # $1 = port
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}

declare -A TARGET API PID
start_jindou() { # $1 = name, $2 = sync policy
  local dir="$WORK/$1"
  mkdir -p "$dir"
  cat >"$dir/jindou.yaml" <<EOF
addr: tcp://127.0.0.1:0
wsAddr: ws://127.0.0.1:0
httpAddr: 127.0.0.1:0
rootDir: $dir/data
shards: $(nproc)
storage: {syncPolicy: $2}
encryption: false
logger: {level: 3}
EOF
  "$BIN/jindou" --config "$dir/jindou.yaml" >"$dir/stdout" 2>"$dir/stderr" &
  PID[$1]=$!
  PIDS+=("$!")
  for _ in $(seq 1 200); do grep -q listening "$dir/stdout" 2>/dev/null && break; sleep 0.05; done
  local line
  line=$(grep listening "$dir/stdout")
  TARGET[$1]="tcp://$(sed -E 's/.*tcp=([^ ]+).*/\1/' <<<"$line")"
  API[$1]="$(sed -E 's/.*http=([^ ]+).*/\1/' <<<"$line")"
}

for sys in $SYSTEMS; do
  case $sys in
    jindou-always) start_jindou "$sys" always ;;
    jindou-none) start_jindou "$sys" none ;;
    nats)
      [ -n "$NATS_BIN" ] || { echo "nats-server unavailable: skipping" >&2; continue; }
      port=$(free_port)
      "$NATS_BIN" -a 127.0.0.1 -p "$port" >"$WORK/nats.log" 2>&1 &
      PID[$sys]=$!; PIDS+=("$!"); wait_port "$port"
      TARGET[$sys]="nats://127.0.0.1:$port" ;;
    jetstream)
      [ -n "$NATS_BIN" ] || { echo "nats-server unavailable: skipping" >&2; continue; }
      port=$(free_port)
      mkdir -p "$WORK/js"
      "$NATS_BIN" -js -sd "$WORK/js" -a 127.0.0.1 -p "$port" >"$WORK/jetstream.log" 2>&1 &
      PID[$sys]=$!; PIDS+=("$!"); wait_port "$port"
      TARGET[$sys]="jetstream://127.0.0.1:$port" ;;
    redis)
      [ -n "$REDIS_BIN" ] || { echo "redis-server unavailable: skipping" >&2; continue; }
      port=$(free_port)
      "$REDIS_BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$WORK" >"$WORK/redis.log" 2>&1 &
      PID[$sys]=$!; PIDS+=("$!"); wait_port "$port"
      TARGET[$sys]="redis://127.0.0.1:$port" ;;
    redis-stream)
      [ -n "$REDIS_BIN" ] || { echo "redis-server unavailable: skipping" >&2; continue; }
      port=$(free_port)
      mkdir -p "$WORK/redis-aof"
      "$REDIS_BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly yes \
        --appendfsync always --dir "$WORK/redis-aof" >"$WORK/redis-aof.log" 2>&1 &
      PID[$sys]=$!; PIDS+=("$!"); wait_port "$port"
      TARGET[$sys]="redis-stream://127.0.0.1:$port" ;;
    mqtt)
      [ -n "$MOSQUITTO_BIN" ] || { echo "mosquitto unavailable: skipping" >&2; continue; }
      port=$(free_port)
      cat >"$WORK/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
max_inflight_messages 1000
max_queued_messages 10000000
set_tcp_nodelay true
persistence false
log_dest stderr
log_type error
log_type warning
EOF
      "$MOSQUITTO_BIN" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
      PID[$sys]=$!; PIDS+=("$!"); wait_port "$port"
      TARGET[$sys]="mqtt://127.0.0.1:$port" ;;
  esac
done

RESULTS=()
FAILED=0
run() { # $1 = system, $2 = scenario, $3 = round
  local sys=$1 scen=$2 round=$3
  local json="$WORK/$sys-$scen-$round.json"
  local args=(--target "${TARGET[$sys]}" --threads "$THREADS" --duration "$DURATION"
    --warmup "$WARMUP" --size 64 --window "$WINDOW" --json "$json" --quiet
    --label "$sys")
  [ -n "${API[$sys]:-}" ] && args+=(--api "${API[$sys]}")
  if [ "$scen" = pairs ]; then
    args+=(--scenario pairs --pairs "$PAIRS")
  elif [ "$scen" = open ]; then
    args+=(--scenario pairs --pairs "$PAIRS" --rate "$OPEN_RATE")
  else
    args+=(--scenario group --groups 1 --members "$MEMBERS" --senders 1 --connect-rate 5000 --drain 10s)
    if [ "$sys" = nats ] && [ "$NATS_GROUP_RATE" != 0 ]; then args+=(--rate "$NATS_GROUP_RATE"); fi
  fi
  local pid=${PID[$sys]} c0 c1 t0 t1
  c0=$(awk '{ print ($14 + $15) / 100 }' "/proc/$pid/stat")
  t0=$(date +%s.%N)
  echo "-- round $round: $sys $scen" >&2
  if ! "$BIN/jindou-bench" "${args[@]}" >"$WORK/$sys-$scen-$round.txt"; then
    echo "!! $sys $scen round $round: errors or integrity violation" >&2
    FAILED=1
  fi
  c1=$(awk '{ print ($14 + $15) / 100 }' "/proc/$pid/stat")
  t1=$(date +%s.%N)
  if [ -f "$json" ]; then
    python3 - "$json" "$sys" "$scen" "$round" "$c0" "$c1" "$t0" "$t1" <<'EOF'
import json, sys
p, system, scen, rnd = sys.argv[1:5]
c0, c1, t0, t1 = map(float, sys.argv[5:9])
r = json.load(open(p))
r.update(system=system, scenario=scen, round=int(rnd), server_cores_busy=round((c1 - c0) / max(t1 - t0, 1e-9), 2),
         loadavg_1m=float(open("/proc/loadavg").read().split()[0]))
json.dump(r, open(p, "w"), indent=2)
EOF
    RESULTS+=("$json")
  fi
}

for round in $(seq 1 "$ROUNDS"); do
  # Alternate the order each round (A/B/A…), so drift does not favour one system.
  order=$SYSTEMS
  if [ $((round % 2)) = 0 ]; then order=$(tr ' ' '\n' <<<"$SYSTEMS" | tac | tr '\n' ' '); fi
  for scen in pairs group open; do
    if [ "$scen" = open ] && [ "$OPEN_RATE" = auto ]; then
      # Half of Jindou's (sync always) pairs peak of round 1.
      peak="$WORK/jindou-always-pairs-1.json"
      if [ ! -f "$peak" ]; then
        echo "no jindou-always pairs run to pace the open-loop runs by: set OPEN_RATE" >&2
        continue
      fi
      OPEN_RATE=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["delivered_per_sec"] / 2))' "$peak")
      echo "open-loop rate: $OPEN_RATE msgs/s" >&2
    fi
    for sys in $order; do
      [ -n "${TARGET[$sys]:-}" ] && run "$sys" "$scen" "$round"
    done
  done
done

python3 - "$OUT" "${RESULTS[@]}" <<'EOF'
import json, os, platform, statistics, sys, datetime
out, files = sys.argv[1], sys.argv[2:]
runs = [json.load(open(f)) for f in files]
def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
machine = {"cpu": cpu_model(), "cores": os.cpu_count(), "kernel": platform.release(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
json.dump({"machine": machine, "runs": runs}, open(f"{out}/compare.json", "w"), indent=2)

names = {"jindou-always": "Jindou (sync always)", "jindou-none": "Jindou (sync none)",
         "nats": "NATS core", "jetstream": "NATS JetStream (file)", "redis": "Redis pub/sub",
         "redis-stream": "Redis streams (appendfsync always)",
         "mqtt": "MQTT QoS 1 (mosquitto)"}
systems = [s for s in names if any(r["system"] == s for r in runs)]
def med(scen, sys_, key):
    v = [key(r) for r in runs if r["system"] == sys_ and r["scenario"] == scen]
    return statistics.median(v) if v else None
def fmt_rate(v):
    return "–" if v is None else (f"{v/1e6:.2f} M/s" if v >= 1e6 else f"{v/1e3:.1f} k/s")
def fmt_us(v):
    return "–" if v is None else (f"{v/1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs")
lines = [f"# Jindou vs peers ({machine['date']})", "",
         f"Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}; "
         "client and servers share the cores. Medians of alternating runs; 64-byte payloads.", ""]
summary = {}
for scen, title in [("pairs", "pairs (1:1), window per connection"),
                    ("group", "group fan-out 1 → all online")]:
    base = med(scen, "jindou-always", lambda r: r["delivered_per_sec"])
    lines += [f"## {title}", "",
              "| system | delivered/s | Jindou-always ÷ system | ack p50 | ack p99 | e2e p99 | errors/lost | client cores | server cores |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in systems:
        d = med(scen, s, lambda r: r["delivered_per_sec"])
        if d is None:
            continue
        a50 = med(scen, s, lambda r: r["sendack_us"]["p50"])
        a99 = med(scen, s, lambda r: r["sendack_us"]["p99"])
        e99 = med(scen, s, lambda r: r["e2e_us"]["p99"])
        errs = sum(r["errors"] + r["lost"] for r in runs if r["system"] == s and r["scenario"] == scen)
        ccores = med(scen, s, lambda r: r.get("client_cpu_util", 0) * r.get("threads", 1))
        scores = med(scen, s, lambda r: r.get("server_cores_busy", 0))
        ratio = f"{base / d:.2f}" if base and d else "–"
        rate_note = " (paced)" if any(r["rate"] > 0 for r in runs if r["system"] == s and r["scenario"] == scen) else ""
        lines.append(f"| {names[s]} | {fmt_rate(d)}{rate_note} | {ratio} | {fmt_us(a50)} | {fmt_us(a99)} | "
                     f"{fmt_us(e99)} | {errs} | {ccores:.2f} | {scores:.2f} |")
        summary[(scen, s)] = (d, e99 or 0)
    lines.append("")
opened = [r for r in runs if r["scenario"] == "open"]
if opened:
    rate = statistics.median(r["rate"] for r in opened)
    lines += [f"## pairs, open loop at {fmt_rate(rate)} (half of Jindou-always's pairs peak; latency from the intended send time)", "",
              "| system | delivered/s | ack p50 | ack p99 | ack p99.9 | e2e p99 | ack p99 ÷ Jindou-always | errors/lost | client cores | server cores |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    base99 = med("open", "jindou-always", lambda r: r["sendack_us"]["p99"])
    for s in systems:
        d = med("open", s, lambda r: r["delivered_per_sec"])
        if d is None:
            continue
        a50 = med("open", s, lambda r: r["sendack_us"]["p50"])
        a99 = med("open", s, lambda r: r["sendack_us"]["p99"])
        a999 = med("open", s, lambda r: r["sendack_us"]["p999"])
        e99 = med("open", s, lambda r: r["e2e_us"]["p99"])
        errs = sum(r["errors"] + r["lost"] for r in runs if r["system"] == s and r["scenario"] == "open")
        ccores = med("open", s, lambda r: r.get("client_cpu_util", 0) * r.get("threads", 1))
        scores = med("open", s, lambda r: r.get("server_cores_busy", 0))
        ratio = f"{a99 / base99:.2f}" if base99 and a99 else "–"
        lines.append(f"| {names[s]} | {fmt_rate(d)} | {fmt_us(a50)} | {fmt_us(a99)} | {fmt_us(a999)} | "
                     f"{fmt_us(e99)} | {ratio} | {errs} | {ccores:.2f} | {scores:.2f} |")
        summary[("open", s)] = (d, a99 or 0)
    lines.append("")
lines += ["ack = the system's acknowledgement of a publish: Jindou SENDACK (durable per sync policy),",
          "NATS PONG after the batch (server processed it, nothing persisted), JetStream PubAck",
          "(in the file store, i.e. written to the OS; fsynced every sync_interval, 2 min by",
          "default; receivers read through push consumers with explicit acks), Redis PUBLISH reply,",
          "Redis XADD reply (fsynced with appendfsync always), MQTT PUBACK from mosquitto (accepted",
          "in memory, persistence off; receivers PUBACK each QoS 1 delivery). Client/server cores:",
          "CPU seconds per wall second; the two add up to at most the machine's cores."]
open(f"{out}/compare.md", "w").write("\n".join(lines) + "\n")

# SVG: throughput and e2e p99 bars per system, one panel per scenario.
W, H, pad = 900, 420, 60
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="20" text-anchor="middle" font-size="15">Jindou vs peers — delivered msgs/s and e2e p99 (closed loop); ack p99 at one rate (open loop), {machine["cores"]} cores</text>']
colors = ["#c0392b", "#e67e22", "#2980b9", "#16a085", "#27ae60", "#8e44ad", "#7f8c8d"]
scens = [sc for sc in ["pairs", "group", "open"] if any(k[0] == sc for k in summary)]
panel_w = (W - pad * 2) / max(len(scens), 1)
for pi, scen in enumerate(scens):
    vals = [(s, *summary[(scen, s)]) for s in systems if (scen, s) in summary]
    if not vals:
        continue
    # Closed loop: bars are throughput; open loop (one rate for all): bars are ack p99.
    open_loop = scen == "open"
    top = max(v[2] if open_loop else v[1] for v in vals) or 1
    x0 = pad + pi * panel_w
    title = "pairs, open loop: ack p99 (bars)" if open_loop else scen
    svg.append(f'<text x="{x0 + panel_w/2}" y="45" text-anchor="middle" font-size="14">{title}</text>')
    bw = panel_w / (len(vals) + 1)
    for i, (s, d, e99) in enumerate(vals):
        h = (H - 150) * (e99 if open_loop else d) / top
        x = x0 + bw * (i + 0.5)
        y = H - 80 - h
        svg.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw*0.8:.1f}" height="{h:.1f}" fill="{colors[i % len(colors)]}"/>')
        first, second = (f"p99 {fmt_us(e99)}", fmt_rate(d)) if open_loop else (fmt_rate(d), f"p99 {fmt_us(e99)}")
        svg.append(f'<text x="{x + bw*0.4:.1f}" y="{y - 18:.1f}" text-anchor="middle">{first}</text>')
        svg.append(f'<text x="{x + bw*0.4:.1f}" y="{y - 4:.1f}" text-anchor="middle" fill="#555">{second}</text>')
        label = names[s].replace(" (appendfsync always)", " (fsync)")
        svg.append(f'<text x="{x + bw*0.4:.1f}" y="{H - 60}" text-anchor="end" transform="rotate(-30 {x + bw*0.4:.1f} {H - 60})">{label}</text>')
svg.append("</svg>")
open(f"{out}/compare.svg", "w").write("\n".join(svg) + "\n")
print("\n".join(lines))
EOF
exit "$FAILED"
