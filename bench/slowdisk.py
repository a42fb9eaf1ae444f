#!/usr/bin/env python3
"""Slow-disk benchmark (issue: disks as a failure domain): 100 ms added to every fsync of one
of 3 servers, Legate against etcd 3.4 under the same delay on one member, same run.

    python3 bench/slowdisk.py [--repeat 3] [--duration 15] [--delay-ms 100]
                              [--out bench/results/slowdisk-DATE.md]

For each system: three servers on loopback, one of them (made the leader first, the worst
case) keeping its data directory on `bench/fsdelay.py`, a FUSE passthrough that sleeps before
every fsync. With the delay on, wrk writes unique keys for `--duration` seconds at 16
connections to whichever member leads (found again once the run starts); reported: writes
per second, p99, and whether leadership left the slow member. Both slow members pay the same
FUSE overhead on every other file operation too. Needs root, fusepy and libfuse2.
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster  # noqa: E402
import kv  # noqa: E402

ROOT = kv.ROOT
PEERS = kv.PEERS
FSDELAY = Path(__file__).resolve().parent / "fsdelay.py"


class SlowMount:
    """`fsdelay.py` mounted at `mountpoint`, its delay switched through a file."""

    def __init__(self, scratch, mountpoint):
        self.backing = Path(scratch) / f"backing-{Path(mountpoint).name}"
        self.backing.mkdir(parents=True)
        self.mountpoint = Path(mountpoint)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.delay = Path(scratch) / f"delay-{Path(mountpoint).name}"
        self.delay.write_text("0")
        self.proc = subprocess.Popen([sys.executable, str(FSDELAY), str(self.backing),
                                      str(self.mountpoint), str(self.delay)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.ismount(self.mountpoint):
                return
            time.sleep(0.05)
        raise RuntimeError("the FUSE mount did not come up")

    def set_delay(self, millis):
        self.delay.write_text(str(millis))

    def close(self):
        # fusermount comes with Debian's fuse package, which libfuse2 alone does not pull in.
        if shutil.which("fusermount"):
            subprocess.run(["fusermount", "-u", str(self.mountpoint)], check=False,
                           stderr=subprocess.DEVNULL)
        subprocess.run(["umount", "-l", str(self.mountpoint)], check=False,
                       stderr=subprocess.DEVNULL)
        self.proc.terminate()
        self.proc.wait(timeout=10)


def post(url):
    request = urllib.request.Request(url, method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def legate_run(binary, scratch, delay_ms, duration):
    slow = SlowMount(scratch, Path(scratch) / "legate" / "s0")
    system = cluster.LegateCluster(binary, scratch)
    try:
        # Make the slow server lead.
        for _ in range(50):
            if system.wait_leader() == 0:
                break
            config = kv.http("GET", system.leader_base() + "/v1/operator/raft/configuration")
            servers = json.loads(config)["Servers"]
            target = next(s["ID"] for s in servers if s["Node"] == "s0")
            try:
                post(system.leader_base() + f"/v1/operator/raft/transfer-leader?id={target}")
            except OSError:
                pass
            time.sleep(0.5)
        assert system.wait_leader() == 0, "could not move leadership to the slow server"
        slow.set_delay(delay_ms)
        time.sleep(0.5)
        result = system.put(16, duration)
        result["moved"] = system.wait_leader() != 0
        return result
    finally:
        slow.set_delay(0)
        system.stop()
        slow.close()


def etcd_run(scratch, delay_ms, duration):
    directory = Path(scratch) / "etcd"
    slow = SlowMount(scratch, directory / "e1")
    os.chmod(slow.mountpoint, 0o700)
    system = cluster.EtcdCluster(scratch)
    try:
        bin_dir = kv.sh(str(PEERS / "install")).split()[0]
        etcdctl = [f"{bin_dir}/etcdctl", f"--endpoints={system.leader_base()}"]
        status = kv.sh(etcdctl[0], "--endpoints=http://127.0.0.1:23791", "endpoint",
                       "status", "-w", "json")
        member = json.loads(status)[0]["Status"]["header"]["member_id"]
        if system.leader_base() != "http://127.0.0.1:23791":
            kv.sh(*etcdctl, "move-leader", format(member, "x"))
        assert system.leader_base() == "http://127.0.0.1:23791", "e1 does not lead"
        slow.set_delay(delay_ms)
        time.sleep(0.5)
        result = system.put(16, duration)
        result["moved"] = system.leader_base() != "http://127.0.0.1:23791"
        return result
    finally:
        slow.set_delay(0)
        system.stop()
        slow.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--delay-ms", type=int, default=100)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" /
                                             f"slowdisk-{datetime.date.today()}.md"))
    args = parser.parse_args()
    kv.sh(str(PEERS / "install"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "legate-agent"], cwd=ROOT, check=True)
    binary = str(ROOT / "target" / "release" / "legate")
    runs = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="legate-slowdisk-") as scratch:
            legate = legate_run(binary, scratch, args.delay_ms, args.duration)
        with tempfile.TemporaryDirectory(prefix="legate-slowdisk-") as scratch:
            etcd = etcd_run(scratch, args.delay_ms, args.duration)
        runs.append({"legate": legate, "etcd": etcd})
        print(f"run {i + 1}/{args.repeat}: legate {legate['rps']:.0f}/s p99 {legate['p99']:.1f} ms "
              f"moved {legate['moved']}; etcd {etcd['rps']:.0f}/s p99 {etcd['p99']:.1f} ms "
              f"moved {etcd['moved']}", flush=True)

    def med(system, key):
        return statistics.median(run[system][key] for run in runs)

    lines = [f"# Slow disk: {args.delay_ms} ms on every fsync of the leader, 3 servers "
             f"({datetime.datetime.now():%Y-%m-%d %H:%M})", "",
             f"`python3 bench/slowdisk.py --repeat {args.repeat} --duration {args.duration} "
             f"--delay-ms {args.delay_ms}`; wrk, 16 connections, unique keys, 256-byte values, "
             "to the member leading when the load starts; medians.", "",
             "| metric | legate | etcd | ratio |", "|---|---:|---:|---:|"]
    for label, key in (("writes per second", "rps"), ("p99 (ms)", "p99"), ("p50 (ms)", "p50")):
        a, b = med("legate", key), med("etcd", key)
        lines.append(f"| {label} | {a:,.2f} | {b:,.2f} | **{a / b if b else float('nan'):.2f}** |")
    lines.append(f"| leadership left the slow member (runs) | "
                 f"{sum(r['legate']['moved'] for r in runs)}/{len(runs)} | "
                 f"{sum(r['etcd']['moved'] for r in runs)}/{len(runs)} | |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
