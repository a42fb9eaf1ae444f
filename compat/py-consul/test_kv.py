"""KV through py-consul: get, put, cas, flags, recurse, keys, delete, blocking index."""

import threading
import time
import uuid

import consul


def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:8]}/"


def test_put_get_roundtrip(c):
    p = prefix()
    assert c.kv.put(p + "a", "hello") is True
    index, entry = c.kv.get(p + "a")
    assert entry["Key"] == p + "a"
    assert entry["Value"] == b"hello"
    assert entry["Flags"] == 0
    # py-consul hands the X-Consul-Index header back as a string.
    assert int(index) == entry["ModifyIndex"]
    assert entry["CreateIndex"] <= entry["ModifyIndex"]


def test_missing_key_gives_none_and_a_usable_index(c):
    index, entry = c.kv.get(prefix() + "nope")
    assert entry is None
    assert int(index) > 0


def test_binary_values_and_flags(c):
    p = prefix()
    blob = bytes(range(256))
    assert c.kv.put(p + "bin", blob, flags=0x2DDCCBC058A50C18)
    _, entry = c.kv.get(p + "bin")
    assert entry["Value"] == blob
    assert entry["Flags"] == 0x2DDCCBC058A50C18


def test_empty_value_is_none(c):
    p = prefix()
    assert c.kv.put(p + "folder/", None)
    _, entry = c.kv.get(p + "folder/")
    assert entry["Value"] is None


def test_cas(c):
    p = prefix()
    assert c.kv.put(p + "k", "1", cas=0) is True
    assert c.kv.put(p + "k", "2", cas=0) is False
    _, entry = c.kv.get(p + "k")
    assert c.kv.put(p + "k", "3", cas=entry["ModifyIndex"]) is True
    assert c.kv.put(p + "k", "4", cas=entry["ModifyIndex"]) is False
    _, entry = c.kv.get(p + "k")
    assert entry["Value"] == b"3"


def test_recurse_and_keys(c):
    p = prefix()
    for key in ["a", "b/c", "b/d", "e"]:
        c.kv.put(p + key, key)
    _, entries = c.kv.get(p, recurse=True)
    assert [e["Key"] for e in entries] == [p + k for k in ["a", "b/c", "b/d", "e"]]
    _, keys = c.kv.get(p, keys=True)
    assert keys == [p + k for k in ["a", "b/c", "b/d", "e"]]
    _, rolled = c.kv.get(p, keys=True, separator="/")
    assert rolled == [p + "a", p + "b/", p + "e"]
    _, none = c.kv.get(prefix(), recurse=True)
    assert none is None


def test_delete_plain_recurse_and_cas(c):
    p = prefix()
    for key in ["x", "y/1", "y/2"]:
        c.kv.put(p + key, "v")
    assert c.kv.delete(p + "x") is True
    assert c.kv.get(p + "x")[1] is None
    assert c.kv.delete(p + "y/", recurse=True) is True
    assert c.kv.get(p, recurse=True)[1] is None
    c.kv.put(p + "z", "v")
    _, entry = c.kv.get(p + "z")
    assert c.kv.delete(p + "z", cas=entry["ModifyIndex"] + 100) is False
    assert c.kv.delete(p + "z", cas=entry["ModifyIndex"]) is True


def test_blocking_get_returns_on_write(c):
    p = prefix()
    c.kv.put(p + "watch", "1")
    index, _ = c.kv.get(p + "watch")
    result = {}

    def block():
        result["answer"] = c.kv.get(p + "watch", index=index, wait="30s")

    waiter = threading.Thread(target=block)
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive(), "a blocking query returned before any write"
    c.kv.put(p + "watch", "2")
    waiter.join(timeout=20)
    assert not waiter.is_alive()
    new_index, entry = result["answer"]
    assert int(new_index) > int(index)
    assert entry["Value"] == b"2"


def test_stale_and_consistent_reads(agent):
    p = prefix()
    for consistency in ["default", "stale", "consistent"]:
        c = consul.Consul(host="127.0.0.1", port=agent, consistency=consistency)
        c.kv.put(p + consistency, "v")
        _, entry = c.kv.get(p + consistency)
        assert entry["Value"] == b"v"
