#!/usr/bin/env python3
"""DNS benchmark: Legate's DNS interface against NSD 4.6 serving the same names from a
static zone, side by side in the same run, with dnsperf (issue: DNS interface).

    python3 bench/dns.py [--repeat 3] [--seconds 10] [--out bench/results/dns-DATE.md]

Points: queries/s for `web.service.consul A` and `SRV` (3 instances, 20 clients), average
latency at a fixed 5,000 qps, and SRV over TCP for a service with 1,000 instances (with
bench/tcpload.py: dnsperf cannot read replies of nearly 64 KiB). Medians of REPEAT runs;
load generators and servers share the machine's 2 cores on loopback.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kv  # noqa: E402  (shared helpers: free ports, process stats, readiness)

ROOT = kv.ROOT
PEERS = kv.PEERS
BIG = 1000


def put_json(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.read().strip() == b"true"


class Legate:
    name = "legate"

    def __init__(self, binary, scratch):
        self.http = kv.free_port()
        self.port = kv.free_port()
        self.log = open(Path(scratch) / "legate.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "agent", "-server", "-bootstrap", f"-data-dir={scratch}/legate",
             f"-http-port={self.http}", f"-dns-port={self.port}", f"-server-port={free_port()}", f"-serf-lan-port={free_port()}", f"-serf-wan-port={free_port()}", "-bind=127.0.0.1", "-node=bench",
             "-log-level=warn"], stdout=self.log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{self.http}"
        kv.wait_http(base + "/v1/status/leader", lambda b: b.strip() not in (b'""', b""))
        for i in range(1, 4):
            put_json(base + "/v1/catalog/register", {
                "Node": f"n{i}", "Address": f"10.0.0.{i}",
                "Service": {"ID": f"web-{i}", "Service": "web", "Port": 8080}})
        for i in range(BIG):
            put_json(base + "/v1/catalog/register", {
                "Node": f"b{i}", "Address": f"10.1.{i // 256}.{i % 256}",
                "Service": {"ID": f"big-{i}", "Service": "big", "Port": 9000}})
        self.pid = self.proc.pid

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def zone_text():
    lines = ["$ORIGIN consul.", "$TTL 0",
             "@ IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0",
             "@ IN NS ns.consul.", "ns IN A 127.0.0.1"]
    for i in range(1, 4):
        lines.append(f"web.service IN A 10.0.0.{i}")
        lines.append(f"web.service IN SRV 1 1 8080 n{i}.node.dc1.consul.")
        lines.append(f"n{i}.node.dc1 IN A 10.0.0.{i}")
    for i in range(BIG):
        lines.append(f"big.service IN SRV 1 1 9000 b{i}.node.dc1.consul.")
        lines.append(f"b{i}.node.dc1 IN A 10.1.{i // 256}.{i % 256}")
    return "\n".join(lines) + "\n"


class Nsd:
    name = "nsd"

    def __init__(self, scratch):
        self.dir = Path(scratch) / "nsd"
        self.port = kv.free_port()
        zone = Path(scratch) / "consul.zone"
        zone.write_text(zone_text())
        kv.sh(str(PEERS / "nsd-server"), "start", str(self.dir), str(self.port), "consul.",
              str(zone), "1")
        self.pid = int((self.dir / "nsd.pid").read_text())

    def stop(self):
        kv.sh(str(PEERS / "nsd-server"), "stop", str(self.dir))


def dnsperf(port, queries, seconds, rate=None, clients=20):
    args = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries),
            "-c", str(clients), "-T", "1", "-l", str(seconds)]
    if rate:
        args += ["-Q", str(rate)]
    out = subprocess.run(args, check=True, text=True, capture_output=True).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    latency = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1)) * 1e6
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    completed = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    return {"qps": qps, "latency_us": latency, "lost": lost, "completed": completed}


def tcpload(port, seconds, connections=4):
    """`big.service.consul SRV` over TCP, whole replies read (see bench/tcpload.py)."""
    out = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "tcpload.py"),
                          str(port), "big.service.consul", "--qtype", "SRV",
                          "--connections", str(connections), "--seconds", str(seconds)],
                         check=True, text=True, capture_output=True).stdout
    return json.loads(out)


def one_run(binary, seconds, scratch):
    queries = {}
    for name, text in [("a", "web.service.consul A"), ("srv", "web.service.consul SRV")]:
        path = Path(scratch) / f"{name}.txt"
        path.write_text(text + "\n")
        queries[name] = path
    rows = {}
    for start in (lambda: Legate(binary, scratch), lambda: Nsd(scratch)):
        system = start()
        try:
            time.sleep(1)
            r = {"a": dnsperf(system.port, queries["a"], seconds),
                 "srv": dnsperf(system.port, queries["srv"], seconds),
                 "a_at_5k": dnsperf(system.port, queries["a"], seconds, rate=5000),
                 "big_tcp": tcpload(system.port, seconds),
                 "rss": kv.rss_mib(system.pid)}
            rows[system.name] = r
        finally:
            system.stop()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / f"dns-{datetime.date.today()}.md"))
    args = ap.parse_args()
    bindir = kv.sh(str(PEERS / "install")).split()
    os.environ["PATH"] = ":".join(bindir + [os.environ["PATH"]])
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "legate-agent"], cwd=ROOT, check=True)
    binary = str(ROOT / "target" / "release" / "legate")
    runs = []
    for i in range(args.repeat):
        print(f"run {i + 1}/{args.repeat}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="legate-dnsbench-") as scratch:
            runs.append(one_run(binary, args.seconds, scratch))

    lines = [f"# DNS: Legate vs NSD 4.6 ({datetime.date.today()})", "",
             f"dnsperf, {args.seconds}s per point, 20 clients; the TCP point with bench/tcpload.py, "
             f"4 connections; median of {args.repeat} runs; NSD serves the same names from a static zone (server-count 1, RRL off); "
             "load generator and servers share 2 cores on loopback. Ratio = legate / nsd.", "",
             "| metric | legate | nsd | ratio | goal |", "|---|---:|---:|---:|---|"]

    def row(label, path, fmt, goal=""):
        a, b = kv.median(runs, "legate", *path), kv.median(runs, "nsd", *path)
        ratio = f"{a / b:.2f}" if a and b else "n/a"
        lines.append(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {ratio} | {goal} |")

    row("`web.service.consul A` qps", ["a", "qps"], "{:.0f}", "≥ 0.5")
    row("`web.service.consul SRV` qps", ["srv", "qps"], "{:.0f}", "≥ 0.5")
    row("avg latency at 5,000 qps (µs)", ["a_at_5k", "latency_us"], "{:.0f}", "≤ 2")
    row(f"SRV over TCP, {BIG} instances, qps", ["big_tcp", "qps"], "{:.0f}")
    row("RSS after the run (MiB)", ["rss"], "{:.1f}")
    udp_lost = {s: sum(r[s][k]["lost"] for r in runs for k in ("a", "srv", "a_at_5k"))
                for s in ("legate", "nsd")}
    lost = {s: sum(r[s]["big_tcp"]["errors"] for r in runs) for s in ("legate", "nsd")}
    lines.append(f"| … errors over all runs (TCP point) | {lost['legate']} | {lost['nsd']} | | |")
    for label, key, fmt in [("reply size (bytes)", "reply_bytes", "{:.0f}"),
                            ("answers per reply", "answers", "{:.0f}")]:
        lines.append(f"| … {label} (TCP point) | {fmt.format(kv.median(runs, 'legate', 'big_tcp', key))} | "
                     f"{fmt.format(kv.median(runs, 'nsd', 'big_tcp', key))} | | |")
    lines += ["", f"Queries lost over all UDP points and runs: legate {udp_lost['legate']}, "
              f"nsd {udp_lost['nsd']}.",
              "", f"The TCP point asks `big.service.consul SRV` ({BIG} instances) over 4 "
              "connections, one question in flight on each, and reads every reply whole "
              "(2-byte length, then the message). Both servers fill one message of nearly 64 KiB: "
              "NSD all 1,000 SRV records with A glue for what fits, Legate as Consul trims it "
              "(SRV answers dropped until the message with each kept target's A record fits)."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
