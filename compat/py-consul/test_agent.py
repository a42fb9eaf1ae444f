"""py-consul against the host agent: local services and checks (TTL, HTTP, script),
maintenance mode, and filter expressions."""

import time

import consul
import pytest
from consul import Check


def eventually(probe, what, limit=20.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


def passing_ids(c, name):
    _, entries = c.health.service(name, passing=True)
    return [entry["Service"]["ID"] for entry in entries]


def test_service_with_ttl_check(c):
    assert c.agent.service.register(
        "py-web", service_id="py-web-1", port=8080, tags=["v1"], meta={"env": "prod"},
        check=Check.ttl("60s"),
    )
    services = c.agent.services()
    assert services["py-web-1"]["Service"] == "py-web"
    assert services["py-web-1"]["Meta"] == {"env": "prod"}
    checks = c.agent.checks()
    assert checks["service:py-web-1"]["Status"] == "critical"
    assert passing_ids(c, "py-web") == []

    assert c.agent.check.ttl_pass("service:py-web-1", "all good")
    assert passing_ids(c, "py-web") == ["py-web-1"]
    assert c.agent.checks()["service:py-web-1"]["Output"] == "all good"

    assert c.agent.check.ttl_warn("service:py-web-1")
    assert passing_ids(c, "py-web") == []
    assert c.agent.check.ttl_fail("service:py-web-1", "down")
    _, entries = c.health.service("py-web")
    statuses = {check["CheckID"]: check["Status"] for check in entries[0]["Checks"]}
    assert statuses["service:py-web-1"] == "critical"

    assert c.agent.service.deregister("py-web-1")
    assert "py-web-1" not in c.agent.services()
    _, entries = c.health.service("py-web")
    assert entries == []


def test_ttl_update_of_an_unknown_check_is_not_found(c):
    # Consul answers 404; py-consul's boolean callback turns a 404 into False.
    assert c.agent.check.ttl_pass("no-such-check") is False


def test_standalone_checks_and_replace_existing(c):
    c.agent.service.register("py-db", service_id="py-db", check=Check.ttl("60s"),
                             extra_checks=[Check.ttl("60s")])
    checks = c.agent.checks()
    assert {"service:py-db:1", "service:py-db:2"} <= set(checks)
    assert c.agent.check.register("py-db-disk", Check.ttl("30s"), service_id="py-db",
                                  notes="disk space")
    assert c.agent.checks()["py-db-disk"]["ServiceName"] == "py-db"
    c.agent.service.register("py-db", service_id="py-db", check=Check.ttl("60s"),
                             replace_existing_checks=True)
    checks = c.agent.checks()
    assert "service:py-db" in checks
    assert "py-db-disk" not in checks and "service:py-db:2" not in checks
    assert c.agent.check.deregister("service:py-db")
    assert c.agent.service.deregister("py-db")


def test_http_check_against_the_agents_own_leader_endpoint(c, agent):
    url = f"http://127.0.0.1:{agent}/v1/status/leader"
    c.agent.service.register("py-http", check=Check.http(url, "1s", timeout="2s"))
    eventually(lambda: passing_ids(c, "py-http") == ["py-http"], "the HTTP check passes")
    check = c.agent.checks()["service:py-http"]
    assert check["Type"] == "http"
    assert check["Output"].startswith(f"HTTP GET {url}: 200 OK")
    c.agent.service.deregister("py-http")


def test_script_check_with_enable_script_checks(c):
    c.agent.service.register("py-script", check=Check.script(["sh", "-c", "echo degraded; exit 1"], "1s"))
    eventually(lambda: c.agent.checks()["service:py-script"]["Status"] == "warning",
               "the script check warns")
    assert "degraded" in c.agent.checks()["service:py-script"]["Output"]
    c.agent.service.deregister("py-script")


def test_maintenance_modes(c):
    c.agent.service.register("py-maint", check=Check.ttl("60s"))
    c.agent.check.ttl_pass("service:py-maint")
    assert passing_ids(c, "py-maint") == ["py-maint"]

    assert c.agent.service.maintenance("py-maint", True, "deploying")
    assert passing_ids(c, "py-maint") == []
    assert c.agent.checks()["_service_maintenance:py-maint"]["Notes"] == "deploying"
    assert c.agent.service.maintenance("py-maint", False)
    assert passing_ids(c, "py-maint") == ["py-maint"]

    assert c.agent.maintenance(True, "kernel upgrade")
    assert passing_ids(c, "py-maint") == []
    assert c.agent.checks()["_node_maintenance"]["Status"] == "critical"
    assert c.agent.maintenance(False)
    assert passing_ids(c, "py-maint") == ["py-maint"]
    c.agent.service.deregister("py-maint")


def test_filters(c):
    c.agent.service.register("py-f", service_id="py-f-1", tags=["blue"], meta={"env": "prod"},
                             check=Check.ttl("60s"))
    c.agent.service.register("py-f", service_id="py-f-2", tags=["green"], meta={"env": "dev"},
                             check=Check.ttl("60s"))
    c.agent.check.ttl_pass("service:py-f-1")

    assert set(c.agent.services(filter_expr='Meta.env == "prod"')) == {"py-f-1"}
    assert set(c.agent.services(filter_expr='"green" in Tags')) == {"py-f-2"}
    critical = c.agent.checks(filter_expr='Status == "critical" and ServiceName == "py-f"')
    assert set(critical) == {"service:py-f-2"}

    _, instances = c.catalog.service("py-f", filter_expr='ServiceMeta.env == "dev"')
    assert [instance["ServiceID"] for instance in instances] == ["py-f-2"]
    _, entries = c.health.service("py-f", filter_expr='Service.Tags contains "blue"')
    assert [entry["Service"]["ID"] for entry in entries] == ["py-f-1"]
    _, checks = c.health.checks("py-f", filter_expr='Status == "passing"')
    assert [check["CheckID"] for check in checks] == ["service:py-f-1"]

    # Consul answers a bad expression with 500 "Failed to create boolean expression
    # evaluator: ...", which py-consul raises as ConsulException.
    with pytest.raises(consul.ConsulException, match="Failed to create boolean expression evaluator"):
        c.agent.services(filter_expr="Meta.env ==")
    c.agent.service.deregister("py-f-1")
    c.agent.service.deregister("py-f-2")
