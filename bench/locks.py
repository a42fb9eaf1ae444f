#!/usr/bin/env python3
"""Coordination benchmark (issue: sessions and locks): Legate with 3 servers against a
3-member etcd 3.4, side by side in the same run, requests to the leader.

    python3 bench/locks.py [--repeat 3] [--duration 8] [--out bench/results/locks-DATE.md]

Points:
- lock hand-over time, p50 and p99, with 10 contenders looping acquire / hold 5 ms / release
  on one lock: from the moment the holder sends its release until the next contender holds.
  Legate: sessions and `?acquire`/`?release` with Go `api.Lock`'s algorithm (blocking GET on
  the key, then acquire). etcd: its lock service through the HTTP gateway
  (`/v3/lock/lock` with a lease, `/v3/lock/unlock`).
- uncontended acquire + release round trips per second, one client.
- `/v1/txn` with 64 `set` operations per second against a 64-put `/v3/kv/txn`, with wrk at 1
  and 16 connections, unique keys, 256-byte values.

Python threads drive the lock points for both systems alike; wrk drives the transactions.
Everything shares this machine's two cores and one disk: read ratios, not absolutes.
"""

import argparse
import base64
import datetime
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster  # noqa: E402
import kv  # noqa: E402

ROOT = kv.ROOT
PEERS = kv.PEERS
LUA = Path(__file__).resolve().parent / "lua"
HOLD = 0.005
CONTENDERS = 10


def b64(text):
    return base64.b64encode(text.encode()).decode()


class Conn:
    """One keep-alive HTTP connection with JSON helpers."""

    def __init__(self, base, timeout=60):
        host, port = base.split("//")[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def call(self, method, path, body=None):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        payload = response.read()
        return response.status, response.headers, payload


class LegateLock:
    """Go `api.Lock`'s algorithm over one connection."""

    def __init__(self, base, key):
        self.c = Conn(base)
        self.key = key
        status, _, body = self.c.call("PUT", "/v1/session/create",
                                      {"Name": "bench", "TTL": "30s", "LockDelay": "0s"})
        assert status == 200, body
        self.session = json.loads(body)["ID"]

    def acquire(self):
        index = 0
        while True:
            status, headers, body = self.c.call(
                "GET", f"/v1/kv/{self.key}?index={index}&wait=15s")
            held = status == 200 and json.loads(body)[0].get("Session")
            if held:
                index = int(headers["X-Consul-Index"])
                continue
            _, _, won = self.c.call("PUT", f"/v1/kv/{self.key}?acquire={self.session}", b"x")
            if won.strip() == b"true":
                return
            index = 0

    def release(self):
        self.c.call("PUT", f"/v1/kv/{self.key}?release={self.session}", b"x")

    def close(self):
        self.c.call("PUT", f"/v1/session/destroy/{self.session}")


class EtcdLock:
    """etcd's lock service through its gateway, with a lease per contender."""

    def __init__(self, base, key):
        self.c = Conn(base)
        self.name = b64(key)
        status, _, body = self.c.call("POST", "/v3/lease/grant", {"TTL": 30})
        assert status == 200, body
        self.lease = json.loads(body)["ID"]
        self.owned = None

    def acquire(self):
        status, _, body = self.c.call("POST", "/v3/lock/lock",
                                      {"name": self.name, "lease": self.lease})
        assert status == 200, body
        self.owned = json.loads(body)["key"]

    def release(self):
        self.c.call("POST", "/v3/lock/unlock", {"key": self.owned})

    def close(self):
        self.c.call("POST", "/v3/lease/revoke", {"ID": self.lease})


def handover(make, duration):
    """Hand-over times (ms) between CONTENDERS looping on one lock for `duration` s."""
    events = []  # (released_at, acquired_at) in order of acquisition
    lock = threading.Lock()
    last_release = [None]
    stop = threading.Event()
    locks = [make() for _ in range(CONTENDERS)]

    def work(contender):
        while not stop.is_set():
            contender.acquire()
            acquired = time.monotonic()
            with lock:
                if last_release[0] is not None:
                    events.append((acquired - last_release[0]) * 1000)
            time.sleep(HOLD)
            with lock:
                last_release[0] = time.monotonic()
            contender.release()

    threads = [threading.Thread(target=work, args=(c,)) for c in locks]
    for t in threads:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    for contender in locks:
        contender.close()
    events.sort()
    return {"p50": events[len(events) // 2], "p99": events[int(len(events) * 0.99)],
            "count": len(events)}


def uncontended(make, duration):
    contender = make()
    end = time.monotonic() + duration
    count = 0
    while time.monotonic() < end:
        contender.acquire()
        contender.release()
        count += 1
    contender.close()
    return count / duration


def one_run(binary, duration):
    rows = {}
    with tempfile.TemporaryDirectory(prefix="legate-locks-bench-") as scratch:
        systems = (
            (lambda: cluster.LegateCluster(binary, scratch), LegateLock, "txn-consul.lua"),
            (lambda: cluster.EtcdCluster(scratch), EtcdLock, "txn-etcd.lua"),
        )
        for start, lock_kind, script in systems:
            system = start()
            try:
                time.sleep(1)
                base = system.leader_base()
                r = {}
                r["handover"] = handover(lambda: lock_kind(base, "bench/lock"), duration)
                r["uncontended"] = uncontended(lambda: lock_kind(base, "bench/solo"), duration)
                url = base + ("/v1/txn" if lock_kind is LegateLock else "")
                r["txn1"] = kv.wrk(url, 1, duration, LUA / script)
                r["txn16"] = kv.wrk(url, 16, duration, LUA / script)
                rows[system.name] = r
            finally:
                system.stop()
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" /
                                             f"locks-{datetime.date.today()}.md"))
    args = parser.parse_args()
    kv.sh(str(PEERS / "install"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "legate-agent"], cwd=ROOT, check=True)
    binary = str(ROOT / "target" / "release" / "legate")
    runs = []
    for i in range(args.repeat):
        runs.append(one_run(binary, args.duration))
        print(f"run {i + 1}/{args.repeat}: " + ", ".join(
            f"{s} handover p50 {runs[-1][s]['handover']['p50']:.1f} ms, "
            f"txn16 {runs[-1][s]['txn16']['rps']:.0f}/s" for s in ("legate", "etcd")), flush=True)
    rows = [
        ("lock hand-over p50, 10 contenders (ms)", ("handover", "p50"), "≤ 1.0", False),
        ("lock hand-over p99, 10 contenders (ms)", ("handover", "p99"), "≤ 1.0", False),
        ("hand-overs in the run", ("handover", "count"), "", True),
        ("uncontended acquire + release per second", ("uncontended",), "", True),
        ("txn of 64 sets per second, 1 conn", ("txn1", "rps"), "≥ 1.5", True),
        ("txn of 64 sets per second, 16 conns", ("txn16", "rps"), "≥ 1.5", True),
        ("txn of 64 sets p50, 16 conns (ms)", ("txn16", "p50"), "", False),
    ]
    lines = [f"# Sessions, locks and transactions: 3 Legate servers vs 3-member etcd 3.4 "
             f"({datetime.datetime.now():%Y-%m-%d %H:%M})", "",
             f"`python3 bench/locks.py --repeat {args.repeat} --duration {args.duration}`; "
             f"requests to the leader; medians of {args.repeat} runs. Lock points: "
             f"{CONTENDERS} Python threads (Go `api.Lock`'s algorithm on Legate, etcd's lock "
             "service through its gateway), 5 ms hold. Transactions: wrk, unique keys, "
             "256-byte values. Both clusters, the clients and wrk share 2 cores and one disk.",
             "", "| metric | legate | etcd | ratio | goal |", "|---|---:|---:|---:|---|"]
    for label, path, goal, _ in rows:
        a, b = cluster.med(runs, "legate", *path), cluster.med(runs, "etcd", *path)
        ratio = a / b if b else float("nan")
        lines.append(f"| {label} | {a:,.2f} | {b:,.2f} | **{ratio:.2f}** | {goal} |")
    errors = {s: sum(run[s][p]["errors"] for run in runs for p in ("txn1", "txn16"))
              for s in ("legate", "etcd")}
    lines += ["", f"Errors and timeouts over the wrk points: legate {errors['legate']}, "
              f"etcd {errors['etcd']}."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
