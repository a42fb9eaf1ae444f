#!/usr/bin/env python3
"""A DNS-over-TCP load generator for replies dnsperf cannot read.

dnsperf 2.x counts every TCP reply of nearly 64 KiB as lost, so the "1,000 instances of one
service" point needs its own loader. This one keeps CONNECTIONS TCP connections open, and on
each sends one length-prefixed question, reads the whole reply (2-byte length, then the
message) and sends the next, for SECONDS; like dnsperf, one question in flight per connection.

    python3 bench/tcpload.py PORT NAME [--qtype SRV] [--connections 4] [--seconds 10]

Prints one JSON object: qps, completed, errors (wrong id, bad rcode, closed connections),
average reply size and answer count. Only the header is parsed, so the loader's own CPU stays
small next to the servers' (it shares the machine's cores with them).
"""

import argparse
import asyncio
import json
import struct
import time

QTYPES = {"A": 1, "SRV": 33, "ANY": 255}


def question(qid, name, qtype):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    # RD set, as dnsperf sends it; no EDNS (TCP replies may use 64 KiB regardless).
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + \
        struct.pack(">HH", qtype, 1)


async def worker(port, name, qtype, deadline, stats, index):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    qid = index * 4099
    try:
        while time.monotonic() < deadline:
            qid = (qid + 1) & 0xFFFF
            message = question(qid, name, qtype)
            writer.write(struct.pack(">H", len(message)) + message)
            length = struct.unpack(">H", await reader.readexactly(2))[0]
            reply = await reader.readexactly(length)
            rid, flags, _qd, answers = struct.unpack(">HHHH", reply[:8])
            if rid != qid or flags & 0xF != 0:
                stats["errors"] += 1
                continue
            stats["completed"] += 1
            stats["bytes"] += length
            stats["answers"] += answers
    except (asyncio.IncompleteReadError, ConnectionError):
        stats["errors"] += 1
    finally:
        writer.close()


async def run(port, name, qtype, connections, seconds):
    stats = {"completed": 0, "errors": 0, "bytes": 0, "answers": 0}
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(*(worker(port, name, qtype, deadline, stats, i)
                           for i in range(connections)))
    elapsed = time.monotonic() - start
    done = max(stats["completed"], 1)
    return {"qps": stats["completed"] / elapsed, "completed": stats["completed"],
            "errors": stats["errors"], "reply_bytes": stats["bytes"] / done,
            "answers": stats["answers"] / done}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("name")
    ap.add_argument("--qtype", default="SRV", choices=sorted(QTYPES))
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    result = asyncio.run(run(args.port, args.name, QTYPES[args.qtype], args.connections,
                             args.seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
