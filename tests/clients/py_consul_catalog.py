"""py-consul's agent, catalog and health calls against a Tribune agent.

Run by tests/py_consul.rs as: python3 py_consul_catalog.py <port>. Exit 0 only if every check holds.
"""
import sys
import threading
import time

import consul

port = int(sys.argv[1])
c = consul.Consul(host="127.0.0.1", port=port)


def wait(what, predicate, secs=8):
    deadline = time.time() + secs
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


# Agent registration with py-consul's own check builders (lower-case keys on the wire).
assert c.agent.service.register("web", service_id="web-1", address="127.0.0.1", port=8080,
                                tags=["v1"], check=consul.Check.ttl("10s")) is True
assert c.agent.service.register("db", port=5432, check=consul.Check.tcp("127.0.0.1", 1, "1s")) is True
services = c.agent.services()
assert services["web-1"]["Service"] == "web" and services["web-1"]["Port"] == 8080, services
assert "service:web-1" in c.agent.checks()

# Health: critical until a TTL pass; passing=True filters.
wait("web in catalog", lambda: len(c.health.service("web")[1]) == 1)
index, nodes = c.health.service("web", passing=True)
assert nodes == [], nodes


def pass_later():
    time.sleep(0.3)
    consul.Consul(host="127.0.0.1", port=port).agent.check.ttl_pass("service:web-1", "all good")


threading.Thread(target=pass_later).start()
start = time.time()
new_index, nodes = c.health.service("web", index=index, wait="20s", passing=True)
while not nodes and time.time() - start < 10:  # a wake-up is not a guarantee of change
    new_index, nodes = c.health.service("web", index=new_index, wait="20s", passing=True)
assert len(nodes) == 1 and int(new_index) > int(index), (new_index, nodes)
checks = {ch["CheckID"]: ch for ch in nodes[0]["Checks"]}
assert checks["service:web-1"]["Output"] == "all good", checks
assert checks["serfHealth"]["Status"] == "passing"

# Catalog views.
_, services = c.catalog.services()
assert services.get("web") == ["v1"] and "consul" in services, services
_, nodes = c.catalog.nodes()
assert any(n["Node"] == "test-node" for n in nodes), nodes
_, instances = c.catalog.service("web")
assert instances[0]["ServicePort"] == 8080, instances
assert c.catalog.register("ext-node", "10.1.1.1", service={"Service": "ext", "Port": 1}) is True
_, instances = c.catalog.service("ext")
assert instances[0]["Address"] == "10.1.1.1", instances
assert c.catalog.deregister("ext-node") is True
_, node = c.catalog.node("test-node")
assert "web-1" in node["Services"], node
_, checks = c.health.checks("web")
assert checks[0]["CheckID"] == "service:web-1", checks
_, critical = c.health.state("critical")
assert any(ch["ServiceID"] == "db" for ch in critical), critical

# Deregistration reaches the catalog.
assert c.agent.service.deregister("web-1") is True
wait("web gone", lambda: c.health.service("web")[1] == [])
print("py-consul catalog: all checks passed")
