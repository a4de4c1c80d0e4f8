"""What an operator following docs/deploy.md meets: one set of ports, the CLI (version, check,
migrate --status), log lines, request ids through nginx, drain closing kept-alive connections,
a build that refuses to ship without the widget."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import setuptools
from cryptography.fernet import Fernet

from .browser_support import ServerProcess
from .deploy_support import Nginx, client_ssl, make_cert

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webchat_server", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_the_deploy_guide_uses_one_set_of_ports() -> None:
    units = {int(p) for p in re.findall(r"webchat-server@(\d+)", re.search(
        r"systemctl enable --now (webchat-server@\d+ ?)+", DEPLOY).group(0))}  # type: ignore[union-attr]
    upstream = {int(p) for p in re.findall(r"server 127\.0\.0\.1:(\d+)", (ROOT / "deploy" / "nginx.conf").read_text())}
    targets = {int(p) for p in re.findall(r'"127\.0\.0\.1:(\d+)"', re.search(
        r"targets: \[[^\]]*\]", DEPLOY).group(0))}  # type: ignore[union-attr]
    assert units == upstream == targets, (units, upstream, targets)


def test_the_pgbouncer_section_says_what_a_restart_needs() -> None:
    ini = re.search(r"```ini\n(.*?)```", DEPLOY, re.DOTALL).group(1)  # type: ignore[union-attr]
    assert re.search(r"^server_login_retry = 1$", ini, re.MULTILINE)
    assert "userlist.txt" in DEPLOY and "SCRAM-SHA-256$4096" in DEPLOY and "pg_authid" in DEPLOY
    # a restore into a database that does not exist yet fails: the guide creates it first
    restore = DEPLOY[DEPLOY.index("pg_dump"):]
    assert restore.index("CREATE DATABASE webchat_restore") < restore.index("pg_restore --no-owner")


async def test_version_migrate_status_and_check(database_url: str, pg_uri: str, tmp_path: Path) -> None:
    from webchat_server import __version__

    done = await asyncio.to_thread(cli, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"webchat-server {__version__}"
    # a database that has never been migrated: every migration pending
    from .conftest import _with_database, admin

    empty = f"empty_{os.getpid()}"
    await admin(pg_uri, f"CREATE DATABASE {empty}")
    try:
        env = {"DATABASE_URL": _with_database(pg_uri, empty), "WEBCHAT_DATA_DIR": str(tmp_path)}
        status = await asyncio.to_thread(cli, "migrate", "--status", env=env)
        assert status.returncode == 0, status.stderr
        lines = status.stdout.split("\n")
        assert lines[0].startswith("0001_schema") and all(line.endswith("pending") for line in lines if line)
        assert (await asyncio.to_thread(cli, "migrate", env=env)).returncode == 0
        status = await asyncio.to_thread(cli, "migrate", "--status", env=env)
        assert "pending" not in status.stdout and status.stdout.count("\n") == len(lines) - 1
    finally:
        await admin(pg_uri, f"DROP DATABASE IF EXISTS {empty} WITH (FORCE)")
    key = Fernet.generate_key().decode()
    good = await asyncio.to_thread(cli, "check", env={"DATABASE_URL": database_url, "WEBCHAT_SECRET_KEY": key,
                                                      "WEBCHAT_DATA_DIR": str(tmp_path)})
    assert good.returncode == 0, good.stdout
    assert "migrations: up to date" in good.stdout and "proxy trust" in good.stdout
    assert key not in good.stdout and "secret_key = (set)" in good.stdout
    bad = await asyncio.to_thread(cli, "check", env={"DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/x",
                                                     "WEBCHAT_DATA_DIR": str(tmp_path)})
    assert bad.returncode == 1 and "FAIL  database" in bad.stdout and "hunter2" not in bad.stdout


@pytest.mark.slow
async def test_json_logs_carry_the_version_the_drain_and_the_exit(database_url: str, tmp_path: Path) -> None:
    from webchat_server import __version__

    server = ServerProcess(database_url, tmp_path, {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(),
                                                    "WEBCHAT_LOG_FORMAT": "json"})
    await asyncio.to_thread(server.start)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(server.proc.wait, 30)
    lines = [line for line in server.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line JSON: no plain-text banner
    messages = [r["message"] for r in records]
    assert any(m.startswith(f"webchat-server {__version__} serving on") for m in messages), messages
    assert any(m.startswith("SIGTERM: draining") for m in messages)
    assert messages[-1].startswith(f"webchat-server {__version__} exiting")


@pytest.fixture
async def trusted_nginx(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Nginx, ServerProcess, Path]]:
    server = ServerProcess(database_url, tmp_path / "s", {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(),
                                                          "WEBCHAT_TRUSTED_PROXIES": "127.0.0.1"})
    await asyncio.to_thread(server.start)
    cert, key = make_cert(tmp_path / "tls")
    nginx = Nginx(tmp_path / "nginx", [server.port, server.port], cert, key)
    await asyncio.to_thread(nginx.start)
    yield nginx, server, cert
    nginx.stop()
    await asyncio.to_thread(server.stop)


@pytest.mark.slow
async def test_request_id_is_echoed_through_a_trusted_proxy(trusted_nginx: tuple[Nginx, ServerProcess, Path]) -> None:
    nginx, server, cert = trusted_nginx
    async with (aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl(cert))) as s,
                s.get(nginx.base + "/webchat/me") as r):
        assert r.status == 200
        rid = r.headers.get("X-Request-Id")
    assert rid and re.fullmatch(r"[0-9a-f]{32}", rid)  # nginx's $request_id, kept by the server
    assert rid in server.log.read_text()


def _keepalive_get(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    return head


@pytest.mark.slow
async def test_draining_closes_kept_alive_connections(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess(database_url, tmp_path, {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(),
                                                    "WEBCHAT_DRAIN_DELAY": "30"})
    await asyncio.to_thread(server.start)
    try:
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=15)
        busy = socket.create_connection(("127.0.0.1", server.port), timeout=15)
        for sock in (idle, busy):
            assert b"200 OK" in _keepalive_get(sock, "/livez")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        # the idle kept-alive connection is closed by the server well before the drain delay ends
        assert idle.recv(1) == b""
        # still listening during the delay, but every answer now ends its connection
        deadline = time.monotonic() + 15
        while True:
            head = await asyncio.to_thread(_keepalive_get, socket.create_connection(("127.0.0.1", server.port)),
                                           "/readyz")
            if b"503" in head.split(b"\r\n")[0] or time.monotonic() > deadline:
                break
        assert b"Connection: close" in head, head.decode()
        idle.close()
        busy.close()
    finally:
        if server.proc is not None:  # still in its 30 s drain delay
            server.proc.kill()
            server.proc.wait(10)


def _setup_module(root: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """setup.py of a copy of the repo, loaded without running the build."""
    monkeypatch.setattr(setuptools, "setup", lambda **_: None)
    spec = importlib.util.spec_from_file_location("webchat_setup_copy", root / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_build_without_the_widget_fails_and_one_with_it_ships_its_source_map(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "repo"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in tracked:  # what a fresh clone has: no bundle (it is built, not committed)
        if (ROOT / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / rel, copy / rel)
    assert not (copy / "web" / "webchat.js").exists()
    with pytest.raises(SystemExit, match="make web"):
        _setup_module(copy, monkeypatch).data_files()
    shutil.copyfile(ROOT / "web" / "webchat.js", copy / "web" / "webchat.js")
    shutil.copytree(ROOT / "web" / "dist", copy / "web" / "dist")
    shipped = {str(p) for p in _setup_module(copy, monkeypatch).data_files()}
    named = re.search(r"sourceMappingURL=(\S+)", (ROOT / "web" / "webchat.js").read_text()).group(1)  # type: ignore[union-attr]
    assert f"web/{named}" in shipped
    manifest = (ROOT / "MANIFEST.in").read_text()
    assert "*.map" not in manifest.split("global-exclude", 1)[-1].split("\n", 1)[0]


async def test_the_demo_page_is_not_served_in_production(settings: Any, aiohttp_client: Any) -> None:
    from dataclasses import replace

    from webchat_server.app import create_app

    production = await aiohttp_client(create_app(replace(settings, demo_page=False)))
    for path in ("/", "/web/index.html"):
        assert (await production.get(path)).status == 404, path
    for path in ("/web/webchat.js", "/web/embed-launcher.html", "/livez"):
        assert (await production.get(path)).status == 200, path
    r = await production.post("/webchat/demo/token", json={"name": "x"})
    assert r.status in (403, 404)  # no demo sign-in either (403: no CSRF token; 404 with one)
    demo = await aiohttp_client(create_app(replace(settings, demo_page=True)))
    page = await demo.get("/")
    assert page.status == 200 and "Sign in as" in await page.text()
