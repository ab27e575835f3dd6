#!/usr/bin/env bash
# Soak: a mixed load (1:1 pairs at a fixed rate, group fan-out, REST sends, connection churn)
# against one server (release build unless PROFILE=debug) for SOAK_SECONDS (default 600), sampling the server's RSS every
# 10 s. Fails if any run reports loss, duplication, reordering or errors, or if the heap grew
# by more than SOAK_BYTES_PER_MSG (default 256) bytes per message stored during the soak
# beyond SOAK_RSS_SLACK_MB (default 64): the in-memory indexes (seq and message-id, ~70 B per
# stored message) grow with the data by design; anything faster is a leak. Loopback only.
#
#   scripts/soak.sh                               # 10 minutes, release build
#   SOAK_SECONDS=60 PROFILE=debug scripts/soak.sh # the short form CI runs (debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SOAK_SECONDS:-600}"
slack_mb="${SOAK_RSS_SLACK_MB:-64}"
per_msg="${SOAK_BYTES_PER_MSG:-256}"
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release -q -p jindou -p jindou-loadtest
else
  cargo build -q -p jindou -p jindou-loadtest
fi
bin="target/$profile"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/jindou.yaml" <<YAML
rootDir: $work/data
addr: tcp://127.0.0.1:0
wsAddr: ws://127.0.0.1:0
httpAddr: 127.0.0.1:0
manager: {on: false}
shards: $(nproc)
encryption: false
logger: {level: 3}
YAML
$bin/jindou --config "$work/jindou.yaml" > "$work/listen.txt" 2> "$work/server.err" &
pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/listen.txt" 2>/dev/null && break; sleep 0.1; done
tcp=$(grep -o 'tcp=[0-9.:]*' "$work/listen.txt" | cut -d= -f2)
http=$(grep -o 'http=[0-9.:]*' "$work/listen.txt" | cut -d= -f2)
# Anonymous memory (heap): the mapped log segments also count in VmRSS but are file pages
# the kernel can drop, and they grow with the data written, by design.
rss() { awk '/RssAnon/ {print int($2/1024)}' "/proc/$pid/status"; }
vmrss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status"; }
bench() { $bin/jindou-bench --target "tcp://$tcp" --api "$http" --quiet --threads 1 --duration "${secs}s" --warmup 5s "$@"; }
bench --scenario pairs --pairs 20 --window 4 --rate 2000 --uid-prefix soakp > "$work/pairs.txt" 2>&1 &
p1=$!
bench --scenario group --groups 2 --members 50 --online 20 --senders 2 --rate 200 --uid-prefix soakg > "$work/group.txt" 2>&1 &
p2=$!
bench --scenario rest --concurrency 4 --rate 500 --uid-prefix soakr > "$work/rest.txt" 2>&1 &
p3=$!
churn() {
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    $bin/jindou-bench --target "tcp://$tcp" --scenario connect --conns 500 --connect-rate 1000 \
      --hold 2s --quiet --threads 1 --uid-prefix soakc >> "$work/connect.txt" 2>&1 || echo "connect run failed" >> "$work/connect.txt"
  done
}
churn &
p4=$!
stored() { python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen("http://"+sys.argv[1]+"/varz")).get("stored_msgs", 0))' "$http"; }
sleep 10
start_rss=$(rss)
start_msgs=$(stored)
echo "soak: ${secs}s, RssAnon after warm-up ${start_rss} MiB"
elapsed=10
while [ "$elapsed" -lt "$secs" ]; do
  sleep 10
  elapsed=$((elapsed + 10))
  kill -0 "$pid" || { echo "soak: the server died"; exit 1; }
  echo "soak: t=${elapsed}s RssAnon $(rss) MiB, VmRSS $(vmrss) MiB"
done
status=0
for p in $p1 $p2 $p3; do wait "$p" || status=1; done
wait "$p4" || true
end_rss=$(rss)
end_msgs=$(stored)
msgs=$((end_msgs - start_msgs))
echo "soak: ${msgs} messages stored during the soak"
allowed=$((slack_mb + msgs * per_msg / 1048576))
echo "soak: RssAnon start ${start_rss} MiB, end ${end_rss} MiB (VmRSS $(vmrss) MiB)"
for f in pairs group rest; do echo "--- $f"; tail -6 "$work/$f.txt"; done
if grep -q "connect run failed" "$work/connect.txt"; then echo "soak: a connect run failed"; status=1; fi
if [ $((end_rss - start_rss)) -gt "$allowed" ]; then
  echo "soak: heap grew by $((end_rss - start_rss)) MiB, more than ${allowed} MiB allowed"; status=1
fi
exit "$status"
