"""Starts one real `legate agent` (a persistent single server on loopback, random free port,
its own data directory) for the session, and hands tests a py-consul client bound to it."""

import sys
import tempfile
from pathlib import Path

import consul
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import legate_agent  # noqa: E402


@pytest.fixture(scope="session")
def agent():
    with tempfile.TemporaryDirectory(prefix="legate-pyconsul-") as scratch:
        port = legate_agent.free_port()
        log = Path(scratch) / "agent.log"
        argv = legate_agent.command(f"{scratch}/data", port, "py-node", ["-enable-script-checks"])
        process = legate_agent.start(argv, log)
        try:
            legate_agent.ready(port, process, log)
            yield port
        finally:
            process.kill()
            process.wait()


@pytest.fixture
def c(agent):
    return consul.Consul(host="127.0.0.1", port=agent)
