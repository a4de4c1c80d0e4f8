"""Real server processes: trusted proxies, Secure cookies, page headers, /metrics, demo sign-in, key file."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from webchat_server.domain.identity import identity_signature

from .browser_support import IDENTITY_SECRET, ServerProcess
from .conftest import TEMPLATE, _counter, _with_database, admin, identity_token, run_sync

METRICS_TOKEN = "metrics-token-for-tests"
SHOP = "https://shop.example"


def _server(pg_uri: str, data_dir: Path, env: dict[str, str], args: tuple[str, ...] = ()) -> Iterator[ServerProcess]:
    name = f"identity_{os.getpid()}_{next(_counter)}"
    run_sync(admin(pg_uri, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    srv = ServerProcess(_with_database(pg_uri, name), data_dir,
                        {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(), **env}, args)
    srv.start()
    yield srv
    srv.stop()
    run_sync(admin(pg_uri, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="module")
def proxied(pg_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Behind a proxy on 127.0.0.1 that it trusts, in demo mode, embeddable by one shop."""
    env = {"WEBCHAT_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8", "WEBCHAT_ALLOWED_ORIGINS": SHOP,
           "WEBCHAT_SESSION_MAX_AGE": "3600"}
    yield from _server(pg_uri, tmp_path_factory.mktemp("proxied"), env, ("--demo",))


@pytest.fixture(scope="module")
def direct(pg_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """No trusted proxy, a metrics token, an identity secret, not in demo mode."""
    env = {"WEBCHAT_METRICS_TOKEN": METRICS_TOKEN, "WEBCHAT_IDENTITY_SECRET": IDENTITY_SECRET}
    yield from _server(pg_uri, tmp_path_factory.mktemp("direct"), env)


class Browserless:
    """Plain HTTP/1.1 with one cookie, so tests can send any header a proxy or a client might."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.cookie = ""
        self.csrf = ""

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPResponse, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            h = dict(headers or {})
            if self.cookie:
                h["Cookie"] = self.cookie
            if self.csrf and method != "GET":
                h.setdefault("X-CSRF-Token", self.csrf)
            data = None if body is None else json.dumps(body)
            if data is not None:
                h["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            set_cookie = r.getheader("Set-Cookie")
            if set_cookie:
                self.cookie = set_cookie.split(";", 1)[0]
            is_json = (r.getheader("Content-Type") or "").startswith("application/json")
            return r.status, r, json.loads(raw) if is_json else raw
        finally:
            conn.close()

    def me(self, headers: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
        status, r, body = self.request("GET", "/webchat/me", headers=headers)
        assert status == 200, body
        self.csrf = body["csrf_token"]
        return body, r.getheader("Set-Cookie") or ""


def cookie_flags(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


def test_trusted_proxy_headers_make_the_client_https(proxied: ServerProcess) -> None:
    via_tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    _, set_cookie = Browserless(proxied).me(via_tls)
    assert {"secure", "httponly", "samesite"} <= cookie_flags(set_cookie)
    assert "Max-Age=3600" in set_cookie  # WEBCHAT_SESSION_MAX_AGE
    # a proxy that only says the scheme
    _, set_cookie = Browserless(proxied).me({"X-Forwarded-Proto": "https"})
    assert "secure" in cookie_flags(set_cookie)
    # plain HTTP straight to the server: not Secure (a browser would drop a Secure cookie over http)
    _, set_cookie = Browserless(proxied).me()
    assert "secure" not in cookie_flags(set_cookie)
    # the page the browser loaded is https://<host>: its Origin is our own once the scheme is known
    c = Browserless(proxied)
    c.me(via_tls)
    own = f"https://127.0.0.1:{proxied.port}"
    status, _, body = c.request("POST", "/webchat/chats/", {"title": "t"}, {**via_tls, "Origin": own})
    assert status == 201, body


def test_forwarded_headers_from_anyone_else_are_ignored(direct: ServerProcess) -> None:
    spoof = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "evil.example"}
    _, set_cookie = Browserless(direct).me(spoof)
    assert "secure" not in cookie_flags(set_cookie)
    assert f"Max-Age={30 * 24 * 3600}" in set_cookie  # the default lifetime
    c = Browserless(direct)
    c.me(spoof)
    # the scheme and host stayed what the connection says, so an https/evil Origin is foreign
    for origin in (f"https://127.0.0.1:{direct.port}", "http://evil.example"):
        status, _, body = c.request("POST", "/webchat/chats/", {"title": "t"}, {**spoof, "Origin": origin})
        assert status == 403 and body["error"]["code"] == "bad_origin", (origin, body)


def test_metrics_from_loopback_only_without_a_token(proxied: ServerProcess) -> None:
    c = Browserless(proxied)
    status, _, body = c.request("GET", "/metrics")
    assert status == 200 and b"webchat_ws_connections" in body
    # through the trusted proxy for a remote client: refused
    status, _, body = c.request("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    # through the proxy from the proxy's own host: allowed
    status, _, _ = c.request("GET", "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert status == 200


def test_metrics_with_a_token(direct: ServerProcess) -> None:
    c = Browserless(direct)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN},
                    {"Authorization": "Bearer " + "é" * 10}):
        status, r, body = c.request("GET", "/metrics", headers=headers)
        assert status == 401 and r.getheader("WWW-Authenticate", "").startswith("Bearer"), headers
    status, _, body = c.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200 and b"webchat_listener_healthy" in body


def test_pages_send_frame_ancestors_and_nosniff(proxied: ServerProcess, direct: ServerProcess) -> None:
    status, r, _ = Browserless(proxied).request("GET", "/")
    assert status == 200
    csp = r.getheader("Content-Security-Policy", "")
    assert f"frame-ancestors 'self' {SHOP}" in csp, csp
    assert r.getheader("X-Content-Type-Options") == "nosniff"
    status, r, _ = Browserless(direct).request("GET", "/")
    assert "frame-ancestors 'self';" in r.getheader("Content-Security-Policy", "") + ";"
    for path in ("/webchat/me", "/web/components/webchat-app.js", "/healthz"):
        status, r, _ = Browserless(direct).request("GET", path)
        assert status == 200 and r.getheader("X-Content-Type-Options") == "nosniff", path


def test_demo_token_endpoint_only_under_demo(proxied: ServerProcess, direct: ServerProcess) -> None:
    c = Browserless(direct)
    c.me()
    status, _, body = c.request("POST", "/webchat/demo/token", {"name": "Ada"})
    assert status == 404 and body["success"] is False
    c = Browserless(proxied)
    c.me()
    status, _, body = c.request("POST", "/webchat/demo/token", {"name": "Ada"})
    assert status == 200 and body["success"] is True
    status, _, body = c.request("POST", "/webchat/identify", {"token": body["token"]})
    assert status == 200 and body["account"]["display_name"] == "Ada"
    # a demo token means nothing to a server with its own identity secret
    status, _, body = c.request("POST", "/webchat/demo/token", {"name": "Eve"}, {"X-CSRF-Token": body["csrf_token"]})
    d = Browserless(direct)
    d.me()
    status, _, body = d.request("POST", "/webchat/identify", {"token": body["token"]})
    assert status == 403 and body["error"]["code"] == "bad_token"


@pytest.mark.parametrize("content", [b"\n", b"\xff\xfe garbage \x00"])
def test_unusable_secret_key_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "secret_key").write_bytes(content)
    env = {k: v for k, v in os.environ.items() if k != "WEBCHAT_SECRET_KEY"}
    env.update({"WEBCHAT_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    done = subprocess.run([sys.executable, "-m", "webchat_server", "serve"], env=env, capture_output=True,
                          timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert str(tmp_path / "secret_key") in err and "Delete it" in err and "Traceback" not in err, err


def test_bad_secret_key_setting_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "WEBCHAT_DATA_DIR": str(tmp_path), "WEBCHAT_SECRET_KEY": "too-short",
           "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run([sys.executable, "-m", "webchat_server", "serve"], env=env, capture_output=True,
                          timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 1 and "WEBCHAT_SECRET_KEY" in err and "Traceback" not in err, err


# -- the demo page in a browser ------------------------------------------------------------------

def _me(page: Any) -> Any:
    return page.locator("webchat-app .me")


@pytest.mark.browser
def test_demo_page_ignores_url_parameters(context: Any, proxied: ServerProcess) -> None:
    page = context.new_page()
    page.goto(f"{proxied.base}/")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(_me(page)).to_contain_text("Guest")
    # what used to sign a visitor in (a link someone else made) now does nothing
    sig = identity_signature(IDENTITY_SECRET, "attacker")
    token = identity_token("attacker", "Attacker")
    page.goto(f"{proxied.base}/?user_id=attacker&name=Attacker&signature={sig}&user-token={token}&token={token}")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(_me(page)).to_contain_text("Guest")
    assert "user-token" not in (page.locator("webchat-app").evaluate("e => e.getAttributeNames()"))


@pytest.mark.browser
def test_demo_page_signs_in_and_out(context: Any, proxied: ServerProcess) -> None:
    page = context.new_page()
    page.goto(f"{proxied.base}/")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    box = page.locator("webchat-composer textarea")
    box.fill("asked as a guest")
    box.press("Enter")
    # exact: the demo bot answers "You said: asked as a guest"
    bubble = page.locator("webchat-message .bubble").get_by_text("asked as a guest", exact=True)
    expect(bubble).to_have_count(1)
    page.get_by_label("Sign in as").fill("Ada Lovelace")
    page.get_by_role("button", name="Sign in").click()
    expect(_me(page)).to_have_text("Ada Lovelace")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    # the guest's chat moved to the signed-in user
    expect(bubble).to_have_count(1)
    # the same name in another browser is the same (demo) user and sees that chat
    other = page.context.browser.new_context(bypass_csp=True)
    try:
        laptop = other.new_page()
        laptop.goto(f"{proxied.base}/")
        laptop.get_by_label("Sign in as").fill("Ada Lovelace")
        laptop.get_by_role("button", name="Sign in").click()
        expect(_me(laptop)).to_have_text("Ada Lovelace")
        expect(laptop.locator("webchat-message .bubble").get_by_text("asked as a guest", exact=True)).to_have_count(1)
    finally:
        other.close()
    page.get_by_role("button", name="Sign out").click()
    expect(_me(page)).to_contain_text("Guest")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(bubble).to_have_count(0)
    # and it stays signed out across a reload
    page.reload()
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(_me(page)).to_contain_text("Guest")


@pytest.mark.browser
def test_demo_page_without_demo_says_so(context: Any, direct: ServerProcess) -> None:
    page = context.new_page()
    page.goto(f"{direct.base}/")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    page.get_by_label("Sign in as").fill("Ada")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-status")).to_contain_text("--demo")
    expect(_me(page)).to_contain_text("Guest")
