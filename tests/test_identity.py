"""Signed identity (JWT identify, logout, rotation, legacy form) against the aiohttp test client."""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from typing import Any

import asyncpg
import jwt
import jwt.warnings
from aiohttp import ClientSession, DummyCookieJar, web
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from webchat_server.app import create_app
from webchat_server.domain.identity import identity_signature
from webchat_server.http.auth import COOKIE_NAME
from webchat_server.settings import Settings

from .conftest import IDENTITY_SECRET, Api, identity_token


def cookie_of(api: Api) -> str:
    """The session cookie the client holds now."""
    for cookie in api.client.session.cookie_jar:
        if cookie.key == COOKIE_NAME:
            return cookie.value
    raise AssertionError("no session cookie")


async def as_cookie(client: TestClient[Any, Any], method: str, path: str, cookie: str,
                    **kw: Any) -> tuple[int, dict[str, Any]]:
    """One request carrying exactly this cookie value, as a copy of a stolen cookie would be sent."""
    async with ClientSession(cookie_jar=DummyCookieJar()) as other:
        headers = {"Cookie": f"{COOKIE_NAME}={cookie}", **kw.pop("headers", {})}
        async with other.request(method, client.make_url(path), headers=headers, **kw) as r:
            return r.status, await r.json()


async def test_identify_merges_rotates_and_stores_claims(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("asked as a guest"))["chat_id"]
    guest_cookie, guest_csrf = cookie_of(api), api.csrf
    r = await api.identify("user-7", "Ada Lovelace", email="ada@example.com", avatar="https://example.com/ada.png")
    assert r.status == 200, await r.text()
    body = await r.json()
    user = body["account"]
    assert user["kind"] == "user" and user["external_id"] == "user-7" and user["display_name"] == "Ada Lovelace"
    assert user["email"] == "ada@example.com" and user["avatar"] == "https://example.com/ada.png"
    # new session id and CSRF token
    assert body["csrf_token"] != guest_csrf and cookie_of(api) != guest_cookie
    row = await sql.fetchrow("SELECT email, avatar_url FROM webchat.accounts WHERE id = $1", user["id"])
    assert dict(row) == {"email": "ada@example.com", "avatar_url": "https://example.com/ada.png"}
    # the guest's chat moved to the user
    assert (await api.messages(chat))[0]["sender_id"] == user["id"]
    # the old CSRF token no longer works with the new cookie
    r = await api.client.post("/webchat/chats/", json={"title": "x"}, headers={"X-CSRF-Token": guest_csrf})
    assert r.status == 403 and (await r.json())["error"]["code"] == "csrf"
    # a copy of the guest cookie (planted before sign-in, or stolen) gets nothing of the user's
    status, _ = await as_cookie(api.client, "GET", "/webchat/chats/", guest_cookie)
    assert status == 401
    status, me = await as_cookie(api.client, "GET", "/webchat/me", guest_cookie)
    assert status == 200 and me["account"]["kind"] == "guest" and me["account"]["id"] not in (user["id"], api.id)
    # the signed name is the truth: signing in again with another name renames, and claims can be dropped
    r = await api.identify("user-7", "Ada King")
    assert (await r.json())["account"]["display_name"] == "Ada King"
    assert (await r.json())["account"]["email"] is None


def _now() -> int:
    return int(time.time())


def _token(payload: dict[str, Any], secret: str | None = IDENTITY_SECRET, algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():
        # our secret is long enough for HS256 only; HS384/HS512 tokens are made to be refused
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(payload, secret, algorithm=algorithm)


def refused_tokens() -> list[tuple[str, Any]]:
    now = _now()
    good = {"sub": "victim", "name": "Victim", "iat": now, "exp": now + 600}
    unsigned = jwt.encode(good, None, algorithm="none")
    return [
        ("expired", _token({**good, "exp": now - 120})),
        ("exp more than 24 h ahead", _token({**good, "exp": now + 25 * 3600})),
        ("exp as a numeric string", _token({**good, "exp": str(now + 300)})),
        ("iat as a numeric string", _token({**good, "iat": str(now)})),
        ("iat in the future", _token({**good, "iat": now + 600})),
        ("nbf in the future", _token({**good, "nbf": now + 600})),
        ("wrong secret", _token(good, "another-secret-that-is-also-32-bytes-long")),
        ("alg none", unsigned),
        ("alg none, signature kept", unsigned + _token(good).rsplit(".", 1)[1]),
        ("HS512", _token(good, algorithm="HS512")),
        ("HS384", _token(good, algorithm="HS384")),
        ("no exp", _token({"sub": "victim", "name": "Victim"})),
        ("no sub", _token({k: v for k, v in good.items() if k != "sub"})),
        ("no name", _token({k: v for k, v in good.items() if k != "name"})),
        ("sub not a string", _token({**good, "sub": 12345})),
        ("empty name", _token({**good, "name": "  "})),
        ("name with a lone surrogate", _token({**good, "name": "\ud800"})),
        ("name with NUL", _token({**good, "name": "a\x00b"})),
        ("name too long", _token({**good, "name": "n" * 101})),
        ("avatar not http", _token({**good, "avatar": "javascript:alert(1)"})),
        ("exp not a number", _token({**good, "exp": "tomorrow"})),
        ("garbage", "a.b.c"),
        ("non-ASCII", "é.ü.ß"),
        ("too long", "x" * 10_000),
    ]


async def test_refused_tokens_change_nothing(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("guest"))["chat_id"]
    guest_cookie, guest_csrf = cookie_of(api), api.csrf
    for why, token in refused_tokens():
        r = await api.post("/webchat/identify", {"token": token})
        assert r.status == 403, (why, r.status, await r.text())
        error = (await r.json())["error"]
        assert error["code"] in ("bad_token", "token_expired") and error["message"], (why, error)
    # not a string at all is a malformed request
    for token in (None, 42, ["a"], ""):
        r = await api.post("/webchat/identify", {"token": token})
        assert r.status == 400, (token, await r.text())
    assert cookie_of(api) == guest_cookie
    me = (await (await api.get("/webchat/me")).json())
    assert me["account"]["id"] == api.id and me["account"]["kind"] == "guest" and me["csrf_token"] == guest_csrf
    assert (await api.messages(chat))[0]["sender_id"] == api.id
    assert await sql.fetchval("SELECT count(*) FROM webchat.accounts WHERE kind = 'user'") == 0


async def test_clock_skew_within_a_minute_is_accepted(api: Api) -> None:
    now = _now()
    late = _token({"sub": "u1", "name": "U", "iat": now - 300, "exp": now - 20})
    assert (await api.post("/webchat/identify", {"token": late})).status == 200
    api.csrf = (await (await api.get("/webchat/me")).json())["csrf_token"]
    early = _token({"sub": "u1", "name": "U", "iat": now + 20, "nbf": now + 20, "exp": now + 600})
    assert (await api.post("/webchat/identify", {"token": early})).status == 200


async def test_logout_makes_a_fresh_guest_and_the_old_cookie_worthless(api: Api) -> None:
    assert (await api.identify("user-9", "Grace")).status == 200
    chat = (await api.send("as Grace"))["chat_id"]
    user_id = (await (await api.get("/webchat/me")).json())["account"]["id"]
    user_cookie, user_csrf = cookie_of(api), api.csrf
    r = await api.post("/webchat/logout")
    assert r.status == 200, await r.text()
    body = await r.json()
    guest = body["account"]
    assert guest["kind"] == "guest" and guest["id"] != user_id
    assert body["csrf_token"] != user_csrf and cookie_of(api) != user_cookie
    api.csrf = body["csrf_token"]
    assert (await (await api.get("/webchat/chats/")).json())["chats"] == []
    assert (await api.get("/webchat/messages/", chat_id=chat)).status == 404
    # a copy of the signed-in cookie kept from before does not stay signed in
    status, _ = await as_cookie(api.client, "GET", "/webchat/chats/", user_cookie)
    assert status == 401
    status, _ = await as_cookie(api.client, "POST", "/webchat/send/", user_cookie,
                                json={"text": "replayed"}, headers={"X-CSRF-Token": user_csrf})
    assert status == 401
    # signing in again finds the user and the chat
    assert (await api.identify("user-9", "Grace")).status == 200
    assert [c["id"] for c in (await (await api.get("/webchat/chats/")).json())["chats"]] == [chat]


async def test_logout_needs_the_csrf_token(api: Api) -> None:
    r = await api.client.post("/webchat/logout")
    assert r.status == 403 and (await r.json())["error"]["code"] == "csrf"
    assert (await (await api.get("/webchat/me")).json())["account"]["id"] == api.id


async def test_legacy_form_is_off_by_default(api: Api) -> None:
    sig = identity_signature(IDENTITY_SECRET, "user-1")
    r = await api.post("/webchat/identify", {"user_id": "user-1", "name": "Ada", "signature": sig})
    assert r.status == 403 and (await r.json())["error"]["code"] == "legacy_identify_disabled"
    assert (await (await api.get("/webchat/me")).json())["account"]["kind"] == "guest"


async def test_legacy_form_when_enabled(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(settings, legacy_identify=True)))
    api = await Api(client).start()
    for signature in ("00" * 32, "é" * 64, "\u00ff" * 10, ""):
        r = await api.post("/webchat/identify", {"user_id": "user-1", "name": "Mallory", "signature": signature})
        assert r.status in (400, 403), (signature, await r.text())
    assert (await (await api.get("/webchat/me")).json())["account"]["kind"] == "guest"
    sig = identity_signature(IDENTITY_SECRET, "user-1")
    r = await api.post("/webchat/identify", {"user_id": "user-1", "name": "Ada", "signature": sig.upper()})
    assert r.status == 200 and (await r.json())["account"]["display_name"] == "Ada"
    # tokens work as well
    api.csrf = (await r.json())["csrf_token"]
    assert (await api.identify("user-2", "Bob")).status == 200


async def test_identify_disabled_without_a_secret(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(settings, identity_secret=None)))
    api = await Api(client).start()
    me = await (await api.get("/webchat/me")).json()
    assert me["identify_enabled"] is False
    r = await api.post("/webchat/identify", {"token": identity_token("u", "U")})
    assert r.status == 403 and (await r.json())["error"]["code"] == "identify_disabled"


async def test_csrf_header_with_non_ascii_is_refused_not_a_crash(api: Api) -> None:
    r = await api.client.post("/webchat/chats/", json={}, headers={"X-CSRF-Token": "é" * 32})
    assert r.status == 403


async def test_demo_token_endpoint_is_404_unless_demo(api: Api) -> None:
    r = await api.post("/webchat/demo/token", {"name": "Ada"})
    assert r.status == 404 and (await r.json())["success"] is False


async def test_demo_token_signs_in_under_demo(settings: Settings, aiohttp_client: Any) -> None:
    # with --demo and no WEBCHAT_IDENTITY_SECRET the server derives one, so demo sign-in works out of the box
    demo = dataclasses.replace(settings, demo=True, identity_secret=None)
    api = await Api(await aiohttp_client(create_app(demo))).start()
    r = await api.post("/webchat/demo/token", {"name": "Ada"})
    assert r.status == 200, await r.text()
    token = (await r.json())["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["name"] == "Ada" and claims["exp"] - time.time() <= 300
    r = await api.post("/webchat/identify", {"token": token})
    assert r.status == 200 and (await r.json())["account"]["display_name"] == "Ada"
    for bad in ({}, {"name": ""}, {"name": 5}):
        api.csrf = (await (await api.get("/webchat/me")).json())["csrf_token"]
        assert (await api.post("/webchat/demo/token", bad)).status == 400, bad


# -- the session cookie ----------------------------------------------------------------------------

def _reissue(settings: Settings, cookie: str, age: float) -> str:
    """The same session as a cookie issued `age` seconds ago (what a browser would still hold)."""
    assert settings.secret_key is not None
    fernet = Fernet(settings.secret_key.encode())
    data = json.loads(fernet.decrypt(cookie.encode()))
    then = int(time.time() - age)
    data["created"] = then
    return fernet.encrypt_at_time(json.dumps(data).encode(), then).decode()


async def test_session_lifetime_is_sliding(api: Api, settings: Settings) -> None:
    r = await api.get("/webchat/me")
    cookie = cookie_of(api)
    assert settings.session_max_age == 30 * 24 * 3600
    # in use after 29 days: still the same session, and re-issued for another 30 days
    async with ClientSession(cookie_jar=DummyCookieJar()) as other:
        def get(path: str, value: str) -> Any:
            return other.get(api.client.make_url(path), headers={"Cookie": f"{COOKIE_NAME}={value}"})

        async with get("/webchat/chats/", _reissue(settings, cookie, 29 * 24 * 3600)) as r:
            assert r.status == 200
            morsel = r.cookies[COOKIE_NAME]
        assert morsel["max-age"] == str(30 * 24 * 3600) and morsel["httponly"] and morsel["samesite"] == "Lax"
        assert not morsel["secure"]  # plain HTTP here; test_cookies_and_headers covers HTTPS
        fresh = morsel.value
        assert settings.secret_key is not None
        issued = Fernet(settings.secret_key.encode()).extract_timestamp(fresh.encode())
        assert time.time() - issued < 3600
        async with get("/webchat/me", fresh) as r:
            assert (await r.json())["account"]["id"] == api.id
        # a recent cookie is not re-issued on every request
        async with get("/webchat/chats/", fresh) as r:
            assert r.status == 200 and COOKIE_NAME not in r.cookies
        # idle for 31 days: gone
        async with get("/webchat/chats/", _reissue(settings, cookie, 31 * 24 * 3600)) as r:
            assert r.status == 401


# -- trusted proxies (the test client connects from 127.0.0.1) -------------------------------------

async def _whoami(request: web.Request) -> web.Response:
    return web.json_response({"remote": request.remote, "scheme": request.scheme, "secure": request.secure,
                              "host": request.host})


async def _client_with_echo(settings: Settings, aiohttp_client: Any) -> TestClient[Any, Any]:
    app = create_app(settings)
    app.router.add_get("/test/whoami", _whoami)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def test_client_address_and_scheme_from_a_trusted_proxy(settings: Settings, aiohttp_client: Any) -> None:
    client = await _client_with_echo(dataclasses.replace(settings, trusted_proxies=("127.0.0.1", "10.0.0.0/8")),
                                     aiohttp_client)
    # the client is the right-most address that is not one of our proxies
    r = await client.get("/test/whoami", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.1.2.3",
                                                  "X-Forwarded-Proto": "https"})
    assert await r.json() == {"remote": "203.0.113.9", "scheme": "https", "secure": True,
                              "host": f"127.0.0.1:{client.port}"}
    r = await client.get("/test/whoami")
    assert (await r.json())["remote"] == "127.0.0.1" and (await r.json())["secure"] is False
    # a proxy that only says the scheme
    r = await client.get("/test/whoami", headers={"X-Forwarded-Proto": "https"})
    assert (await r.json())["secure"] is True and (await r.json())["remote"] == "127.0.0.1"
    # even a trusted proxy cannot send two contradicting headers
    r = await client.get("/test/whoami", headers=[("X-Forwarded-For", "203.0.113.9"),  # type: ignore[arg-type]
                                                  ("X-Forwarded-For", "203.0.113.10")])
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request"
    r = await client.get("/test/whoami", headers={"X-Forwarded-For": "unknown, 203.0.113.9"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request"


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(settings: Settings, aiohttp_client: Any) -> None:
    for trusted in ((), ("10.0.0.0/8",)):
        client = await _client_with_echo(dataclasses.replace(settings, trusted_proxies=trusted), aiohttp_client)
        r = await client.get("/test/whoami", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                                                      "X-Forwarded-Host": "evil.example"})
        assert await r.json() == {"remote": "127.0.0.1", "scheme": "http", "secure": False,
                                  "host": f"127.0.0.1:{client.port}"}, trusted
        # an untrusted proxy on this host would make every visitor look like loopback: /metrics says no
        assert (await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status == 403
        assert (await client.get("/metrics")).status == 200
