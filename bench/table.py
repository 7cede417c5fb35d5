#!/usr/bin/env python3
"""The side-by-side table of BENCHMARKS.md from one bench/compare.sh run.

    bench/table.py RESULTS_DIR        (the JSON lines, distinct.log and hash-time.log of that run)

Prints the markdown rows (Better Auth beside Portcullis for each configuration and workload), then
the sign-in bound from the hash times compare.sh recorded next to pc-db's sign-in workload.
"""
import glob
import json
import os
import re
import statistics
import sys

# (configuration shown, peer label, Portcullis label, workload, description)
ROWS = [
    ("database, no JWT", "peer-db", "pc-db", "get-session-db", "get-session (DB path, one session)"),
    ("database, no JWT", "peer-db", "pc-db", "distinct", "get-session (256 distinct sessions)"),
    ("database, no JWT", "peer-db", "pc-db", "sign-in", "sign-in"),
    ("database, no JWT", "peer-db", "pc-db", "sign-up", "sign-up"),
    ("database, no JWT", "peer-db", "pc-db", "mixed:get-session", "get-session while 8 sign-ins run"),
    ("database, no JWT", "peer-db", "pc-db", "mixed:sign-in", "sign-in while get-session runs"),
    ("hashing at `priority = \"normal\"`", "peer-db", "pc-normal", "mixed:get-session", "get-session while 8 sign-ins run"),
    ("hashing at `priority = \"normal\"`", "peer-db", "pc-normal", "mixed:sign-in", "sign-in while get-session runs"),
    ("cookie cache (max age 300 s)", "peer-cc", "pc-cc", "get-session-db", "get-session (DB path)"),
    ("cookie cache (max age 300 s)", "peer-cc", "pc-cc", "get-session-cookie-cache", "get-session (cookie-cache path)"),
    ("Redis (+ PostgreSQL)", "peer-redis", "pc-redis", "get-session-db", "get-session"),
    ("Redis (+ PostgreSQL)", "peer-redis", "pc-redis", "sign-in", "sign-in"),
    ("Redis (+ PostgreSQL)", "peer-redis", "pc-redis", "mixed:get-session", "get-session while 8 sign-ins run"),
    ("JWT header on every get-session", "peer-jwt", "pc-jwt", "get-session-db", "get-session (DB path + EdDSA `set-auth-jwt`)"),
]


def load(results):
    rows = {}
    for path in sorted(glob.glob(os.path.join(results, "*.jsonl"))):
        for line in open(path):
            if line.strip():
                r = json.loads(line)
                if r.get("type") == "workload":
                    rows[(r["label"], r["workload"])] = r
    distinct = os.path.join(results, "distinct.log")
    if os.path.exists(distinct):
        for line in open(distinct):
            m = re.match(r"(\S+) get-session distinct .* req_s=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+)", line)
            if m:
                rows[(m[1], "distinct")] = {"rps": float(m[2]), "p50_ms": float(m[3]), "p99_ms": float(m[4])}
    return rows


def fmt_rps(x):
    return f"{x:,.0f}" if x >= 1000 else f"{x:.1f}"


def fmt_ms(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def row(rows, config, peer, pc, workload, desc):
    b, p = rows.get((peer, workload)), rows.get((pc, workload))
    if p is None:
        return None
    conc = p.get("concurrency", 64)
    shared = workload.startswith("mixed:")
    cells = [config, desc, str(conc)]
    if peer == "peer-db" and pc == "pc-normal":
        b_rps = f"({fmt_rps(b['rps'])})" if b else ""
        cells += [b_rps, fmt_rps(p["rps"]), f"{p['rps'] / b['rps']:.1f}x" if b else "", "", f"{fmt_ms(p['p50_ms'])} / {fmt_ms(p['p99_ms'])}", "", ""]
        return "| " + " | ".join(cells) + " |"
    cells += [fmt_rps(b["rps"]) if b else "", fmt_rps(p["rps"]), f"{p['rps'] / b['rps']:.1f}x" if b else ""]
    cells += [f"{fmt_ms(b['p50_ms'])} / {fmt_ms(b['p99_ms'])}" if b else "", f"{fmt_ms(p['p50_ms'])} / {fmt_ms(p['p99_ms'])}"]
    if workload == "distinct" or workload == "mixed:sign-in":
        cells += ["", ""]
    else:
        cpu = "(shared)" if shared else f"{b['server_cpu_ms_per_req']:.3g} / {p['server_cpu_ms_per_req']:.3g}" if b else ""
        rss = f"{b['server_peak_rss_kb'] / 1024:.0f} / {p['server_peak_rss_kb'] / 1024:.0f}" if b else ""
        cells += [cpu, rss]
    return "| " + " | ".join(cells) + " |"


def hash_bound(results):
    """Median ms of the one-thread and concurrent hash times recorded next to the sign-in workload."""
    path = os.path.join(results, "hash-time.log")
    if not os.path.exists(path):
        return None
    single, together, rates = [], [], []
    for line in open(path):
        m = re.search(r"median ([\d.]+) ms per hash \((\d+) hashes, (one thread|\d+ threads at once)\).*?([\d.]+) hashes/s", line)
        if m:
            (single if m[3] == "one thread" else together).append(float(m[1]))
            if m[3] != "one thread":
                rates.append(float(m[4]))
    return single, together, rates


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
    rows = load(results)
    print("| configuration | workload | conc | Better Auth req/s | Portcullis req/s | ratio | Better Auth p50 / p99 ms "
          "| Portcullis p50 / p99 ms | server CPU ms/req (BA / PC) | peak RSS MB (BA / PC) |")
    print("|---|---|---:|---:|---:|---:|---|---|---|---|")
    for spec in ROWS:
        line = row(rows, *spec)
        if line:
            print(line)
    bound = hash_bound(results)
    sign_in = rows.get(("pc-db", "sign-in"))
    if bound and bound[0] and sign_in:
        single, together, rates = bound
        mean = statistics.mean(single)
        b = 2000 / mean
        print(f"\nhash time next to pc-db's sign-in workload, one thread: {', '.join(f'{x:.2f}' for x in single)} ms "
              f"(mean {mean:.2f} ms: bound 2 / hash time = {b:.1f}/s); sign-in {sign_in['rps']:.1f}/s, "
              f"{100 * (1 - sign_in['rps'] / b):.1f} % below it")
        if together:
            print(f"both workers hashing at once: {', '.join(f'{x:.2f}' for x in together)} ms per hash, "
                  f"{', '.join(f'{x:.1f}' for x in rates)} hashes/s together")


if __name__ == "__main__":
    main()
