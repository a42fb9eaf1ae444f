#!/usr/bin/env python3
"""What metrics cost a put, counted in instructions rather than seconds (issue 13).

    python3 bench/metrics_cost.py [--puts 2000] [--connections 1] [--repeat 3] [--out bench/results/metrics-cost-DATE.md]

`bench/kv.py --metrics-ab` compares put throughput with metrics on and off, but on this shared
two-core machine run-to-run spread (±20 %) swamps a 3 % goal. Instructions do not drift with
the machine: each run starts the release `legate` under callgrind (valgrind), once with the
metrics recorder and once with `telemetry.disable_metrics`, warms it up, zeroes the counters,
sends PUTS puts of unique keys with 256-byte values over CONNECTIONS keep-alive connections
(one thread each; several let the server batch entries as under load), and reads
the server's instruction total for that window; then it counts an idle window of the same
length, so background work (timers, gossip, the recorder's upkeep) is reported on its own.
On a CPU-bound server, throughput is inversely proportional to CPU per put, so the ratio of
instructions per put is the cost the throughput goal is about, without the noise.

Needs valgrind (Debian package) and builds `legate` in release mode.
"""

import argparse
import datetime
from http.client import HTTPConnection
import re
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kv import ROOT, free_port, http, wait_http

TOTALS = re.compile(rb"^(?:totals|summary):\s+(\d+)", re.M)


class Traced:
    """A single bootstrapped server under callgrind, whose counters are zeroed and dumped on
    demand with callgrind_control."""

    def __init__(self, binary, scratch, *extra):
        self.scratch = Path(scratch)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = open(self.scratch / "legate.log", "wb")
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.scratch}/cg.out",
             "--dump-instr=no", "--compress-strings=no", binary, "agent", "-server", "-bootstrap",
             f"-data-dir={self.scratch / 'data'}", f"-http-port={self.port}", f"-dns-port={free_port()}",
             f"-server-port={free_port()}", f"-serf-lan-port={free_port()}",
             f"-serf-wan-port={free_port()}", "-bind=127.0.0.1", "-node=bench", "-log-level=warn", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/v1/status/leader", lambda b: b.strip() not in (b'""', b""), timeout=300)
        self.dumps = 0

    def puts(self, prefix, count, connections=1):
        """COUNT puts spread over CONNECTIONS keep-alive connections, one thread each."""

        def work(worker):
            conn = HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                for i in range(worker, count, connections):
                    conn.request("PUT", f"/v1/kv/{prefix}/{i}", b"v" * 256)
                    response = conn.getresponse()
                    response.read()
                    if response.status != 200:
                        raise RuntimeError(f"put answered {response.status}")
            finally:
                conn.close()

        with ThreadPoolExecutor(connections) as pool:
            list(pool.map(work, range(connections)))

    def control(self, *args):
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)], check=True,
                       capture_output=True, timeout=120)

    def zero(self):
        self.control("--zero")

    def dump(self):
        """Instructions since the last zero (callgrind writes one file per dump)."""
        self.control("--dump")
        self.dumps += 1
        path = self.scratch / f"cg.out.{self.dumps}"
        deadline = time.monotonic() + 60
        while not (path.exists() and TOTALS.search(path.read_bytes())):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no callgrind dump at {path}")
            time.sleep(0.2)
        return int(TOTALS.search(path.read_bytes()).group(1))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=120)


def one(binary, scratch, extra, puts, connections):
    server = Traced(binary, scratch, *extra)
    try:
        server.puts("warm", 300)
        server.zero()
        start = time.monotonic()
        server.puts("load", puts, connections)
        load = server.dump()
        seconds = time.monotonic() - start
        server.zero()
        time.sleep(seconds)
        idle = server.dump()
        # Every put acknowledged is readable: the window counted real, applied writes.
        count = len(http("GET", server.base + "/v1/kv/load/?keys").split(b","))
        if count != puts:
            raise RuntimeError(f"{count} keys after {puts} puts")
        return {"load": load, "idle": idle, "seconds": seconds}
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--puts", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / f"metrics-cost-{datetime.date.today()}.md"))
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "legate-agent"], cwd=ROOT, check=True)
    binary = str(ROOT / "target" / "release" / "legate")
    runs = {"metrics on": [], "metrics off": []}
    with tempfile.TemporaryDirectory(prefix="legate-cost-") as scratch:
        off = Path(scratch) / "metrics-off.json"
        off.write_text('{"telemetry": {"disable_metrics": true}}')
        variants = [("metrics on", ()), ("metrics off", (f"-config-file={off}",))]
        for i in range(args.repeat):
            for name, extra in variants if i % 2 == 0 else reversed(variants):
                result = one(binary, f"{scratch}/{name}-{i}", extra, args.puts, args.connections)
                print(name, result, flush=True)
                runs[name].append(result)

    def per_put(name, key):
        return statistics.median(r[key] / args.puts for r in runs[name])

    def net(name):
        return statistics.median((r["load"] - r["idle"]) / args.puts for r in runs[name])

    lines = [f"# Instructions per put, metrics on vs off ({datetime.date.today()})", "",
             f"`python3 bench/metrics_cost.py --puts {args.puts} --connections {args.connections} "
             f"--repeat {args.repeat}`: release `legate` under callgrind, {args.puts} puts (unique keys, "
             f"256-byte values) over {args.connections} keep-alive connection(s) after 300 warm-up puts; server instructions over the load window, and over an "
             "idle window of the same length; median of the runs.", "",
             "| variant | instructions per put | idle instructions per put-time | net per put | runs (load, idle) |",
             "|---|---:|---:|---:|---|"]
    for name in runs:
        detail = ", ".join(f"{r['load']:,} / {r['idle']:,}" for r in runs[name])
        lines.append(f"| {name} | {per_put(name, 'load'):,.0f} | {per_put(name, 'idle'):,.0f} | "
                     f"{net(name):,.0f} | {detail} |")
    gross = per_put("metrics on", "load") / per_put("metrics off", "load")
    lines += ["", f"Metrics on / off, instructions per put: {gross:.4f} ({(gross - 1) * 100:+.2f} %); "
              f"net of the idle window: {net('metrics on') / net('metrics off'):.4f} "
              f"({(net('metrics on') / net('metrics off') - 1) * 100:+.2f} %). Goal: throughput no worse "
              "than -3 %, that is at most +3 % CPU per put on a CPU-bound server."]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
