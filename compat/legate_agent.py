"""Starting a real `legate agent` for the Python suites: the binary the cargo build made, a
persistent single server on loopback, random free ports, its own data directory.

`command` builds the command line; `start` runs it (optionally through a prefix such as
`ip netns exec NS`) and waits for a leader with `ready`, which is also given the prefix.
"""

import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def legate_binary() -> str:
    explicit = os.environ.get("LEGATE_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "legate")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(data_dir: str, http_port: int, node: str, extra=()) -> list:
    return [
        legate_binary(), "agent", "-server", "-bootstrap",
        f"-data-dir={data_dir}", f"-http-port={http_port}", f"-node={node}",
        f"-dns-port={free_port()}", f"-server-port={free_port()}",
        f"-serf-lan-port={free_port()}", f"-serf-wan-port={free_port()}",
        "-bind=127.0.0.1", *extra,
    ]


def start(argv: list, log: Path, prefix=()) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([*prefix, *argv], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def ready(port: int, process: subprocess.Popen, log: Path, prefix=()) -> None:
    """Waits, with a deadline, until the agent names a leader."""
    probe = [*prefix, "python3", "-c",
             "import sys, urllib.request\n"
             f"r = urllib.request.urlopen('http://127.0.0.1:{port}/v1/status/leader', timeout=2)\n"
             "sys.exit(0 if r.read().strip() not in (b'\"\"', b'') else 1)"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"legate exited early:\n{log.read_text()}")
        if subprocess.run(probe, capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"legate never elected a leader:\n{log.read_text()}")
