"""Replaces py-consul 1.8.0's top-level conftest.py (which starts Consul in docker) and
nothing else: every test gets a fresh `tribune agent -dev`, configured as the original
fixture configures Consul (the same JSON, ACLs with an initial management token for the
ACL fixture). The suite's own files (tests/, tests/conftest.py) are used unchanged.
Copied over the unpacked sdist by run.py."""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

ConsulInstance = collections.namedtuple("ConsulInstance", ["container", "port", "version"])
BIN = os.environ["TRIBUNE_BIN"]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: the sockets stay bound until all are chosen (one at a time,
    the kernel may hand out the same port twice: the agent then failed to bind its second
    use with "Address already in use")."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def http_port(fallback: int) -> int:
    """8500 when free: inside the original fixture's container the agent listens there, and
    some tests point HTTP checks at http://localhost:8500 (the agent itself). Otherwise any
    free port (`fallback`)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", 8500))
        return 8500
    except OSError:
        return fallback
    finally:
        s.close()


class Agent:
    """A running agent (stands in for the original fixture's container)."""

    def __init__(self, acl_master_token: str | None):
        # The original fixture's CONSUL_LOCAL_CONFIG, verbatim.
        config = {
            "ports": {"https": -1, "dns": -1, "grpc_tls": -1},
            "performance": {"raft_multiplier": 1},
            "enable_script_checks": True,
        }
        if acl_master_token:
            config.update(
                {
                    "primary_datacenter": "dc1",
                    "acl": {"enabled": True, "tokens": {"initial_management": acl_master_token}},
                }
            )
        self.dir = tempfile.mkdtemp(prefix="tribune-pyc-")
        path = os.path.join(self.dir, "local.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        lan, wan, server, spare = free_ports(4)
        self.port = http_port(spare)
        args = [BIN, "agent", "-dev", "-client", "127.0.0.1", "-http-port", str(self.port),
                "-shards", "2", "-serf-lan-port", str(lan), "-serf-wan-port", str(wan),
                "-server-port", str(server), "-config-file", path]
        self.log = open(os.path.join(self.dir, "agent.log"), "w", encoding="utf-8")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready(acl_master_token)

    def wait_ready(self, token: str | None) -> None:
        # As the original: a leader, then a service registered and seen healthy.
        base = f"http://127.0.0.1:{self.port}/v1/"
        headers = {"X-Consul-Token": token} if token else {}
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if requests.get(base + "status/leader", timeout=2).json():
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        for _ in range(50):
            try:
                requests.put(base + "agent/service/register", json={"name": "test-service"},
                             headers=headers, timeout=2)
                r = requests.get(base + "health/service/test-service", headers=headers, timeout=2)
                if r.status_code == 200 and r.json():
                    requests.put(base + "agent/service/deregister/test-service", headers=headers, timeout=2)
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError("agent did not become ready; log in " + self.dir)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def agent_version(port: int) -> str:
    # As the original `get_consul_version`.
    response = requests.get(f"http://127.0.0.1:{port}/v1/agent/self", timeout=10)
    return response.json()["Config"]["Version"].strip()


@pytest.fixture(scope="session", autouse=True)
def _unset_consul_token():
    os.environ.pop("CONSUL_HTTP_TOKEN", None)


@pytest.fixture
def consul_instance():
    agent = Agent(None)
    yield ConsulInstance(agent, agent.port, agent_version(agent.port))
    agent.stop()


@pytest.fixture
def acl_consul_instance():
    token = uuid.uuid4().hex
    agent = Agent(token)
    yield ConsulInstance(agent, agent.port, agent_version(agent.port)), token
    agent.stop()


@pytest.fixture
def consul_port(consul_instance):
    return consul_instance.port, consul_instance.version
