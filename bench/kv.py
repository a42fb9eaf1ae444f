#!/usr/bin/env python3
"""KV benchmark: a single Legate server against a single-member etcd 3.4, side by side in the
same run, with the same load generator (wrk) and connection counts (issue: single-server
foundation). Reports ratios, medians of REPEAT runs per point.

    python3 bench/kv.py [--repeat 3] [--duration 12] [--out bench/results/kv-DATE.md]
    python3 bench/kv.py --metrics-ab [--repeat 3] [--duration 8]

`--metrics-ab` measures what metrics cost (issue 13: put req/s at 64 connections with metrics
on within 3 % of the same build with them off, `telemetry.disable_metrics`): each repeat runs
Legate with metrics on, Legate with them off (in alternating order, so drift in the machine
does not favour one) and etcd, one at a time, on fresh data directories.

Needs ../shared/peers/install (etcd, wrk), and builds `legate` in release mode.
Every process shares this machine's two cores with the load generator: read ratios, not
absolutes.
"""

import argparse
import base64
import datetime
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "peers"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid):
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE / 2**20


def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def wait_http(url, ok, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if ok(http("GET", url)):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} never became ready")


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(url, connections, duration, script=None, env=None):
    threads = min(2, connections)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        args += ["-s", str(script)]
    out = sh(*args, url, env={**os.environ, **(env or {})})
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    errors = sum(int(x) for x in re.findall(r"(?:Non-2xx or 3xx responses|Socket errors:.*?timeout)\s*:?\s*(\d+)", out))
    return {"rps": rps, "total": total, "p50": to_ms(lat["50"]), "p90": to_ms(lat["90"]),
            "p99": to_ms(lat["99"]), "errors": errors}


def fill(system, count, workers=16):
    """Exactly `count` unique-key puts with 256-byte values, over `workers` keep-alive
    connections (wrk cannot stop at a count: it always runs its full duration)."""
    import http.client
    import threading

    host, port = system.base.split("//")[1].split(":")
    errors = []

    def work(worker):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        for i in range(worker, count, workers):
            method, path, body, headers = system.put_request(f"fill/{i:08d}")
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} fill puts failed: {errors[:5]}")


class Legate:
    name = "legate"

    @staticmethod
    def put_request(key):
        return "PUT", f"/v1/kv/{key}", b"v" * 256, {}

    def __init__(self, binary, scratch, *extra):
        self.port = free_port()
        Path(scratch).mkdir(parents=True, exist_ok=True)
        self.dir = Path(scratch) / "legate"
        self.log = open(Path(scratch) / "legate.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "agent", "-server", "-bootstrap", f"-data-dir={self.dir}",
             f"-http-port={self.port}", f"-dns-port={free_port()}", f"-server-port={free_port()}", f"-serf-lan-port={free_port()}", f"-serf-wan-port={free_port()}", "-bind=127.0.0.1", "-node=bench",
             "-log-level=warn", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/v1/status/leader", lambda b: b.strip() not in (b'""', b""))
        http("PUT", self.base + "/v1/kv/foo", b"v" * 256)
        self.pid = self.proc.pid

    def put(self, connections, duration):
        return wrk(self.base, connections, duration, PEERS / "wrk-consul-put.lua")

    def get(self, connections, duration, stale):
        return wrk(self.base + ("/v1/kv/foo?stale" if stale else "/v1/kv/foo"), connections, duration)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


class Etcd:
    name = "etcd"

    @staticmethod
    def put_request(key):
        body = '{"key":"%s","value":"%s"}' % (base64.b64encode(key.encode()).decode(),
                                              base64.b64encode(b"v" * 256).decode())
        return "POST", "/v3/kv/put", body.encode(), {"Content-Type": "application/json"}

    def __init__(self, scratch):
        self.dir = Path(scratch) / "etcd"
        sh(str(PEERS / "etcd-cluster"), "start", str(self.dir), "1")
        self.base = "http://127.0.0.1:23791"
        self.pid = int(Path(self.dir, "pids").read_text().split()[0])
        # The key the range twin reads ("foo", base64 Zm9v), with a 256-byte value.
        value = base64.b64encode(b"v" * 256).decode()
        http("POST", self.base + "/v3/kv/put", ('{"key":"Zm9v","value":"%s"}' % value).encode())

    def put(self, connections, duration):
        return wrk(self.base, connections, duration, PEERS / "wrk-etcd-put.lua")

    def get(self, connections, duration, stale):
        return wrk(self.base, connections, duration, PEERS / "wrk-etcd-get.lua",
                   env={"SERIALIZABLE": "1" if stale else "0"})

    def stop(self):
        sh(str(PEERS / "etcd-cluster"), "stop", str(self.dir))


def metrics_ab_run(binary, duration, index):
    """put64 with metrics on and off (order alternating with `index`), then etcd."""
    rows = {}
    with tempfile.TemporaryDirectory(prefix="legate-bench-") as scratch:
        off_config = Path(scratch) / "metrics-off.json"
        off_config.write_text('{"telemetry": {"disable_metrics": true}}')
        variants = [("metrics on", ()), ("metrics off", (f"-config-file={off_config}",))]
        if index % 2:
            variants.reverse()
        starts = [(name, lambda extra=extra, name=name: Legate(binary, f"{scratch}/{name}", *extra))
                  for name, extra in variants]
        starts.append(("etcd", lambda: Etcd(scratch)))
        for name, start in starts:
            system = start()
            try:
                time.sleep(1)
                cpu0 = cpu_seconds(system.pid)
                rows[name] = system.put(64, duration)
                rows[name]["cpu_per_1k_puts"] = (cpu_seconds(system.pid) - cpu0) / rows[name]["total"] * 1000
            finally:
                system.stop()
    return rows


def metrics_ab(binary, args):
    runs = []
    for i in range(args.repeat):
        print(f"run {i + 1}/{args.repeat}", file=sys.stderr)
        runs.append(metrics_ab_run(binary, args.duration, i))
    names = ["metrics on", "metrics off", "etcd"]
    med = {n: {k: statistics.median(r[n][k] for r in runs) for k in ("rps", "p50", "p99", "cpu_per_1k_puts")}
           for n in names}
    on, off = med["metrics on"]["rps"], med["metrics off"]["rps"]
    lines = [f"# KV puts at 64 connections: metrics on vs off ({datetime.date.today()})", "",
             f"`python3 bench/kv.py --metrics-ab --repeat {args.repeat} --duration {args.duration}`: "
             f"wrk, unique keys, 256-byte values, {args.duration}s per point, median of {args.repeat} runs, "
             "on and off in alternating order; load generator and servers share 2 cores on loopback.", "",
             "| system | put req/s | p50 (ms) | p99 (ms) | CPU-s per 1,000 puts | runs (req/s) |",
             "|---|---:|---:|---:|---:|---|"]
    for n in names:
        each = ", ".join(f"{r[n]['rps']:.0f}" for r in runs)
        lines.append(f"| {n} | {med[n]['rps']:.0f} | {med[n]['p50']:.2f} | {med[n]['p99']:.2f} "
                     f"| {med[n]['cpu_per_1k_puts']:.4f} | {each} |")
    paired = [r["metrics on"]["rps"] / r["metrics off"]["rps"] for r in runs]
    cpu = med["metrics on"]["cpu_per_1k_puts"] / med["metrics off"]["cpu_per_1k_puts"]
    lines += ["", f"Throughput, metrics on / off: {on / off:.3f} of the medians ({(on / off - 1) * 100:+.1f} %; "
              f"goal: no worse than -3 %); per run, paired: {', '.join(f'{x:.3f}' for x in paired)} "
              f"(median {statistics.median(paired):.3f}). "
              f"Server CPU per put, on / off: {cpu:.3f} ({(cpu - 1) * 100:+.1f} %). "
              f"Legate (metrics on) / etcd: {on / med['etcd']['rps']:.2f}."]
    errors = sum(r[n]["errors"] for r in runs for n in names)
    lines += ["", f"Errors (non-2xx or timeouts) over all runs: {errors}."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


def one_run(binary, duration, fill_target):
    rows = {}
    with tempfile.TemporaryDirectory(prefix="legate-bench-") as scratch:
        # One system at a time, so neither runs while the other is measured.
        for start in (lambda: Legate(binary, scratch), lambda: Etcd(scratch)):
            system = start()
            try:
                time.sleep(1)
                r = {"rss_idle": rss_mib(system.pid)}
                cpu0 = cpu_seconds(system.pid)
                r["put1"] = system.put(1, duration)
                r["put64"] = system.put(64, duration)
                puts = r["put1"]["total"] + r["put64"]["total"]
                r["cpu_per_1k_puts"] = (cpu_seconds(system.pid) - cpu0) / puts * 1000
                r["get_stale64"] = system.get(64, duration, stale=True)
                r["get_default64"] = system.get(64, duration, stale=False)
                rows[system.name] = r
            finally:
                system.stop()
        # Memory after a fixed number of keys, on fresh instances, so both hold the same
        # data however fast each wrote during the throughput points.
        for start in (lambda: Legate(binary, scratch + "/m"), lambda: Etcd(scratch + "/m")):
            system = start()
            try:
                fill(system, fill_target)
                time.sleep(2)
                rows[system.name]["rss_100k"] = rss_mib(system.pid)
            finally:
                system.stop()
    return rows


def median(runs, system, *path):
    values = []
    for run in runs:
        v = run[system]
        for p in path:
            v = v[p]
        values.append(v)
    return statistics.median(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=int, default=12)
    ap.add_argument("--fill", type=int, default=100_000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--metrics-ab", action="store_true",
                    help="put req/s at 64 connections with metrics on vs off (and etcd)")
    args = ap.parse_args()
    if args.out is None:
        stem = "kv-metrics" if args.metrics_ab else "kv"
        args.out = str(ROOT / "bench" / "results" / f"{stem}-{datetime.date.today()}.md")
    bindir = sh(str(PEERS / "install")).split()
    os.environ["PATH"] = ":".join(bindir + [os.environ["PATH"]])
    if not shutil.which("wrk"):
        sys.exit("wrk missing: run ../shared/peers/install")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "legate-agent"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = str(target / "release" / "legate")
    if args.metrics_ab:
        return metrics_ab(binary, args)
    runs = []
    for i in range(args.repeat):
        print(f"run {i + 1}/{args.repeat}", file=sys.stderr)
        runs.append(one_run(binary, args.duration, args.fill))

    lines = [f"# KV: single Legate server vs single-member etcd 3.4 ({datetime.date.today()})", "",
             f"wrk, unique keys, 256-byte values, {args.duration}s per point, median of {args.repeat} runs; "
             "load generator and servers share 2 cores on loopback. Ratio = legate / etcd "
             "(for latency and RSS, lower is better; for throughput, higher is better).", "",
             "| metric | legate | etcd | ratio | goal |", "|---|---:|---:|---:|---|"]

    def row(label, path, fmt, goal=""):
        a, b = median(runs, "legate", *path), median(runs, "etcd", *path)
        lines.append(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {a / b:.2f} | {goal} |")

    row("put p50, 1 conn (ms)", ["put1", "p50"], "{:.2f}", "≤ 0.7")
    row("put p99, 1 conn (ms)", ["put1", "p99"], "{:.2f}")
    row("put req/s, 1 conn", ["put1", "rps"], "{:.0f}")
    row("put req/s, 64 conns", ["put64", "rps"], "{:.0f}", "≥ 1.5")
    row("put p50, 64 conns (ms)", ["put64", "p50"], "{:.2f}")
    row("put p99, 64 conns (ms)", ["put64", "p99"], "{:.2f}")
    row("stale GET req/s, 64 conns (etcd serializable)", ["get_stale64", "rps"], "{:.0f}", "≥ 2")
    row("default GET req/s, 64 conns (etcd linearizable)", ["get_default64", "rps"], "{:.0f}")
    row("CPU-s per 1,000 puts", ["cpu_per_1k_puts"], "{:.3f}")
    row("RSS idle (MiB)", ["rss_idle"], "{:.1f}")
    row(f"RSS after {args.fill // 1000}k puts (MiB)", ["rss_100k"], "{:.1f}", "≤ 0.5")
    errors = {s: sum(r[s][k]["errors"] for r in runs for k in ("put1", "put64", "get_stale64", "get_default64"))
              for s in ("legate", "etcd")}
    lines += ["", f"Errors (non-2xx or timeouts) over all runs: legate {errors['legate']}, etcd {errors['etcd']}."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
