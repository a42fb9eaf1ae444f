"""py-consul against the agent: user events (issue 10, item 5): event.fire answers the
event, event.list lists it with its payload decoded, filters by name, and blocks on the
event index until the next fire."""

import threading
import time

import consul
import pytest


def test_fire_answers_consuls_event(c):
    event = c.event.fire("py-deploy", "v1.2.3")
    assert set(event) == {
        "ID", "Name", "Payload", "NodeFilter", "ServiceFilter", "TagFilter", "Version", "LTime",
    }
    assert event["Name"] == "py-deploy"
    assert event["Payload"] == "djEuMi4z"  # fire does not decode; base64 of the body
    assert event["Version"] == 1 and event["LTime"] == 0
    assert len(event["ID"]) == 36


def test_list_decodes_payloads_and_filters_by_name(c):
    fired = c.event.fire("py-list", "hello")
    c.event.fire("py-other", "")
    index, events = c.event.list("py-list")
    mine = [e for e in events if e["ID"] == fired["ID"]]
    assert len(mine) == 1
    assert mine[0]["Payload"] == b"hello"
    assert all(e["Name"] == "py-list" for e in events)
    # The index is the last listed event's ID folded as Go's Event.IDToIndex does.
    last = events[-1]["ID"]
    lower = int(last[0:8] + last[9:13] + last[14:18], 16)
    upper = int(last[19:23] + last[24:36], 16)
    assert int(index) == lower ^ upper
    _, others = c.event.list("py-other")
    assert others[-1]["Payload"] is None  # no body: a null payload


def test_node_filters_apply_to_this_agent(c):
    kept = c.event.fire("py-filtered", "", node="^py-node$")
    dropped = c.event.fire("py-filtered", "", node="^someone-else$")
    _, events = c.event.list("py-filtered")
    ids = [e["ID"] for e in events]
    assert kept["ID"] in ids and dropped["ID"] not in ids


def test_a_blocking_list_returns_on_the_next_fire(c):
    c.event.fire("py-block", "first")
    index, _ = c.event.list("py-block")
    result = {}

    def block():
        result["answer"] = c.event.list("py-block", index=index, wait="30s")

    waiter = threading.Thread(target=block)
    started = time.monotonic()
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive()
    second = c.event.fire("py-block", "second")
    waiter.join(timeout=20)
    assert not waiter.is_alive()
    new_index, events = result["answer"]
    assert new_index != index
    assert events[-1]["ID"] == second["ID"] and events[-1]["Payload"] == b"second"
    assert time.monotonic() - started < 15


def test_refusals_raise_as_for_consul(c):
    with pytest.raises(consul.ConsulException, match="exceeds configured limit of 512 bytes"):
        c.event.fire("py-big", "x" * 600)
    with pytest.raises(consul.ConsulException, match="Cannot provide tag filter without service filter"):
        c.event.fire("py-tag", "", tag="v1")
