"""Operating it: systemd unit, /metrics through promtool, the Grafana dashboard, JSON logs with request ids."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from webchat_server.app import create_app
from webchat_server.http import logs
from webchat_server.settings import Settings

from .browser_support import ServerProcess
from .conftest import TEMPLATE, _counter, _with_database, admin, collect, run_sync
from .realtime_helpers import insert, make_bot

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\b((?:webchat|process)_[a-z0-9_]+)\b")


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path:
        # fail, never skip: CI installs these Debian packages (.ci/run)
        raise RuntimeError(f"{name} is required: apt-get install -y prometheus systemd")
    return path


# the N-worker service, and the template for one process per port (an instance of it is verified)
@pytest.mark.parametrize(("unit_file", "installed_as"), [("webchat-server.service", "webchat-server.service"),
                                                         ("webchat-server@.service", "webchat-server@8081.service")])
def test_systemd_unit_verifies(unit_file: str, installed_as: str, tmp_path: Path) -> None:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = (DEPLOY / unit_file).read_text()
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit, flags=re.MULTILINE))
    assert settings["User"] not in ("", "root") and settings["NoNewPrivileges"] == "true"
    assert settings["ProtectSystem"] == "strict" and settings["Restart"] == "on-failure"
    assert int(settings["LimitNOFILE"]) >= 65536 and "/var/lib/webchat-server" in settings["ReadWritePaths"]
    # verify checks that ExecStart exists: point it at this checkout's console script, as installed
    script = Path(sys.executable).parent / "webchat-server"
    copy = tmp_path / installed_as
    copy.write_text(unit.replace("/opt/webchat-server/venv/bin/webchat-server", str(script)))
    done = subprocess.run([binary, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values too; it only says so on stderr
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


@dataclass
class Scrape:
    metrics: str
    log: Path
    headers: dict[str, str] = field(default_factory=dict)


async def _traffic(srv: ServerProcess) -> Scrape:
    """What a visitor and an integrator do, then one scrape of /metrics."""
    headers: dict[str, str] = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(srv.base + "/webchat/me", headers={"X-Request-Id": "ops-test-1"}) as r:
            headers["given"] = r.headers.get("X-Request-Id", "")
            csrf = (await r.json())["csrf_token"]
        async with s.get(srv.base + "/webchat/me", headers={"X-Request-Id": "two words\tand a tab"}) as r:
            headers["refused"] = r.headers.get("X-Request-Id", "")
        async with s.post(srv.base + "/webchat/send/", json={"text": "hello"}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 201
            headers["generated"] = r.headers.get("X-Request-Id", "")
            chat = (await r.json())["chat_id"]
        ws = await s.ws_connect(srv.base + "/ws/webchat/")
        await collect(ws, 1, types=("connection",))
        import asyncpg

        sql = await asyncpg.connect(srv.database_url)
        try:
            await insert(sql, chat, await make_bot(sql, chat), "from SQL")
        finally:
            await sql.close()
        await collect(ws, 1)
        await ws.close()
        async with s.get(srv.base + "/webchat/messages/", params={"chat_id": "999999"}) as r:
            assert r.status == 404
        async with s.get(srv.base + "/no/such/page") as r:
            assert r.status == 404
        async with s.get(srv.base + "/metrics") as r:
            assert r.status == 200
            text = await r.text()
    return Scrape(text, srv.log, headers)


@pytest.fixture(scope="module")
def scrape(pg_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    """A real server process (JSON logs) after some real traffic, and its /metrics text."""
    name = f"ops_{os.getpid()}_{next(_counter)}"
    run_sync(admin(pg_uri, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    srv = ServerProcess(_with_database(pg_uri, name), tmp_path_factory.mktemp("ops"),
                        {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(), "WEBCHAT_LOG_FORMAT": "json"})
    srv.start()
    try:
        yield run_sync(_traffic(srv))
    finally:
        srv.stop()
        run_sync(admin(pg_uri, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _samples(metrics: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in metrics.splitlines() if line and not line.startswith("#")}


def test_metrics_pass_promtool(scrape: Scrape) -> None:
    done = subprocess.run([tool("promtool"), "check", "metrics"], input=scrape.metrics, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    # the series the dashboard is built on are there after real traffic
    assert 'webchat_http_requests_total{method="POST",route="/webchat/send/",status="2xx"} 1.0' in scrape.metrics
    assert 'route="unmatched",status="4xx"' in scrape.metrics
    count = re.search(r"^webchat_delivery_seconds_count (\S+)$", scrape.metrics, flags=re.MULTILINE)
    assert count is not None and float(count.group(1)) >= 1


def test_grafana_dashboard_queries_metrics_that_exist(scrape: Scrape, tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ("websockets", "deliveries", "latency", "listener healthy", "slow consumers", "4xx", "5xx"):
        assert topic in titles
    exported = _samples(scrape.metrics)
    used = {name for e in exprs for name in METRIC_NAME.findall(e)}
    assert used and used <= exported, used - exported
    # promtool parses every query as a recording rule, Grafana's variables given plain values
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr{i}", "expr": e.replace("$__rate_interval", "5m").replace("$job", ".*")
         .replace("$instance", ".*")} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "rules.json"  # JSON is YAML
    path.write_text(json.dumps(rules))
    done = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_json_logs_carry_the_request_id(scrape: Scrape) -> None:
    lines = [json.loads(line) for line in scrape.log.read_text().splitlines() if line.startswith("{")]
    access = [e for e in lines if e["logger"] == "webchat_server.access"]
    assert access and all({"time", "level", "message", "request_id", "status", "route"} <= e.keys() for e in access)
    # an id from the proxy is kept and echoed; a malformed one is replaced; none: one is made
    assert scrape.headers["given"] == "ops-test-1"
    assert re.fullmatch(r"[0-9a-f]{16}", scrape.headers["refused"])
    assert re.fullmatch(r"[0-9a-f]{16}", scrape.headers["generated"])
    by_id = {e["request_id"]: e for e in access}
    assert by_id["ops-test-1"]["route"] == "/webchat/me" and by_id["ops-test-1"]["status"] == 200
    assert by_id[scrape.headers["generated"]]["route"] == "/webchat/send/"
    assert len({e["request_id"] for e in access}) == len(access)  # one id per request


async def test_every_log_line_of_a_request_has_its_id(settings: Settings, aiohttp_client: Any) -> None:
    async def noisy(request: web.Request) -> web.Response:
        logging.getLogger("webchat_server.test").warning("working on it", extra={"step": 1})
        return web.json_response({"ok": True})

    app = create_app(settings)
    app.router.add_get("/noisy", noisy)
    client = await aiohttp_client(app)
    out = io.StringIO()
    handler = logs.handler("json", out)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # the access line is INFO
    try:
        r = await client.get("/noisy", headers={"X-Request-Id": "req-42"})
        assert r.status == 200 and r.headers["X-Request-Id"] == "req-42"
        r = await client.get("/noisy")
        other = r.headers["X-Request-Id"]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    mine = [e for e in lines if e.get("request_id") == "req-42"]
    assert [e["logger"] for e in mine] == ["webchat_server.test", "webchat_server.access"]
    assert mine[0]["step"] == 1 and mine[0]["level"] == "warning"
    assert [e["logger"] for e in lines if e.get("request_id") == other] == ["webchat_server.test",
                                                                            "webchat_server.access"]
