#!/usr/bin/env python3
"""Cluster KV benchmark: Legate with 3 servers against a 3-member etcd 3.4, side by side in the
same run, with the same load generator (wrk), scripts and connection counts, requests to the
leader (issue: a real cluster). Reports ratios, medians of REPEAT runs per point.

    python3 bench/cluster.py [--repeat 3] [--duration 8] [--out bench/results/cluster-DATE.md]

Points: put throughput at 64 connections, put p50 at 1 connection, put p99 at 64 connections,
stale GET throughput at 64 connections (etcd: serializable range), and the time from `kill -9`
of the leader until a write sent after the kill is acknowledged, under load from 8 writers
spread over every member. Needs ../shared/peers/install (etcd, wrk) and builds `legate` in
release mode. The three servers of each system, the load generator and the writers all share
this machine's two cores and one disk: read ratios, not absolutes.
"""

import argparse
import base64
import datetime
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kv  # noqa: E402  (shared helpers: wrk, http, rss, cpu)

ROOT = kv.ROOT
PEERS = kv.PEERS
VALUE = b"v" * 256


class LegateCluster:
    name = "legate"

    def __init__(self, binary, scratch):
        self.binary = binary
        self.scratch = Path(scratch) / "legate"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.ips = [f"127.0.77.{i}" for i in (1, 2, 3)]
        self.procs = {}
        for i, ip in enumerate(self.ips):
            self.start(i)
        self.wait_leader()
        kv.http("PUT", self.leader_base() + "/v1/kv/foo", VALUE)

    def start(self, i):
        ip = self.ips[i]
        log = open(self.scratch / f"s{i}.log", "ab")
        self.procs[i] = subprocess.Popen(
            [self.binary, "agent", "-server", "-bootstrap-expect=3", f"-node=s{i}",
             f"-data-dir={self.scratch / f's{i}'}", f"-bind={ip}", f"-client={ip}",
             f"-retry-join={self.ips[0]}", "-retry-interval=1s", "-log-level=warn"],
            stdout=log, stderr=subprocess.STDOUT)

    def bases(self):
        return [f"http://{ip}:8500" for i, ip in enumerate(self.ips) if self.procs[i].poll() is None]

    def leader_index(self):
        for base in self.bases():
            try:
                addr = kv.http("GET", base + "/v1/status/leader").decode().strip().strip('"')
            except OSError:
                continue
            if addr:
                ip = addr.split(":")[0]
                if ip in self.ips:
                    return self.ips.index(ip)
        return None

    def wait_leader(self, not_index=None, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            index = self.leader_index()
            if index is not None and index != not_index and self.procs[index].poll() is None:
                return index
            time.sleep(0.05)
        raise RuntimeError("no legate leader")

    def leader_base(self):
        return f"http://{self.ips[self.wait_leader()]}:8500"

    def pids(self):
        return [p.pid for p in self.procs.values() if p.poll() is None]

    def put(self, connections, duration):
        return kv.wrk(self.leader_base(), connections, duration, PEERS / "wrk-consul-put.lua")

    def get_stale(self, connections, duration):
        return kv.wrk(self.leader_base() + "/v1/kv/foo?stale", connections, duration)

    @staticmethod
    def write(conn, key):
        conn.request("PUT", f"/v1/kv/{key}", body=VALUE)
        response = conn.getresponse()
        return response.status == 200 and response.read().strip() == b"true"

    def endpoints(self):
        return [(ip, 8500) for ip in self.ips]

    def leader_killer(self):
        """Finds the leader now and returns what kills it, so the kill's time is taken
        right before the signal, not before the (slower or faster) leader lookup."""
        proc = self.procs[self.wait_leader()]
        return lambda: (proc.kill(), proc.wait())

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


class EtcdCluster:
    name = "etcd"

    def __init__(self, scratch):
        self.dir = Path(scratch) / "etcd"
        kv.sh(str(PEERS / "etcd-cluster"), "start", str(self.dir), "3")
        self.pid_list = [int(x) for x in Path(self.dir, "pids").read_text().split()]
        self.bases_all = [f"http://127.0.0.1:{23790 + i}" for i in (1, 2, 3)]
        kv.http("POST", self.leader_base() + "/v3/kv/put",
                ('{"key":"Zm9v","value":"%s"}' % base64.b64encode(VALUE).decode()).encode())

    def leader_base(self):
        return kv.sh(str(PEERS / "etcd-cluster"), "leader", str(self.dir)).strip()

    def pids(self):
        return self.pid_list

    def put(self, connections, duration):
        return kv.wrk(self.leader_base(), connections, duration, PEERS / "wrk-etcd-put.lua")

    def get_stale(self, connections, duration):
        return kv.wrk(self.leader_base(), connections, duration, PEERS / "wrk-etcd-get.lua",
                      env={"SERIALIZABLE": "1"})

    @staticmethod
    def write(conn, key):
        body = '{"key":"%s","value":"%s"}' % (base64.b64encode(key.encode()).decode(),
                                              base64.b64encode(VALUE).decode())
        conn.request("POST", "/v3/kv/put", body=body.encode(),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        return response.status == 200 and b"header" in data

    def endpoints(self):
        return [("127.0.0.1", 23790 + i) for i in (1, 2, 3)]

    def leader_killer(self):
        pid = self.pid_list[self.bases_all.index(self.leader_base())]
        return lambda: os.kill(pid, signal.SIGKILL)

    def stop(self):
        kv.sh(str(PEERS / "etcd-cluster"), "stop", str(self.dir))


def failover(system, writers=8, settle=2.0, timeout=30.0):
    """Seconds from `kill -9` of the leader until the first write SENT after the kill is
    acknowledged, with `writers` threads writing unique keys round-robin over every member
    (a member that fails a request is skipped for the next one)."""
    stop = threading.Event()
    acks = []  # (sent, acked)
    lock = threading.Lock()
    endpoints = system.endpoints()

    def work(w):
        n = 0
        at = w % len(endpoints)
        conn = None
        while not stop.is_set():
            n += 1
            host, port = endpoints[at]
            sent = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=2)
                ok = system.write(conn, f"fo/{w}/{n}")
            except (OSError, http.client.HTTPException):
                ok = False
                conn = None
                at = (at + 1) % len(endpoints)
            if ok:
                with lock:
                    acks.append((sent, time.monotonic()))
            elif conn is None:
                time.sleep(0.01)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    time.sleep(settle)
    kill = system.leader_killer()
    killed_at = time.monotonic()
    kill()
    end = killed_at + timeout
    result = None
    while time.monotonic() < end:
        with lock:
            after = [acked for sent, acked in acks if sent > killed_at]
        if after:
            result = min(after) - killed_at
            break
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    return result


def one_run(binary, duration):
    rows = {}
    with tempfile.TemporaryDirectory(prefix="legate-cluster-bench-") as scratch:
        for start in (lambda: LegateCluster(binary, scratch), lambda: EtcdCluster(scratch)):
            system = start()
            try:
                time.sleep(1)
                r = {}
                r["rss_idle"] = [kv.rss_mib(p) for p in system.pids()]
                cpu0 = sum(kv.cpu_seconds(p) for p in system.pids())
                r["put1"] = system.put(1, duration)
                r["put64"] = system.put(64, duration)
                puts = r["put1"]["total"] + r["put64"]["total"]
                r["cpu_per_1k_puts"] = (sum(kv.cpu_seconds(p) for p in system.pids()) - cpu0) / puts * 1000
                r["get_stale64"] = system.get_stale(64, duration)
                r["rss_after"] = [kv.rss_mib(p) for p in system.pids()]
                r["failover_s"] = failover(system)
                rows[system.name] = r
            finally:
                system.stop()
    return rows


def med(runs, system, *path):
    values = []
    for run in runs:
        v = run[system]
        for p in path:
            v = v[p]
        if v is not None:
            values.append(v)
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" /
                                             f"cluster-{datetime.date.today()}.md"))
    args = parser.parse_args()
    kv.sh(str(PEERS / "install"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "legate-agent"], cwd=ROOT, check=True)
    binary = str(ROOT / "target" / "release" / "legate")
    runs = []
    for i in range(args.repeat):
        runs.append(one_run(binary, args.duration))
        print(f"run {i + 1}/{args.repeat}: " + ", ".join(
            f"{s} put64 {runs[-1][s]['put64']['rps']:.0f}/s failover {runs[-1][s]['failover_s']}"
            for s in ("legate", "etcd")), flush=True)
    rows = [
        ("put req/s, 64 conns", ("put64", "rps"), "≥ 1.5", True),
        ("put p50, 1 conn (ms)", ("put1", "p50"), "≤ 0.7", False),
        ("put p99, 64 conns (ms)", ("put64", "p99"), "≤ 0.5", False),
        ("put p50, 64 conns (ms)", ("put64", "p50"), "", False),
        ("put req/s, 1 conn", ("put1", "rps"), "", True),
        ("stale GET req/s, 64 conns (etcd serializable)", ("get_stale64", "rps"), "≥ 2", True),
        ("kill -9 leader → first new write acked (s)", ("failover_s",), "≤ 1.0", False),
        ("CPU-s of all servers per 1,000 puts", ("cpu_per_1k_puts",), "", False),
    ]
    lines = [f"# Cluster KV: 3 Legate servers vs 3-member etcd 3.4 ({datetime.datetime.now():%Y-%m-%d %H:%M})",
             "", f"`python3 bench/cluster.py --repeat {args.repeat} --duration {args.duration}`; "
             "wrk, 256-byte values, unique keys, requests to the leader; medians of "
             f"{args.repeat} runs. Three servers of each system, wrk and the failover writers "
             "share 2 cores and one disk.", "",
             "| metric | legate | etcd | ratio | goal |", "|---|---:|---:|---:|---|"]
    for label, path, goal, higher in rows:
        a, b = med(runs, "legate", *path), med(runs, "etcd", *path)
        ratio = a / b if b else float("nan")
        lines.append(f"| {label} | {a:,.2f} | {b:,.2f} | **{ratio:.2f}** | {goal} |")
    for system in ("legate", "etcd"):
        idle = statistics.median(statistics.mean(run[system]["rss_idle"]) for run in runs)
        after = statistics.median(statistics.mean(run[system]["rss_after"]) for run in runs)
        lines.append(f"| RSS per server, idle / after the run (MiB), {system} | {idle:.1f} / {after:.1f} | | | |")
    errors = {s: sum(run[s][p]["errors"] for run in runs for p in ("put1", "put64", "get_stale64"))
              for s in ("legate", "etcd")}
    lines += ["", f"Errors and timeouts over all wrk points: legate {errors['legate']}, etcd {errors['etcd']}.",
              "", "Raw failover times (s): " + "; ".join(
                  f"{s}: {[run[s]['failover_s'] for run in runs]}" for s in ("legate", "etcd"))]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
