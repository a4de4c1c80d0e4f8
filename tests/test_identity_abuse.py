"""Sign-in abuse: replayed tokens, sign-out under a neighbour's guest flood, identify floods,
two sign-ins of one guest at once, user ids that differ only in spaces."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from webchat_server.app import create_app
from webchat_server.settings import Settings

from .conftest import Api, identity_token
from .test_limits import far_apart, limited, refused


async def _identify(api: Api, token: str) -> Any:
    r = await api.post("/webchat/identify", {"token": token})
    if r.status == 200:
        api.csrf = (await r.json())["csrf_token"]
    return r


async def test_a_token_signs_in_once(api: Api, new_api: Any) -> None:
    token = identity_token("u-replay", "Rae")
    assert (await _identify(api, token)).status == 200
    thief = await new_api()
    r = await _identify(thief, token)
    assert r.status == 403 and (await r.json())["error"]["code"] == "token_used"
    # after sign-out the same token is worth nothing either
    r = await api.post("/webchat/logout")
    assert r.status == 200
    api.csrf = (await r.json())["csrf_token"]
    r = await _identify(api, token)
    assert r.status == 403 and (await r.json())["error"]["code"] == "token_used"
    # a fresh one works (a jti makes two tokens minted in one second differ)
    assert (await _identify(api, identity_token("u-replay", "Rae", jti="second"))).status == 200


async def test_sign_out_is_not_a_new_guest_of_the_address(settings: Settings, aiohttp_client: Any) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(limited(settings, guests_per_address=far_apart(3))))
    me = await Api(client).start()
    assert (await _identify(me, identity_token("u-out", "Olga"))).status == 200
    # a neighbour behind the same address makes the rest of the address's guests
    for _ in range(2):
        await Api(await aiohttp_client(client.server)).start()
    r = await (await aiohttp_client(client.server)).get("/webchat/me")
    await refused(r, "guests_per_address")
    r = await me.post("/webchat/logout")
    assert r.status == 200, await r.text()
    assert (await r.json())["account"]["kind"] == "guest"


async def test_identify_is_rate_limited_and_revoked_rows_stay_bounded(
        settings: Settings, aiohttp_client: Any, sql: asyncpg.Connection) -> None:
    client = await aiohttp_client(create_app(limited(settings, session_changes_per_account=far_apart(5))))
    me = await Api(client).start()
    statuses = []
    for i in range(8):
        r = await _identify(me, identity_token(f"u-flood-{i}", "F"))
        statuses.append(r.status)
        if r.status == 429:
            await refused(r, "session_changes_per_account")
    # each sign-in is by the account the session has then (a new user each time): the address
    # limit is the one a flood from one browser meets; per account, a user signing in again
    assert statuses.count(200) >= 5
    flood = await Api(await aiohttp_client(create_app(limited(
        settings, session_changes_per_address=far_apart(4))))).start()
    got = [(await _identify(flood, identity_token(f"u-addr-{i}", "A"))).status for i in range(8)]
    assert got.count(200) == 4 and got.count(429) == 4
    assert await sql.fetchval("SELECT count(*) FROM webchat.revoked_sessions") <= 5 + 4 + 8


async def test_two_sign_ins_of_one_guest_at_once_give_its_chat_to_one(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("the guest's secret"))["chat_id"]
    results = await asyncio.gather(*(api.client.post("/webchat/identify", headers={"X-CSRF-Token": api.csrf},
                                                     json={"token": identity_token(f"u-tab-{who}", who, jti="tab")})
                                     for who in ("A", "B")))
    assert any(r.status == 200 for r in results)
    members = await sql.fetch("SELECT a.external_id FROM webchat.chat_members m JOIN webchat.accounts a "
                              "ON a.id = m.account_id WHERE m.chat_id = $1", chat)
    assert len([m for m in members if m["external_id"] in ("u-tab-A", "u-tab-B")]) == 1
    readers = 0
    for who in ("A", "B"):
        other = await new_api()
        assert (await _identify(other, identity_token(f"u-tab-{who}", who))).status == 200
        r = await other.get("/webchat/messages/", chat_id=chat)
        readers += r.status == 200
    assert readers == 1


async def test_user_ids_are_exact_and_names_are_normalised(api: Api, new_api: Any) -> None:
    r = await _identify(api, identity_token(" x ", "Spaced"))
    assert r.status == 403 and "whitespace" in (await r.json())["error"]["message"]
    r = await _identify(api, identity_token("x", "  Ana \t  Re\u0301ne "))
    assert r.status == 200
    assert (await r.json())["account"]["display_name"] == "Ana R\u00e9ne"
    other = await new_api()
    assert (await _identify(other, identity_token("x ", "Other"))).status == 403
