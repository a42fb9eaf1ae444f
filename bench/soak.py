#!/usr/bin/env python3
"""Soak runs of the fault harness (`agent/tests/chaos`): the register workload on 3 and on 5
servers and the fenced lock workload, each under its seeded fault schedule, run again and
again; one table row per run, written to bench/results/.

    python3 bench/soak.py [--runs 10] [--seconds 60] [--only register|locks]
                          [--out bench/results/soak-DATE.md]
    python3 bench/soak.py --tally      # sums every bench/results/soak-*.md

The table is rewritten after every pass, so a soak cut short keeps what it ran.

Every run prints its seed; `LEGATE_CHAOS_SEED=<seed> LEGATE_CHAOS_SECONDS=<s>` replays one
(see agent/tests/chaos/main.rs). A run's verdict is the test's: linearizable (no lost
acknowledged write, no stale default or consistent read) for the register runs; no two
holders at once and no token of two sessions for the lock runs. Builds the test binaries
first (debug, as the suite does).
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILTERS = {
    "register": "test(/linearizable_through/) | test(/stay_linearizable/)",
    "locks": "test(/fenced_lock_holders/)",
}
FILTERS["all"] = f"{FILTERS['register']} | {FILTERS['locks']}"
ROW = re.compile(r"^\| (register, \d servers|locks, 3 servers) \| (\d+) \| ([^|]*)\|[^|]*\|[^|]*\|[^|]*\| (\w+)")

START = re.compile(r"^chaos: (?:(\d+) servers|locks), seed (\d+)")
REGISTER = re.compile(
    r"^chaos: (\d+) operations \((\d+) with a known outcome, (\d+) acknowledged writes\).*faults: \{(.*)\}")
LOCKS = re.compile(r"^chaos: locks: (\d+) holders, (\d+) entries, (\d+) refused as stale; faults: \{(.*)\}")
VERDICT = re.compile(r"^\s+(PASS|FAIL) \[.*\] \(\d+/\d+\) legate-agent::chaos (\S+)")


def faults(text):
    tally = Counter()
    for kind, count in re.findall(r'"([^"]+)": (\d+)', text):
        tally[kind] += int(count)
    return tally


def one_pass(seconds, only):
    env = dict(os.environ, LEGATE_CHAOS_SECONDS=str(seconds))
    proc = subprocess.run(
        ["cargo", "nextest", "run", "-p", "legate-agent", "--test", "chaos", "--no-fail-fast",
         "--test-threads", "1", "--no-capture", "-E", FILTERS[only]],
        cwd=ROOT, env=env, capture_output=True, text=True)
    rows, current = [], None
    text = proc.stdout + proc.stderr
    for line in text.splitlines():
        if m := START.match(line):
            current = {"workload": f"register, {m.group(1)} servers" if m.group(1) else "locks, 3 servers",
                       "seed": m.group(2), "ops": "", "known": "", "acked": "", "faults": Counter()}
        elif current and (m := REGISTER.match(line)):
            current.update(ops=m.group(1), known=m.group(2), acked=m.group(3), faults=faults(m.group(4)))
        elif current and (m := LOCKS.match(line)):
            current.update(ops=f"{m.group(2)} entries", known=f"{m.group(1)} holders",
                           acked=f"{m.group(3)} fenced out", faults=faults(m.group(4)))
        elif current and (m := VERDICT.match(line)):
            current["verdict"] = m.group(1)
            if m.group(1) != "PASS":
                # The whole pass's output, for the failure's message (the test also saves a
                # violating register history, its trace and the agents' logs in target/tmp).
                saved = ROOT / "target" / "tmp" / f"soak-{current['seed']}.log"
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_text(text)
                current["verdict"] += f" (output in {saved.relative_to(ROOT)})"
            rows.append(current)
            current = None
    return rows


def table(args, rows):
    total = Counter()
    for row in rows:
        total += row["faults"]
    register = [r for r in rows if r["workload"].startswith("register")]
    only = "" if args.only == "all" else f" --only {args.only}"
    lines = [f"# Fault-harness soak, {datetime.date.today()}", "",
             f"`python3 bench/soak.py --runs {args.runs} --seconds {args.seconds}{only}`: "
             f"{len(rows)} runs, each {args.seconds} s of seeded faults on real processes "
             "(debug build), then healed and checked.", "",
             "| workload | seed | operations | known outcome | acknowledged writes | faults | verdict |",
             "|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        fault_text = ", ".join(f"{k} {v}" for k, v in sorted(r["faults"].items()))
        lines.append(f"| {r['workload']} | {r['seed']} | {r['ops']} | {r['known']} | {r['acked']} | "
                     f"{fault_text} | {r['verdict']} |")
    failed = [r for r in rows if r["verdict"] != "PASS"]
    lines += ["", f"Register runs: {len(register)}, operations {sum(int(r['ops'] or 0) for r in register)}; "
              f"failed runs: {len(failed)} of {len(rows)}.",
              "Faults injected by kind over all runs: "
              + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + ".", ""]
    return "\n".join(lines), failed


def tally():
    """Every soak table in bench/results, summed: runs, verdicts, operations."""
    runs = Counter()
    for path in sorted((ROOT / "bench" / "results").glob("soak-*.md")):
        for line in path.read_text().splitlines():
            if m := ROW.match(line):
                kind = "locks" if m.group(1).startswith("locks") else "register"
                runs[(kind, m.group(4))] += 1
                if kind == "register" and m.group(3).strip().isdigit():
                    runs[("register", "operations")] += int(m.group(3))
                    if int(m.group(3)) >= 2000:
                        runs[("register", "runs of >= 2,000 operations")] += 1
    for (kind, what), count in sorted(runs.items()):
        print(f"{kind}: {what}: {count}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10, help="passes over the workloads")
    parser.add_argument("--seconds", type=int, default=60, help="fault schedule length per run")
    parser.add_argument("--only", choices=["all", "register", "locks"], default="all")
    parser.add_argument("--tally", action="store_true", help="sum the soak tables so far")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" /
                                             f"soak-{datetime.date.today()}.md"))
    args = parser.parse_args()
    if args.tally:
        tally()
        return
    subprocess.run(["cargo", "build", "-p", "legate-agent", "--tests", "--bins", "--quiet"],
                   cwd=ROOT, check=True)
    rows = []
    for n in range(args.runs):
        found = one_pass(args.seconds, args.only)
        for row in found:
            print(f"pass {n + 1}/{args.runs}: {row['workload']} seed {row['seed']}: {row['verdict']}",
                  flush=True)
        rows += found
        text, failed = table(args, rows)
        Path(args.out).write_text(text)
    print(text)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
