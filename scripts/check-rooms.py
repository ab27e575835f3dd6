#!/usr/bin/env python3
"""Checks the shape of the house (docs/architecture.md, "Rooms"): the rooms of src/ (its
top-level modules) may import each other only along the allowed arrows, and the import graph
between rooms has no circle. Prints the graph; exits 1 on a forbidden arrow or a circle.

An import is any `crate::ROOM` path outside comments (a `use` line, a braced group, or a path
in code). Run: python3 scripts/check-rooms.py
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# What each room may import (besides itself). The floors first, the top last.
ALLOWED = {
    "runtime": set(),
    "proto": set(),
    "config": {"runtime"},
    "auth": {"config", "runtime"},
    "shard": {"runtime", "proto", "config", "auth", "cluster"},
    "cluster": {"runtime", "proto", "config"},
    "json": {"shard", "proto"},
    "metrics": {"shard", "runtime", "config"},
    "datasource": {"shard", "runtime", "proto", "config"},
    "webhook": {"shard", "json", "datasource", "runtime", "proto", "config"},
    "gateway": {"shard", "runtime", "proto", "config", "auth"},
    "api": {"shard", "json", "metrics", "webhook", "datasource", "cluster", "runtime",
            "proto", "config", "auth"},
    "server": {"api", "gateway", "shard", "webhook", "datasource", "metrics", "cluster",
               "runtime", "proto", "config", "auth"},
}

PATH = re.compile(r"\bcrate::([a-z_]+)")
GROUP = re.compile(r"\bcrate::\{([^}]*)\}", re.S)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def rooms_used(text):
    text = strip_comments(text)
    used = set(PATH.findall(text))
    for group in GROUP.findall(text):
        for item in group.split(","):
            name = item.strip().split("::", 1)[0].strip()
            if name:
                used.add(name)
    return used


def main():
    rooms = sorted(
        e[:-3] if e.endswith(".rs") else e
        for e in os.listdir(SRC)
        if e not in ("lib.rs", "main.rs")
    )
    edges = {r: {} for r in rooms}
    for room in rooms:
        base = os.path.join(SRC, room)
        files = [base + ".rs"] if os.path.isfile(base + ".rs") else []
        for dirpath, _, names in os.walk(base):
            files += [os.path.join(dirpath, n) for n in names if n.endswith(".rs")]
        for path in files:
            with open(path, encoding="utf-8") as f:
                for other in rooms_used(f.read()):
                    if other != room and other in edges:
                        edges[room].setdefault(other, []).append(os.path.relpath(path, SRC))
    bad = []
    for room in rooms:
        allowed = ALLOWED.get(room)
        if allowed is None:
            bad.append(f"room {room} is not in scripts/check-rooms.py: add its allowed arrows")
            continue
        for other, where in sorted(edges[room].items()):
            mark = "" if other in allowed else "   <-- FORBIDDEN"
            print(f"{room} -> {other} ({len(where)} files){mark}")
            if mark:
                bad.append(f"{room} -> {other}: " + ", ".join(sorted(set(where))))
    # Circles: strongly connected components with more than one room (Tarjan).
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for r in rooms:
        if r not in index:
            visit(r)
    for comp in sccs:
        bad.append("import circle between rooms: " + " <-> ".join(comp))
    if bad:
        print("\nThe house is out of shape:", file=sys.stderr)
        for b in bad:
            print(f"- {b}", file=sys.stderr)
        return 1
    print(f"\n{len(rooms)} rooms, no forbidden arrow, no circle.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
