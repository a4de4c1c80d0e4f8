"""Test fixtures: one embedded Postgres per run, a migrated template, a fresh database per test."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import jwt
import pytest
from aiohttp import ClientResponse, ClientWebSocketResponse
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from webchat_server import db
from webchat_server.app import create_app
from webchat_server.settings import Settings

from .openapi_check import check_response

IDENTITY_SECRET = "test-identity-secret-of-at-least-32-bytes"
TEMPLATE = "webchat_template"
T = TypeVar("T")
_counter = itertools.count()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even where Playwright's sync API holds a loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _with_database(uri: str, name: str) -> str:
    # embedded URIs look like postgresql://postgres:@/postgres?host=/socket/dir
    head, _, query = uri.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session", autouse=True)
def responses_match_openapi() -> Iterator[None]:
    """Every HTTP response any test gets through aiohttp (the test client, sessions against real
    server processes) is checked against the OpenAPI document: a documented status, content type
    and JSON schema. A test that gets an undocumented answer fails, so the document stays true."""
    original = aiohttp.ClientSession._request

    async def checked(self: aiohttp.ClientSession, method: str, str_or_url: Any, **kwargs: Any) -> ClientResponse:
        response = await original(self, method, str_or_url, **kwargs)
        if response.status == 101 or response.url.host not in ("127.0.0.1", "localhost", "::1"):
            return response  # a WebSocket upgrade, or not our server
        body = await response.read()  # kept by the response: the test can still read it
        check_response(method, response.url.path, response.status, response.content_type, response.headers, body)
        return response

    aiohttp.ClientSession._request = checked  # type: ignore[method-assign]
    yield
    aiohttp.ClientSession._request = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def pg_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    data = tmp_path_factory.mktemp("pg")
    uri = db.start_embedded_postgres(data)

    async def prepare() -> None:
        conn = await asyncpg.connect(uri)
        try:
            await conn.execute("ALTER SYSTEM SET max_connections = 400")
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()
        await db.migrate(_with_database(uri, TEMPLATE))

    run_sync(prepare())
    return uri


async def admin(pg_uri: str, statement: str) -> None:
    """One statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(pg_uri)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def database_url(pg_uri: str) -> AsyncIterator[str]:
    name = f"test_{os.getpid()}_{next(_counter)}"
    await admin(pg_uri, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield _with_database(pg_uri, name)
    await admin(pg_uri, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=Fernet.generate_key().decode(),
        identity_secret=IDENTITY_SECRET,
        probe_interval=0.5,
        max_media_bytes=256 * 1024,
        sends_per_minute=100_000,
        # every Postgres rate limit stays on, 1000x higher: tests send from one address in bursts
        rate_limit_scale=1000,
        # some tests park dozens of polls for one account; test_caps.py tests the caps themselves
        max_sockets_per_account=1000,
        max_sockets_per_address=1000,
        max_connections_per_address=2000,
        demo_page=True,
    )


@pytest.fixture
async def sql(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A separate plain connection: what an integrating app would use."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


def identity_token(user_id: str, name: str, secret: str = IDENTITY_SECRET, lifetime: int = 600,
                   **claims: Any) -> str:
    """What the embedding site's backend does: a short-lived HS256 JWT naming the user."""
    now = int(time.time())
    # a random jti, as the README's example: tokens are single-use, and two minted in one second
    # with the same claims would be one token
    payload = {"sub": user_id, "name": name, "iat": now, "exp": now + lifetime, "jti": secrets.token_hex(8),
               **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm="HS256")


class Api:
    """A browser-like client: session cookie plus the CSRF header on writes."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.csrf = ""
        self.account: dict[str, Any] = {}

    async def start(self) -> Api:
        r = await self.client.get("/webchat/me")
        body = await r.json()
        self.csrf = body["csrf_token"]
        self.account = body["account"]
        return self

    @property
    def id(self) -> int:
        return int(self.account["id"])

    def _h(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    async def get(self, path: str, **params: Any) -> ClientResponse:
        return await self.client.get(path, params={k: str(v) for k, v in params.items()})

    async def post(self, path: str, body: Any = None, **kw: Any) -> ClientResponse:
        if body is not None:
            kw["json"] = body
        return await self.client.post(path, headers=self._h(), **kw)

    async def patch(self, path: str, body: Any) -> ClientResponse:
        return await self.client.patch(path, json=body, headers=self._h())

    async def delete(self, path: str) -> ClientResponse:
        return await self.client.delete(path, headers=self._h())

    async def send(self, text: str, chat_id: int | None = None, **extra: Any) -> dict[str, Any]:
        r = await self.post("/webchat/send/", {"text": text, "chat_id": chat_id, **extra})
        assert r.status in (200, 201), await r.text()
        body: dict[str, Any] = await r.json()
        return body

    async def messages(self, chat_id: int, **params: Any) -> list[dict[str, Any]]:
        r = await self.get("/webchat/messages/", chat_id=chat_id, **params)
        assert r.status == 200, await r.text()
        return list((await r.json())["messages"])

    async def identify(self, user_id: str, name: str, **claims: Any) -> ClientResponse:
        r = await self.post("/webchat/identify", {"token": identity_token(user_id, name, **claims)})
        if r.status == 200:
            # identify rotates the CSRF token
            self.csrf = (await r.json())["csrf_token"]
        return r

    async def ws(self, cursor: str | None = None, resume: bool = False, **kw: Any) -> ClientWebSocketResponse:
        """resume=True: the caller sends the cursor as the first frame (webchat_server/realtime/protocol.py)."""
        path = "/ws/webchat/" + ("?resume=1" if resume else f"?cursor={cursor}" if cursor is not None else "")
        return await self.client.ws_connect(path, **kw)


async def next_event(ws: ClientWebSocketResponse, timeout: float = 5.0, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=timeout)
        assert msg.type.name == "TEXT", f"expected a frame, got {msg.type.name} {msg.data!r}"
        ev: dict[str, Any] = json.loads(msg.data)
        if ev["type"] not in skip:
            return ev


async def collect(ws: ClientWebSocketResponse, count: int, timeout: float = 10.0,
                  types: tuple[str, ...] = ("new_message",)) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(out) < count:
        remaining = deadline - loop.time()
        assert remaining > 0, f"timed out with {len(out)} of {count} events"
        ev = await next_event(ws, remaining)
        if ev["type"] in types:
            out.append(ev)
    return out


async def quiet(ws: ClientWebSocketResponse, seconds: float = 0.5,
                types: tuple[str, ...] = ("new_message",)) -> list[dict[str, Any]]:
    """Events of the given types that arrive within `seconds` (expected: none)."""
    got = []
    try:
        while True:
            msg = await ws.receive(timeout=seconds)
            if msg.type.name != "TEXT":
                break
            ev = json.loads(msg.data)
            if ev["type"] in types:
                got.append(ev)
    except TimeoutError:
        pass
    return got


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Any) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings))  # type: ignore[no-any-return]


@pytest.fixture
async def api(client: TestClient[Any, Any]) -> Api:
    return await Api(client).start()


@pytest.fixture
def new_api(aiohttp_client: Any, client: TestClient[Any, Any]) -> Any:
    """Another browser (its own cookie jar) against the same server."""

    async def make() -> Api:
        return await Api(await aiohttp_client(client.server)).start()

    return make


@pytest.fixture(scope="module")
def server(pg_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server process on its own database, shared by one test module."""
    from .browser_support import IDENTITY_SECRET as BROWSER_IDENTITY_SECRET
    from .browser_support import ServerProcess, ensure_bundle

    ensure_bundle()
    name = f"browser_{os.getpid()}_{next(_counter)}"
    run_sync(admin(pg_uri, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    srv = ServerProcess(_with_database(pg_uri, name), tmp_path_factory.mktemp("server"),
                        {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(),
                         "WEBCHAT_IDENTITY_SECRET": BROWSER_IDENTITY_SECRET,
                         "WEBCHAT_RATE_LIMIT_SCALE": "1000"})
    srv.start()
    yield srv
    srv.stop()
    run_sync(admin(pg_uri, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # module scope: Playwright's sync API holds an event loop on this thread while it runs, which
    # the asyncio tests of other modules must not see
    from playwright.sync_api import sync_playwright

    from .browser_support import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _desktop_context(browser: Any) -> Iterator[Any]:
    # Playwright's string predicates (wait_for_function) run through eval, which our pages' CSP
    # forbids; test_page_runs_under_its_content_security_policy covers the policy itself
    ctx = browser.new_context(viewport={"width": 1100, "height": 700}, bypass_csp=True)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    yield from _desktop_context(browser)


@pytest.fixture
def visitor_ctx(browser: Any) -> Iterator[Any]:
    """A second browser beside `context` (its own cookies): a visitor while `context` is an agent."""
    yield from _desktop_context(browser)
