"""The OpenAPI document: served, complete, enforced on every test response, and fuzzed by Schemathesis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from webchat_server.app import create_app
from webchat_server.http.openapi import document
from webchat_server.settings import Settings

from .browser_support import ServerProcess
from .conftest import TEMPLATE, _counter, _with_database, admin, run_sync
from .openapi_check import check_response, find_operation

# Schemathesis bounds: examples per operation and a hard wall-clock cap for the whole run
FUZZ_EXAMPLES = int(os.environ.get("WEBCHAT_FUZZ_EXAMPLES", "15"))
FUZZ_SEED = int(os.environ.get("WEBCHAT_FUZZ_SEED", "20261126"))
FUZZ_WALL_SECONDS = 300


def _routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        # static files (webchat_server/http/static.py) and CORS preflights are not API operations
        if path and route.method not in ("HEAD", "*", "OPTIONS") and not path.startswith("/web/"):
            found.add((route.method, path))
    return found


def test_every_route_is_documented_and_every_operation_routed(settings: Settings) -> None:
    documented = {(m.upper(), p) for p, item in document()["paths"].items() for m in item if m != "parameters"}
    routed = _routes(settings)
    assert routed - documented == set(), "routes missing from webchat_server/http/openapi.py"
    assert documented - routed == set(), "documented operations that nothing serves"


async def test_document_is_served_and_states_this_servers_limits(client: TestClient[Any, Any],
                                                                 settings: Settings) -> None:
    r = await client.get("/webchat/openapi.json")
    assert r.status == 200 and r.content_type == "application/json"
    served = await r.json()
    assert served == json.loads(json.dumps(document(settings)))
    assert served["openapi"] == "3.1.0"
    send = served["paths"]["/webchat/send/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert send["properties"]["text"]["maxLength"] == settings.max_text_chars


def test_the_response_hook_refuses_what_the_document_does_not_say() -> None:
    assert aiohttp.ClientSession._request.__name__ == "checked"  # conftest's hook is installed
    good = {"success": True, "chat_id": 1, "messages": [], "has_more": False}
    check_response("GET", "/webchat/messages/", 200, "application/json", {}, json.dumps(good).encode())
    bad = [
        ("GET", "/webchat/messages/", 200, "application/json", {}, b'{"success": true, "messages": []}'),
        ("GET", "/webchat/messages/", 200, "text/html", {}, b"<p>"),
        ("GET", "/webchat/messages/", 500, "application/json", {}, b'{"success": false}'),
        ("POST", "/webchat/send/", 429, "application/json", {},  # Retry-After missing
         b'{"success": false, "error": {"code": "rate_limited", "message": "slow down"}}'),
        ("PUT", "/webchat/chats/", 405, "application/json", {}, b"{}"),
    ]
    for case in bad:
        with pytest.raises(AssertionError):
            check_response(*case)
    assert find_operation("GET", "/web/components/webchat-app.js") is None  # static files are not the API


async def test_regression_seed_20261126_longest_documented_query_cursor_is_json(
        client: TestClient[Any, Any]) -> None:
    """Schemathesis, seed 20261126: a 16,000-character GET cursor (then the documented maximum) made
    a request line over 8 kB, refused by the HTTP parser with a text/plain 400 that the document
    did not describe. The document now caps the query cursor; the longest it allows, with every
    other poll parameter, still reaches the route and gets a documented JSON answer (the hook checks)."""
    longest = document()["paths"]["/webchat/poll/"]["get"]["parameters"][0]["schema"]["maxLength"]
    await client.get("/webchat/me")
    for cursor in ("0" * longest, ",".join(["1.1"] * (longest // 4))):
        r = await client.get("/webchat/poll/", params={"cursor": cursor, "timeout": "0", "chat_id": "7",
                                                        "last_message_id": "0"})
        assert r.status in (400, 404) and r.content_type == "application/json"
        r = await client.get("/webchat/poll/", params={"cursor": cursor, "timeout": "0"})
        assert r.status in (200, 400) and r.content_type == "application/json"


@pytest.fixture(scope="module")
def fuzz_server(pg_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    name = f"fuzz_{os.getpid()}_{next(_counter)}"
    run_sync(admin(pg_uri, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    srv = ServerProcess(_with_database(pg_uri, name), tmp_path_factory.mktemp("fuzz"), {
        "WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(),
        "WEBCHAT_IDENTITY_SECRET": "fuzz-identity-secret-of-at-least-32-bytes",
        # long-polls answer within a second, and the fuzzer's sends are not rate limited
        "WEBCHAT_POLL_MAX_TIMEOUT": "1",
        "WEBCHAT_SENDS_PER_MINUTE": "1000000",
        # the Postgres rate limits stay on, 1000x higher: the fuzzer is one account on one address
        "WEBCHAT_RATE_LIMIT_SCALE": "1000",
    })
    srv.start()
    yield srv
    srv.stop()
    run_sync(admin(pg_uri, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _session(base: str) -> tuple[str, str]:
    """A signed-in browser's cookie and CSRF token, with one chat and one message to aim at."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/webchat/me") as r:
        csrf = json.load(r)["csrf_token"]
    request = urllib.request.Request(base + "/webchat/send/", data=json.dumps({"text": "fuzz target"}).encode(),
                                     headers={"Content-Type": "application/json", "X-CSRF-Token": csrf})
    with opener.open(request) as r:
        assert r.status == 201
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, csrf


def _schemathesis(base: str, report: Path, *filters: str, examples: int = FUZZ_EXAMPLES) -> str:
    """One bounded `st run` with a fresh visitor's session; returns its summary, fails on any finding."""
    cookie, csrf = _session(base)
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{base}/webchat/openapi.json", "--url", base,
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                    "response_schema_conformance,response_headers_conformance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(examples), "--seed", str(FUZZ_SEED), "--workers", "1",
        "--request-timeout", "10", "--suppress-health-check", "all", "--no-shrink",
        "-H", f"Cookie: {cookie}", "-H", f"X-CSRF-Token: {csrf}",
        "--report", "junit", "--report-dir", str(report), *filters,
    ]
    started = time.monotonic()
    report.mkdir(parents=True, exist_ok=True)
    # cwd: its crash cache (.schemathesis/) goes with the report, not into the work tree
    done = subprocess.run(command, capture_output=True, text=True, timeout=FUZZ_WALL_SECONDS, cwd=report,
                          env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"})
    summary = "\n".join(line[:400] for line in done.stdout.splitlines()[-120:])
    print(f"schemathesis {' '.join(filters)}: seed {FUZZ_SEED}, {examples} examples/operation, "
          f"{time.monotonic() - started:.0f} s\n{summary}")
    assert done.returncode == 0, f"schemathesis found problems (seed {FUZZ_SEED}):\n{summary}\n{done.stderr[-3000:]}"
    return summary


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(fuzz_server: ServerProcess,
                                                                      tmp_path: Path) -> None:
    """Property-based fuzzing of every routed operation against a real server process: positive and
    negative examples, with the session cookie and CSRF header of a real visitor."""
    # logout retires the session the fuzzer holds (every later call would be a 401): it gets its own run
    _schemathesis(fuzz_server.base, tmp_path / "main", "--exclude-operation-id", "logout")
    _schemathesis(fuzz_server.base, tmp_path / "logout", "--include-operation-id", "logout", examples=5)
    logged = fuzz_server.log.read_text()
    assert "unhandled error" not in logged and "Traceback" not in logged, logged[-5000:]
