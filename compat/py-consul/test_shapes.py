"""py-consul against the agent: Consul's exact answer shapes (issue 10, item 7): a check for
an unknown service refused, /v1/agent/self's sections, the keys of a plain agent service,
and the mesh (Connect) listings of a service without proxies."""

import time

import consul
from consul import Check


def test_a_check_for_an_unknown_service_is_refused(c):
    # Consul answers 404 `ServiceID "<id>" does not exist`; py-consul's boolean callback
    # turns a 404 into False.
    assert c.agent.check.register("py-orphan", Check.ttl("30s"), service_id="py-ghost") is False
    assert "py-orphan" not in c.agent.checks()


def test_agent_self_has_consuls_sections(c):
    me = c.agent.self()
    # `xDS` is set only by an agent running Consul's gRPC xDS server; `Coord` is the
    # agent's network coordinate.
    assert set(me) == {"Config", "DebugConfig", "Coord", "Member", "Stats", "Meta"}
    assert len(me["Coord"]["Vec"]) == 8 and me["Coord"]["Error"] > 0
    assert me["Member"]["Name"] == "py-node" and me["Member"]["Addr"] == "127.0.0.1"
    assert all(isinstance(value, str) for section in me["Stats"].values() for value in section.values())
    assert me["DebugConfig"]["DisableCoordinates"] is False


def test_a_plain_agent_service_has_exactly_consuls_keys(c):
    assert c.agent.service.register("py-shape", service_id="py-shape-1", port=9000)
    try:
        service = c.agent.services()["py-shape-1"]
        assert set(service) == {
            "ID", "Service", "Tags", "Meta", "Port", "Address", "Weights", "EnableTagOverride", "Datacenter",
        }
        _, entries = c.health.service("py-shape")
        assert "Datacenter" not in entries[0]["Service"]
        assert entries[0]["Service"]["Proxy"] == {"Mode": "", "MeshGateway": {}, "Expose": {}}
    finally:
        c.agent.service.deregister("py-shape-1")


def test_connect_listings_of_a_service_without_proxies_are_empty(c):
    assert c.agent.service.register("py-conn", port=9001)
    try:
        for listing in (c.catalog.connect, c.health.connect):
            index, nodes = listing("py-conn")
            assert nodes == []
            assert int(index) >= 1
            # Blocking on the index returns after the wait with the same answer.
            started = time.monotonic()
            again, nodes = listing("py-conn", index=index, wait="1s")
            assert nodes == [] and again == index
            assert time.monotonic() - started >= 0.9
        # A bad expression is refused as on the other listings.
        try:
            c.health.connect("py-conn", filter_expr="Service.Service ==")
        except consul.ConsulException as error:
            assert "Failed to create boolean expression evaluator" in str(error)
        else:
            raise AssertionError("a bad filter was accepted")
    finally:
        c.agent.service.deregister("py-conn")
