"""py-consul's session, lock and transaction calls against a real Legate agent."""

import base64
import time

import consul
import pytest


def wait_for_node(c, name="py-node", timeout=30):
    """Sessions bind to serfHealth by default, which the leader registers a moment after the
    agent starts; wait for it, as a session created before it is refused."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, checks = c.health.node(name)
        if any(check["CheckID"] == "serfHealth" for check in checks or []):
            return
        time.sleep(0.1)
    raise AssertionError(f"node {name} never got its serfHealth check")


def test_session_create_info_list_node_renew_destroy(c):
    wait_for_node(c)
    sid = c.session.create(name="py", lock_delay=5, ttl=20, behavior="delete")
    index, session = c.session.info(sid)
    assert int(index) > 0
    assert session["ID"] == sid
    assert session["Name"] == "py"
    assert session["Node"] == "py-node"
    assert session["LockDelay"] == 5_000_000_000
    assert session["TTL"] == "20s"
    assert session["Behavior"] == "delete"
    assert session["NodeChecks"] == ["serfHealth"]
    _, listed = c.session.list()
    assert sid in [s["ID"] for s in listed]
    _, on_node = c.session.node("py-node")
    assert sid in [s["ID"] for s in on_node]
    renewed = c.session.renew(sid)
    assert renewed["ID"] == sid
    assert c.session.destroy(sid) is True
    assert c.session.info(sid)[1] is None
    with pytest.raises(consul.NotFound):
        c.session.renew(sid)


def test_checks_given_replace_serf_health(c):
    wait_for_node(c)
    sid = c.session.create(checks=[])
    _, session = c.session.info(sid)
    assert session["NodeChecks"] is None
    c.session.destroy(sid)


def test_acquire_release_and_behavior(c):
    wait_for_node(c)
    holder = c.session.create(lock_delay=0)
    other = c.session.create()
    assert c.kv.put("py/lock", "mine", acquire=holder) is True
    assert c.kv.put("py/lock", "theirs", acquire=other) is False
    _, entry = c.kv.get("py/lock")
    assert entry["Session"] == holder
    assert entry["LockIndex"] == 1
    assert c.kv.put("py/lock", "x", release=other) is False
    assert c.kv.put("py/lock", "free", release=holder) is True
    _, entry = c.kv.get("py/lock")
    assert "Session" not in entry
    assert entry["Value"] == b"free"
    # A session with behavior=delete takes its keys with it.
    deleter = c.session.create(behavior="delete", lock_delay=0)
    assert c.kv.put("py/ephemeral", "x", acquire=deleter) is True
    c.session.destroy(deleter)
    assert c.kv.get("py/ephemeral")[1] is None
    with pytest.raises(consul.ConsulException):
        c.kv.put("py/other", "x", acquire="00000000-0000-0000-0000-000000000000")
    c.session.destroy(holder)
    c.session.destroy(other)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_txn_applies_all_or_nothing(c):
    result = c.txn.put(
        [
            {"KV": {"Verb": "set", "Key": "py/txn/a", "Value": b64("1")}},
            {"KV": {"Verb": "set", "Key": "py/txn/b", "Value": b64("2")}},
            {"KV": {"Verb": "get", "Key": "py/txn/a"}},
        ]
    )
    assert result["Errors"] is None
    assert len(result["Results"]) == 3
    assert result["Results"][2]["KV"]["Value"] == b64("1")
    with pytest.raises(consul.ConsulException) as failed:
        c.txn.put(
            [
                {"KV": {"Verb": "set", "Key": "py/txn/c", "Value": b64("3")}},
                {"KV": {"Verb": "check-not-exists", "Key": "py/txn/a"}},
            ]
        )
    assert "409" in str(failed.value)
    assert c.kv.get("py/txn/c")[1] is None
