"""The web UI (issue 18) in a real headless Chromium: Debian's `chromium`, driven by Playwright
for Python pointed at the system browser (no browser download).

Each test starts its own `tribune agent -dev` on free loopback ports. Screenshots go to
`target/ui-screenshots/` (not committed).

    TRIBUNE_BIN=target/debug/tribune python3 -m pytest tests/ui -q
"""

import base64
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "ui-screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MGMT = "0d9e3c2a-6a55-4f7e-9c11-2b7f5c3e8a41"


def tribune_bin() -> str:
    if os.environ.get("TRIBUNE_BIN"):
        return os.environ["TRIBUNE_BIN"]
    for profile in ("debug", "release"):
        path = ROOT / "target" / profile / "tribune"
        if path.exists():
            return str(path)
    raise RuntimeError("build tribune first (cargo build)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    def __init__(self, acl: bool = False):
        self.dir = tempfile.TemporaryDirectory()
        self.port = free_port()
        args = [tribune_bin(), "agent", "-dev", "-client", "127.0.0.1", "-node", "ui-node",
                "-shards", "2", "-http-port", str(self.port), "-dns-port", str(free_port()),
                "-serf-lan-port", str(free_port()), "-serf-wan-port", str(free_port()),
                "-server-port", str(free_port())]
        if acl:
            config = Path(self.dir.name) / "acl.json"
            config.write_text(json.dumps({"acl": {"enabled": True, "default_policy": "deny",
                                                  "tokens": {"initial_management": MGMT, "agent": MGMT}}}))
            args.append(f"-config-file={config}")
        self.log = open(Path(self.dir.name) / "agent.log", "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.token = MGMT if acl else None
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.call("GET", "/v1/status/leader")[1].strip('"'):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the agent did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, body=None):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if self.token:
            req.add_header("X-Consul-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
        self.dir.cleanup()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def agent():
    a = Agent()
    yield a
    a.stop()


@pytest.fixture
def page(browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    p = context.new_page()
    errors = []
    # Uncaught exceptions and console errors, but not the browser's own line for an answer
    # with a 4xx status: the API answers 404 for an empty KV folder, as Consul's does.
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("console", lambda m: errors.append(m.text)
         if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    p.errors = errors
    yield p
    context.close()
    assert errors == [], f"console errors: {errors}"


def register_web(agent: Agent):
    body = {"Name": "web", "Tags": ["v1", "primary"], "Port": 8080,
            "Check": {"CheckID": "web-ttl", "Name": "web alive", "TTL": "10m"}}
    assert agent.call("PUT", "/v1/agent/service/register", body)[0] == 200
    assert agent.call("PUT", "/v1/agent/check/pass/web-ttl?note=ok")[0] == 200


def test_the_root_redirects_and_a_deep_link_loads(agent, page):
    page.goto(agent.url + "/")
    expect(page).to_have_url(agent.url + "/ui/dc1/services")
    page.goto(agent.url + "/ui/dc1/nodes/ui-node")
    expect(page.locator("h1")).to_have_text("ui-node")
    expect(page.locator("#checks")).to_contain_text("Serf Health Status")


def test_services_page_shows_health_and_a_critical_check_without_reload(agent, page):
    register_web(agent)
    db = {"Name": "db", "Tags": ["postgres"], "Port": 5432,
          "Check": {"CheckID": "db-ttl", "Name": "db replication", "TTL": "10m"}}
    assert agent.call("PUT", "/v1/agent/service/register", db)[0] == 200
    assert agent.call("PUT", "/v1/agent/check/warn/db-ttl?note=lagging")[0] == 200
    page.goto(agent.url + "/ui/dc1/services")
    row = page.locator("tr[data-service=web]")
    expect(row).to_contain_text("2 passing")
    expect(row).to_contain_text("primary")
    expect(page.locator("tr[data-service=consul]")).to_contain_text("1 passing")
    expect(page.locator("tr[data-service=db]")).to_contain_text("1 warning")
    page.screenshot(path=str(SHOTS / "services.png"))
    # Live: the blocking query returns with the change, no reload.
    started = time.monotonic()
    assert agent.call("PUT", "/v1/agent/check/fail/web-ttl?note=down")[0] == 200
    expect(row).to_contain_text("1 critical", timeout=3000)
    took = time.monotonic() - started
    print(f"critical shown {took * 1000:.0f} ms after the write")
    assert took < 1.5, f"the critical check took {took:.2f} s to show"
    page.screenshot(path=str(SHOTS / "services-critical.png"))
    # Search narrows; "/" focuses it from anywhere on the page.
    page.locator("body").press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type("postg")
    expect(page.locator("tbody tr")).to_have_count(1)
    # A service's instances with their checks and output.
    page.goto(agent.url + "/ui/dc1/services/web")
    expect(page.locator("#instances")).to_contain_text("down")
    expect(page.locator("#instances")).to_contain_text("127.0.0.1:8080")


def test_kv_create_edit_conflict_and_delete(agent, page):
    key = "app/ünï côde/config"
    page.goto(agent.url + "/ui/dc1/kv")
    expect(page.locator("#list")).to_contain_text("No keys here yet")
    page.get_by_role("link", name="Create").click()
    page.locator("#name").fill(key)
    page.locator("#value").fill('{"replicas": 2}')
    expect(page.locator("#format-hint")).to_have_text("valid JSON")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_have_text("config")
    path = "/v1/kv/" + "/".join(urllib.request.quote(p) for p in key.split("/"))
    status, body = agent.call("GET", path)
    assert status == 200
    assert base64.b64decode(json.loads(body)[0]["Value"]) == b'{"replicas": 2}'

    # Edit and save: written with the index it was loaded at.
    page.locator("#value").fill('{"replicas": 3}')
    page.locator("#flags").fill("42")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#toast")).to_contain_text("Saved")
    entry = json.loads(agent.call("GET", path)[1])[0]
    assert base64.b64decode(entry["Value"]) == b'{"replicas": 3}' and entry["Flags"] == 42

    # A concurrent change: the page's save is refused and says so; theirs stays.
    assert agent.call("PUT", path, b"theirs")[0] == 200
    page.locator("#value").fill("mine")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#result")).to_contain_text("the key changed")
    assert base64.b64decode(json.loads(agent.call("GET", path)[1])[0]["Value"]) == b"theirs"
    page.screenshot(path=str(SHOTS / "kv-conflict.png"))

    # Reload, then delete with confirmation.
    page.locator("#reload").click()
    expect(page.locator("#value")).to_have_value("theirs")
    page.get_by_role("button", name="Delete").click()
    page.locator("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#toast")).to_contain_text("Deleted")
    assert agent.call("GET", path)[0] == 404

    # The folder view lists folders and keys; a huge value is offered as a download.
    assert agent.call("PUT", "/v1/kv/big/blob", b"x" * (400 * 1024))[0] == 200
    page.goto(agent.url + "/ui/dc1/kv/big/")
    page.get_by_role("link", name="blob").click()
    expect(page.locator("#huge")).to_contain_text("400.0 KiB")
    expect(page.locator("#download")).to_be_visible()


def test_narrow_window_and_keyboard(agent, page):
    register_web(agent)
    page.set_viewport_size({"width": 420, "height": 800})
    page.goto(agent.url + "/ui/dc1/services")
    expect(page.locator("tr[data-service=web]")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a narrow window"
    page.screenshot(path=str(SHOTS / "services-narrow.png"), full_page=True)
    # Tab from the top reaches the skip link, then the navigation.
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("#nav a").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(agent.url + "/ui/dc1/services")


def test_cluster_page(agent, page):
    page.goto(agent.url + "/ui/dc1/cluster")
    expect(page.locator("#raft")).to_contain_text("leader")
    expect(page.locator("#gossip")).to_contain_text("ui-node")
    expect(page.locator("#latency svg")).to_be_visible()
    page.screenshot(path=str(SHOTS / "cluster.png"), full_page=True)


def test_a_token_logs_in_when_acls_are_on(browser):
    a = Agent(acl=True)
    try:
        register_web(a)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(a.url + "/ui/dc1/services")
        expect(page.locator(".notice")).to_contain_text("without a token")
        expect(page.locator("#list")).to_contain_text("No services registered")
        # A page that needs a permission anonymous lacks says which.
        page.goto(a.url + "/ui/dc1/services/web")
        expect(page.locator("#instances")).to_contain_text("lacks the service:read permission")
        page.goto(a.url + "/ui/dc1/settings")
        page.locator("#token").fill("not-a-token")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#who")).to_contain_text("No token has this secret")
        page.locator("#token").fill(MGMT)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#who")).to_contain_text("Logged in as")
        page.goto(a.url + "/ui/dc1/services")
        expect(page.locator("tr[data-service=web]")).to_contain_text("2 passing")
        # Tokens: create one with a policy, clone it, delete the clone.
        assert a.call("PUT", "/v1/acl/policy", {"Name": "readers", "Rules": 'service_prefix "" { policy = "read" }'})[0] == 200
        page.goto(a.url + "/ui/dc1/acls/tokens/create")
        page.locator("#description").fill("ui reader")
        page.get_by_label("readers").check()
        page.get_by_role("button", name="Save").click()
        expect(page.locator("h2")).to_contain_text("Token ")
        tokens = json.loads(a.call("GET", "/v1/acl/tokens")[1])
        mine = [t for t in tokens if t["Description"] == "ui reader"]
        assert len(mine) == 1 and mine[0]["Policies"][0]["Name"] == "readers"
        page.get_by_role("button", name="Clone").click()
        expect(page.locator("#description")).to_have_value("Clone of ui reader")
        page.get_by_role("button", name="Delete").click()
        page.locator("dialog").get_by_role("button", name="Delete").click()
        expect(page.locator("#list")).to_contain_text("ui reader")
        descriptions = [t["Description"] for t in json.loads(a.call("GET", "/v1/acl/tokens")[1])]
        assert "Clone of ui reader" not in descriptions and "ui reader" in descriptions
        page.screenshot(path=str(SHOTS / "acl-tokens.png"))
        context.close()
    finally:
        a.stop()
