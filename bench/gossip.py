#!/usr/bin/env python3
"""Gossip benchmark: 50 Legate agents against 50 HashiCorp serf 0.9 agents (memberlist +
Serf, Consul's gossip layer), side by side in the same run (issue: a real cluster).

    python3 bench/gossip.py [--agents 50] [--repeat 3] [--stress 600] [--out FILE]

Per system and run: time from the last agent's start until every agent sees all N alive;
time from `kill -9` of one agent until every survivor reports it failed; idle RSS per client
agent (Legate: a client agent with its HTTP and DNS interfaces on, as Consul runs them);
idle CPU per agent over 30 s. With `--stress S`, a further S-second run of Legate's agents
with both cores held busy by stress-ng counts false failures: any live agent reported failed
by any other. Each agent is polled by its own thread every 250 ms (serf through its CLI,
Legate through /v1/agent/members), so both are measured to the same resolution. Every agent,
the pollers and stress-ng share this machine's two cores: read ratios, not absolutes.
"""

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kv  # noqa: E402

ROOT = kv.ROOT
PEERS = kv.PEERS
POLL = 0.25


class LegateAgents:
    name = "legate"

    def __init__(self, binary, scratch, n):
        self.scratch = Path(scratch) / "legate"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.ips = [f"127.0.88.{i + 1}" for i in range(n)]
        self.names = [f"a{i}" for i in range(n)]
        self.procs = []
        for i, ip in enumerate(self.ips):
            role = ["-server", "-bootstrap"] if i == 0 else []
            log = open(self.scratch / f"a{i}.log", "wb")
            self.procs.append(subprocess.Popen(
                [binary, "agent", *role, f"-node=a{i}", f"-data-dir={self.scratch / f'a{i}'}",
                 f"-bind={ip}", f"-client={ip}", f"-retry-join={self.ips[0]}",
                 "-retry-interval=1s", "-log-level=warn"],
                stdout=log, stderr=subprocess.STDOUT))

    def view(self, i):
        """Agent i's view: name -> status text, or None if it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{self.ips[i]}:8500/v1/agent/members",
                                        timeout=2) as r:
                members = json.load(r)
        except (OSError, ValueError):
            return None
        text = {1: "alive", 2: "leaving", 3: "left", 4: "failed"}
        return {m["Name"]: text.get(m["Status"], "none") for m in members}

    def pids(self):
        return [p.pid for p in self.procs]

    def kill(self, i):
        self.procs[i].kill()
        self.procs[i].wait()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


class SerfAgents:
    name = "serf"

    def __init__(self, scratch, n):
        self.dir = Path(scratch) / "serf"
        self.names = [f"n{i}" for i in range(n)]
        # The serf binary itself: `serf-cluster members` runs the install check on every call,
        # which would make serf's polling far slower than Legate's.
        self.bin = kv.sh(str(PEERS / "install")).split()[0] + "/serf"
        kv.sh(str(PEERS / "serf-cluster"), "start", str(self.dir), str(n))
        self.pid_list = [int(x) for x in Path(self.dir, "pids").read_text().split()]

    def view(self, i):
        try:
            out = subprocess.run([self.bin, "members", f"-rpc-addr=127.0.0.1:{27373 + i}",
                                  "-format=json"], capture_output=True, text=True, timeout=5).stdout
            members = json.loads(out)["members"]
        except (subprocess.SubprocessError, ValueError, KeyError):
            return None
        return {m["name"]: m["status"] for m in members}

    def pids(self):
        return self.pid_list

    def kill(self, i):
        kv.sh(str(PEERS / "serf-cluster"), "kill", str(self.dir), str(i))

    def stop(self):
        kv.sh(str(PEERS / "serf-cluster"), "stop", str(self.dir))


def anon_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_until(system, viewers, condition, timeout=120):
    """Seconds until every viewer's view satisfies `condition`, each polled by its own
    thread every POLL seconds; None on timeout."""
    start = time.monotonic()
    done = {}
    stop = threading.Event()

    def poll(i):
        while not stop.is_set() and time.monotonic() - start < timeout:
            view = system.view(i)
            if view is not None and condition(view):
                done[i] = time.monotonic() - start
                return
            time.sleep(POLL)

    threads = [threading.Thread(target=poll, args=(i,)) for i in viewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    if len(done) < len(viewers):
        return None
    return max(done.values())


def one_run(system, n):
    r = {}
    everyone = list(range(n))
    r["converge_s"] = time_until(system, everyone, lambda v: sum(s == "alive" for s in v.values()) >= n)
    time.sleep(20)
    pids = system.pids()
    clients = pids[1:]
    r["rss_client_mib"] = statistics.median(kv.rss_mib(p) for p in clients)
    # Most of a Legate agent's RSS is its binary's pages, shared by every agent on a host;
    # the private (anonymous) part is what each further agent costs.
    r["anon_client_mib"] = statistics.median(anon_mib(p) for p in clients)
    cpu0 = [kv.cpu_seconds(p) for p in pids]
    time.sleep(30)
    r["idle_cpu_pct"] = statistics.median(
        (kv.cpu_seconds(p) - c) / 30 * 100 for p, c in zip(pids, cpu0))
    victim = n - 1
    killed = system.names[victim]
    system.kill(victim)
    r["detect_s"] = time_until(system, everyone[:-1], lambda v: v.get(killed) == "failed")
    return r


def stress_run(binary, n, seconds):
    """Legate's agents with both cores busy: false failures (a live agent reported failed)."""
    with tempfile.TemporaryDirectory(prefix="legate-gossip-stress-") as scratch:
        system = LegateAgents(binary, scratch, n)
        try:
            if time_until(system, list(range(n)), lambda v: sum(s == "alive" for s in v.values()) >= n) is None:
                raise RuntimeError("legate agents never converged")
            stress = subprocess.Popen(["stress-ng", "--cpu", "2", "--timeout", f"{seconds}s", "--quiet"])
            false = set()
            end = time.monotonic() + seconds
            polls = 0
            while time.monotonic() < end:
                for i in range(n):
                    view = system.view(i)
                    if view is None:
                        continue
                    for name, status in view.items():
                        if status == "failed":
                            false.add((system.names[i], name))
                polls += 1
                time.sleep(2)
            stress.wait()
            return {"false_failures": len(false), "pairs": sorted(false)[:20], "polls": polls}
        finally:
            system.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stress", type=int, default=0, help="seconds of the stress-ng run (0: skip)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / f"gossip-{datetime.date.today()}.md"))
    args = parser.parse_args()
    kv.sh(str(PEERS / "install"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "legate-agent"], cwd=ROOT, check=True)
    binary = str(ROOT / "target" / "release" / "legate")
    runs = []
    for k in range(args.repeat):
        rows = {}
        with tempfile.TemporaryDirectory(prefix="legate-gossip-bench-") as scratch:
            for start in (lambda: LegateAgents(binary, scratch, args.agents),
                          lambda: SerfAgents(scratch, args.agents)):
                system = start()
                try:
                    rows[system.name] = one_run(system, args.agents)
                finally:
                    system.stop()
        runs.append(rows)
        print(f"run {k + 1}: {rows}", flush=True)

    def med(system, key):
        values = [run[system][key] for run in runs if run[system].get(key) is not None]
        return statistics.median(values) if values else float("nan")

    lines = [f"# Gossip: {args.agents} Legate agents vs {args.agents} serf 0.9 agents ({datetime.datetime.now():%Y-%m-%d %H:%M})", "",
             f"`python3 bench/gossip.py --agents {args.agents} --repeat {args.repeat} --stress {args.stress}`; "
             f"medians of {args.repeat} runs; each agent polled every {POLL * 1000:.0f} ms by its own thread. "
             "Legate: one server, the rest client agents with HTTP and DNS on; LAN gossip defaults "
             "(probe 1 s, gossip 200 ms to 3). All agents share 2 cores.", "",
             "| metric | legate | serf | ratio | goal |", "|---|---:|---:|---:|---|"]
    for label, key, goal in [
        ("every agent sees all alive, after the last start (s)", "converge_s", "≤ 1.0"),
        ("every survivor marks a kill -9'd agent failed (s)", "detect_s", "≤ 1.0"),
        ("idle RSS per client agent (MiB)", "rss_client_mib", "≤ 0.75"),
        ("idle private (anonymous) RSS per client agent (MiB)", "anon_client_mib", ""),
        ("idle CPU per agent (% of a core)", "idle_cpu_pct", "≤ 1.0"),
    ]:
        a, b = med("legate", key), med("serf", key)
        lines.append(f"| {label} | {a:.2f} | {b:.2f} | **{a / b:.2f}** | {goal} |")
    lines += ["", "Raw: " + json.dumps(runs)]
    if args.stress:
        result = stress_run(binary, args.agents, args.stress)
        lines += ["", f"## {args.stress} s with both cores busy (stress-ng --cpu 2), {args.agents} Legate agents", "",
                  f"False failures (a live agent reported failed by another, distinct pairs): "
                  f"**{result['false_failures']}** (goal 0) over {result['polls']} polls of every agent; "
                  f"pairs: {result['pairs']}"]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
