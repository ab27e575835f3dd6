#!/usr/bin/env python3
"""Reads the cluster kill test's output (stdin) and writes bench/failover.json: the kills, the
acknowledged messages verified, and the time from each leader kill to the first
acknowledgement on a survivor (detection + election + first ack). Used by
scripts/cluster-crash-test.sh; scripts/cluster-bench.sh puts the figures in bench/results.md."""
import datetime
import json
import re
import sys

out = sys.argv[1]
text = sys.stdin.read()
m = re.search(r"cluster kills: (\d+), acknowledged messages verified: (\d+), .*?: \[(.*)\]", text)
if not m:
    sys.exit("failover-summary: no 'cluster kills' line in the test output")
times = {"leader": [], "follower": []}
for role, value, unit in re.findall(r'\("(leader|follower)", ([0-9.]+)(µs|ms|s)\)', m.group(3)):
    scale = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
    times[role].append(float(value) * scale)
lead = sorted(times["leader"])
pick = lambda q: round(lead[min(len(lead) - 1, int(q * len(lead)))], 3) if lead else None
summary = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "kills": int(m.group(1)),
    "verified": int(m.group(2)),
    "leader_kills": len(lead),
    "follower_kills": len(times["follower"]),
    "leader_failover_s": {"median": pick(0.5), "p90": pick(0.9), "max": pick(1.0)},
    "settings": "test cluster: tickInterval 100ms x electionIntervalTick 6 (elections after 0.3-0.6 s)",
}
json.dump(summary, open(out, "w"), indent=2)
print(json.dumps(summary))
