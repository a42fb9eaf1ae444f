#!/usr/bin/env python3
"""Deterministic simulation at volume (issue 12 item 4): runs the simulation test
(`agent/tests/sim`) over many seeds in release mode with debug assertions (`--profile sim`) and writes the table to bench/results/.

    python3 bench/sim.py [--seeds 10000] [--first 1] [--out bench/results/sim-DATE.md]

Each seed is one run: 3 or 5 servers, four clients and a fault schedule for 20 s of simulated
time, then heal, converge and the final checks. A failing seed replays exactly with

    LEGATE_SIM_SEED=<seed> cargo nextest run -p legate-agent --test sim replays_one_seed --no-capture
"""

import argparse
import ast
import collections
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(
    r"seed (?P<seed>\d+) servers (?P<servers>\d+) ops (?P<ops>\d+) acked (?P<acked>\d+) "
    r"refused (?P<refused>\d+) unknown (?P<unknown>\d+) faults (?P<faults>\d+) "
    r"elections (?P<elections>\d+) shared-terms (?P<shared>\d+) raft-restarts (?P<restarts>\d+) "
    r"applied (?P<applied>\d+) "
    r"installs (?P<installs>\d+) events (?P<events>\d+) trace \S+ (?P<verdict>pass|FAIL) "
    r"faults (?P<kinds>\{.*\})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10000)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()
    today = datetime.date.today().isoformat()
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"sim-{today}.md"

    report = Path(tempfile.mkstemp(prefix="legate-sim-", suffix=".txt")[1])
    env = dict(os.environ, LEGATE_SIM_SEEDS=str(args.seeds), LEGATE_SIM_FIRST=str(args.first),
               LEGATE_SIM_REPORT=str(report))
    started = time.monotonic()
    proc = subprocess.run(
        ["cargo", "test", "--profile", "sim", "-p", "legate-agent", "--test", "sim",
         "every_invariant_holds", "--", "--nocapture"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started

    rows = [m for m in map(LINE.match, report.read_text().splitlines()) if m]
    totals = collections.Counter()
    kinds = collections.Counter()
    servers = collections.Counter()
    failed = []
    for row in rows:
        for field in ("ops", "acked", "refused", "unknown", "faults", "elections", "shared", "restarts",
                      "applied", "installs", "events"):
            totals[field] += int(row[field])
        kinds.update(ast.literal_eval(row["kinds"]))
        servers[row["servers"]] += 1
        if row["verdict"] != "pass":
            failed.append(row["seed"])

    lines = [
        f"# Deterministic simulation, {today}",
        "",
        f"`python3 bench/sim.py --seeds {args.seeds} --first {args.first}` "
        f"({elapsed / 60:.1f} min wall clock, release build with debug assertions, one core).",
        "",
        "Each seed: 3 or 5 servers (openraft as the agent configures it, the real catalog",
        "`apply`, snapshot format and entry codec) on simulated disks and network, four",
        "clients, faults for 20 s of simulated time, then heal, converge, final checks.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| seeds run | {len(rows)} (3 servers: {servers['3']}, 5 servers: {servers['5']}) |",
        f"| seeds with a violation | {len(failed)} |",
        f"| operations | {totals['ops']} |",
        f"| acknowledged writes | {totals['acked']} |",
        f"| refused (not the leader) | {totals['refused']} |",
        f"| unknown outcomes | {totals['unknown']} |",
        f"| entries applied (all servers) | {totals['applied']} |",
        f"| elections won | {totals['elections']} |",
        f"| numeric terms won twice (openraft's ordering allows it) | {totals['shared']} |",
        f"| snapshots installed | {totals['installs']} |",
        f"| Raft cores stopped by openraft 0.9's snapshot race, restarted | {totals['restarts']} |",
        f"| events traced | {totals['events']} |",
        f"| faults | {totals['faults']} |",
        "",
        "| fault | injected |",
        "|---|---|",
    ]
    lines += [f"| {kind} | {count} |" for kind, count in sorted(kinds.items())]
    if failed:
        lines += ["", "Failing seeds: " + ", ".join(failed)]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if proc.returncode != 0 or len(rows) != args.seeds:
        sys.stdout.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
