#!/usr/bin/env python3
"""Check-runner benchmark (issue: the host agent).

1. Overhead: one Legate server runs N HTTP checks (default 1,000) at a 10 s interval against
   a local HTTP server; after a warm-up, the agent's CPU time and RSS are sampled over a
   window. Reports CPU-seconds per 1,000 check runs and RSS.
2. Failure latency: a service with an HTTP check at a 1 s interval against a server that
   can be switched to failing. Each trial switches it to 500 and measures how long until
   the service leaves `/v1/health/service/:name?passing` (watched with blocking queries),
   then switches it back and waits for it to return. Goal: at most one interval + 100 ms.

    python3 bench/checks.py [--checks 1000] [--window 60] [--trials 20] [--out FILE]

Builds `legate` in release mode. Everything shares this machine's two cores.
"""

import argparse
import datetime
import http.server
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kv import ROOT, cpu_seconds, free_port, rss_mib  # noqa: E402  (shared helpers)


def call(method, url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read()


class Target(http.server.BaseHTTPRequestHandler):
    """Answers 200, or 500 while `failing` is set; counts requests."""

    failing = False
    served = 0
    lock = threading.Lock()

    def do_GET(self):
        with Target.lock:
            Target.served += 1
        status = 500 if Target.failing else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def start_target():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_agent(scratch):
    port = free_port()
    log = open(Path(scratch) / "agent.log", "wb")
    binary = ROOT / "target" / "release" / "legate"
    proc = subprocess.Popen(
        [str(binary), "agent", "-server", "-bootstrap", f"-data-dir={scratch}/data",
         f"-http-port={port}", f"-dns-port={free_port()}", f"-server-port={free_port()}", f"-serf-lan-port={free_port()}", f"-serf-wan-port={free_port()}", "-bind=127.0.0.1", "-node=bench", "-log-level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            _, _, body = call("GET", f"http://127.0.0.1:{port}/v1/status/leader", timeout=2)
            if body.strip() not in (b'""', b""):
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("agent never became ready")


def overhead(checks, window):
    target = start_target()
    url = f"http://127.0.0.1:{target.server_port}/health"
    with tempfile.TemporaryDirectory(prefix="legate-bench-checks-") as scratch:
        proc, port = start_agent(scratch)
        try:
            base = f"http://127.0.0.1:{port}"
            rss_idle = rss_mib(proc.pid)
            for i in range(checks):
                call("PUT", f"{base}/v1/agent/service/register",
                     {"Name": f"svc{i % 50}", "ID": f"svc-{i}", "Port": 1000 + i,
                      "Check": {"HTTP": url, "Interval": "10s", "Timeout": "5s"}})
            # One full interval so every check has started (their first runs are staggered).
            time.sleep(12)
            served0, cpu0 = Target.served, cpu_seconds(proc.pid)
            time.sleep(window)
            served1, cpu1 = Target.served, cpu_seconds(proc.pid)
            runs = served1 - served0
            return {
                "checks": checks,
                "window_s": window,
                "runs": runs,
                "cpu_s": cpu1 - cpu0,
                "cpu_per_1000_runs": (cpu1 - cpu0) / runs * 1000,
                "rss_idle_mib": rss_idle,
                "rss_mib": rss_mib(proc.pid),
            }
        finally:
            proc.kill()
            proc.wait()
            target.shutdown()


def wait_passing(base, name, want_present, index, limit=30.0):
    """Blocks on ?passing until the service is (not) listed; returns (when, index)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        _, headers, body = call(
            "GET", f"{base}/v1/health/service/{name}?passing&index={index}&wait=10s")
        index = int(headers.get("X-Consul-Index", "1"))
        present = len(json.loads(body)) > 0
        if present == want_present:
            return time.monotonic(), index
    raise RuntimeError("service never changed state")


def failure_latency(trials, interval_s=1.0):
    target = start_target()
    url = f"http://127.0.0.1:{target.server_port}/health"
    with tempfile.TemporaryDirectory(prefix="legate-bench-latency-") as scratch:
        proc, port = start_agent(scratch)
        base = f"http://127.0.0.1:{port}"
        try:
            call("PUT", f"{base}/v1/agent/service/register",
                 {"Name": "lat", "Check": {"HTTP": url, "Interval": f"{interval_s}s"}})
            _, index = wait_passing(base, "lat", True, 0)
            latencies = []
            for _ in range(trials):
                Target.failing = True
                flipped = time.monotonic()
                left, index = wait_passing(base, "lat", False, index)
                latencies.append((left - flipped) * 1000)
                Target.failing = False
                _, index = wait_passing(base, "lat", True, index)
                # Start the next trial at a random point of the check's cycle.
                time.sleep(0.37)
            return {
                "interval_ms": interval_s * 1000,
                "trials": trials,
                "median_ms": statistics.median(latencies),
                # Nearest rank, so p90 is never below the median however few the trials.
                "p90_ms": sorted(latencies)[math.ceil(0.9 * len(latencies)) - 1],
                "max_ms": max(latencies),
                "goal_ms": interval_s * 1000 + 100,
            }
        finally:
            proc.kill()
            proc.wait()
            target.shutdown()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "-p", "legate-agent"], cwd=ROOT, check=True)

    cost = overhead(args.checks, args.window)
    latency = failure_latency(args.trials)
    day = datetime.date.today().isoformat()
    text = f"""# Check runners, {day}

Single Legate server (release build), loopback, two shared cores. `bench/checks.py`.

## Overhead: {cost['checks']} HTTP checks at a 10 s interval

| metric | value |
|---|---:|
| check runs in the {cost['window_s']} s window | {cost['runs']} |
| agent CPU-seconds in the window | {cost['cpu_s']:.2f} |
| **CPU-seconds per 1,000 check runs** | **{cost['cpu_per_1000_runs']:.3f}** |
| RSS before registering | {cost['rss_idle_mib']:.1f} MiB |
| RSS with {cost['checks']} checks running | {cost['rss_mib']:.1f} MiB |

## Failure to leaving `?passing`: HTTP check, {latency['interval_ms']:.0f} ms interval

{latency['trials']} trials; the target switches to 500 at a random point of the check cycle.

| metric | value | goal |
|---|---:|---:|
| median | {latency['median_ms']:.0f} ms | |
| p90 | {latency['p90_ms']:.0f} ms | |
| max | {latency['max_ms']:.0f} ms | ≤ {latency['goal_ms']:.0f} ms |
"""
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
