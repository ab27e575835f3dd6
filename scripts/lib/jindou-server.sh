# Starting and stopping a Jindou server for the benchmark scripts (sourced, not run).
#
#   jindou_start DIR SYNC ENCRYPTION   # writes DIR/jindou.yaml (random loopback ports, data in
#                                      # DIR/data, one shard per core), starts $BIN/jindou and
#                                      # waits for it: sets SERVER_PID, TCP, WS, HTTP
#   jindou_stop                        # stops it (safe to call twice; use it in an EXIT trap)

jindou_start() {
  local dir=$1 sync=$2 enc=$3
  mkdir -p "$dir"
  cat >"$dir/jindou.yaml" <<EOF
addr: tcp://127.0.0.1:0
wsAddr: ws://127.0.0.1:0
httpAddr: 127.0.0.1:0
rootDir: $dir/data
shards: $(nproc)
storage: {syncPolicy: $sync}
encryption: $enc
logger: {level: 3}
EOF
  "$BIN/jindou" --config "$dir/jindou.yaml" >"$dir/stdout" 2>"$dir/stderr" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    if grep -q listening "$dir/stdout" 2>/dev/null; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "jindou exited during start-up:" >&2
      cat "$dir/stderr" >&2
      exit 1
    fi
    sleep 0.05
  done
  local line
  line=$(grep listening "$dir/stdout")
  TCP=$(sed -E 's/.*tcp=([^ ]+).*/\1/' <<<"$line")
  WS=$(sed -E 's/.*ws=([^ ]+).*/\1/' <<<"$line")
  HTTP=$(sed -E 's/.*http=([^ ]+).*/\1/' <<<"$line")
  echo "== $line (pid $SERVER_PID, sync $sync, encryption $enc)" >&2
}

jindou_stop() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
