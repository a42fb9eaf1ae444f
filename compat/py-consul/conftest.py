"""Starts one real `legate agent` (a persistent single server on loopback, random free port,
its own data directory) for the session, and hands tests a py-consul client bound to it."""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import consul
import pytest

ROOT = Path(__file__).resolve().parents[2]


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


def wait_for_leader(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"legate exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status/leader", timeout=2) as r:
                if r.read().strip() not in (b'""', b""):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"legate never elected a leader:\n{log.read_text()}")


@pytest.fixture(scope="session")
def agent():
    with tempfile.TemporaryDirectory(prefix="legate-pyconsul-") as scratch:
        port = free_port()
        log = Path(scratch) / "agent.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    legate_binary(), "agent", "-server", "-bootstrap",
                    f"-data-dir={scratch}/data", f"-http-port={port}", "-node=py-node",
                    f"-dns-port={free_port()}", f"-server-port={free_port()}", f"-serf-lan-port={free_port()}", f"-serf-wan-port={free_port()}",
                    "-bind=127.0.0.1",
                    "-enable-script-checks",
                ],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        try:
            wait_for_leader(port, process, log)
            yield port
        finally:
            process.kill()
            process.wait()


@pytest.fixture
def c(agent):
    return consul.Consul(host="127.0.0.1", port=agent)
