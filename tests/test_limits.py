"""Rate limits in Postgres: per account and per address, refunded on failure, shared by processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import FormData
from cryptography.fernet import Fernet

from webchat_server.app import create_app
from webchat_server.settings import Rate, Settings

from .browser_support import ServerProcess, png
from .conftest import Api


def limited(settings: Settings, **rates: Rate | None) -> Settings:
    """The test settings with the given limits (names as in settings.RATE_DEFAULTS) at their face value."""
    return replace(settings, rate_limit_scale=1.0, sends_per_minute=100_000,
                   rate_limits=tuple({**dict(settings.rate_limits), **rates}.items()))


def far_apart(count: int) -> Rate:
    """`count` at once, then one an hour: nothing refills during a test."""
    return Rate(1, 3600, count)


async def refused(r: aiohttp.ClientResponse, limit: str) -> None:
    assert r.status == 429, await r.text()
    body = await r.json()
    assert body["error"]["code"] == "rate_limited" and body["error"]["limit"] == limit
    # an hour per token: the client is told to come back much later, not in a second
    assert int(r.headers["Retry-After"]) > 60


async def test_sends_per_account_refused_with_retry_after(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(limited(settings, sends_per_account=far_apart(3))))
    api = await Api(client).start()
    chat = (await api.send("1"))["chat_id"]
    await api.send("2", chat)
    await api.send("3", chat, client_id="c-3")
    await refused(await api.post("/webchat/send/", {"text": "4", "chat_id": chat}), "sends_per_account")
    # a retry of a stored message is not a new message: answered, not limited
    retry = await api.post("/webchat/send/", {"text": "3", "chat_id": chat, "client_id": "c-3"})
    assert retry.status == 200 and (await retry.json())["duplicate"] is True
    assert [m["text"] for m in await api.messages(chat)] == ["1", "2", "3"]


async def test_a_failed_write_gives_its_tokens_back(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(limited(settings, sends_per_account=far_apart(1))))
    api = await Api(client).start()
    # not a member: 404, and the bucket is refunded with the rolled-back transaction
    assert (await api.post("/webchat/send/", {"text": "x", "chat_id": 999_999})).status == 404
    await api.send("counts")
    await refused(await api.post("/webchat/send/", {"text": "over"}), "sends_per_account")


async def test_new_guests_per_address(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(limited(settings, guests_per_address=far_apart(2))))
    first = await Api(client).start()
    await Api(await aiohttp_client(client.server)).start()
    # a third browser from the same address gets no guest (and no session)
    third = await aiohttp_client(client.server)
    await refused(await third.get("/webchat/me"), "guests_per_address")
    # existing guests carry on
    assert (await first.get("/webchat/me")).status == 200


async def test_sends_per_address_hold_across_guests(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(limited(settings, sends_per_address=far_apart(5))))
    people = [await Api(await aiohttp_client(client.server)).start() for _ in range(3)]
    statuses = [(await p.post("/webchat/send/", {"text": f"{i}"})).status for i in range(2) for p in people]
    assert statuses == [201] * 5 + [429]
    await refused(await people[0].post("/webchat/send/", {"text": "again"}), "sends_per_address")


async def test_edits_chats_and_upload_bytes(settings: Settings, aiohttp_client: Any) -> None:
    image = png()
    client = await aiohttp_client(create_app(limited(
        settings, edits_per_account=far_apart(2), chats_per_account=far_apart(2),
        upload_bytes_per_account=Rate(1, 3600, len(image) * 1.5))))
    api = await Api(client).start()
    sent = await api.send("hello")  # a chat of its own: 1 of 2 chats
    message_id = sent["message"]["id"]
    assert (await api.patch(f"/webchat/messages/{message_id}/", {"text": "hello!"})).status == 200
    assert (await api.patch(f"/webchat/messages/{message_id}/", {"text": "hello!!"})).status == 200
    await refused(await api.patch(f"/webchat/messages/{message_id}/", {"text": "no"}), "edits_per_account")
    await refused(await api.delete(f"/webchat/messages/{message_id}/"), "edits_per_account")

    assert (await api.post("/webchat/chats/", {"title": "two"})).status == 201
    await refused(await api.post("/webchat/chats/", {"title": "three"}), "chats_per_account")
    # sending without a chat creates one, so it pays for a chat too
    await refused(await api.post("/webchat/send/", {"text": "new chat please"}), "chats_per_account")

    def upload() -> FormData:
        form = FormData()
        form.add_field("chat_id", str(sent["chat_id"]))
        form.add_field("media", image, filename="x.png", content_type="application/octet-stream")
        return form

    assert (await api.post("/webchat/send/", data=upload())).status == 201
    await refused(await api.post("/webchat/send/", data=upload()), "upload_bytes_per_account")
    # text still goes through: the byte budget is only for uploads
    await api.send("text only", sent["chat_id"])


@pytest.fixture
def two_processes(database_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    env = {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(), "WEBCHAT_LIMIT_SENDS_PER_ACCOUNT": "1/h:10",
           "WEBCHAT_LIMIT_SENDS_PER_ADDRESS": "1/h:1000", "WEBCHAT_RATE_LIMIT_SCALE": "1"}
    servers = [ServerProcess(database_url, tmp_path / f"s{i}", env) for i in range(2)]
    for s in servers:
        s.start()
    yield servers
    for s in servers:
        s.stop()


@pytest.mark.slow
async def test_two_processes_do_not_double_the_rate(two_processes: list[ServerProcess]) -> None:
    a, b = (s.base for s in two_processes)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(a + "/webchat/me") as r:
            csrf = (await r.json())["csrf_token"]
        headers = {"X-CSRF-Token": csrf}
        async with s.post(a + "/webchat/send/", json={"text": "first"}, headers=headers) as r:
            chat = (await r.json())["chat_id"]

        async def send(base: str, i: int) -> int:
            async with s.post(base + "/webchat/send/", json={"text": f"{i}", "chat_id": chat}, headers=headers) as r:
                return r.status

        # the same session, 30 sends at once, spread over both processes: 10 in all, not 10 each
        statuses = await asyncio.gather(*(send(a if i % 2 else b, i) for i in range(30)))
    assert sorted(statuses).count(201) == 9, statuses
    assert set(statuses) == {201, 429}


def test_rate_parse() -> None:
    assert Rate.parse("120/min:30") == Rate(120, 60, 30)
    assert Rate.parse("100M/h:25M") == Rate(100 * 2**20, 3600, 25 * 2**20)
    assert Rate.parse("5/s") == Rate(5, 1, 5)
    assert Rate.parse("off") is None
    env = {**os.environ, "WEBCHAT_LIMIT_EDITS_PER_ADDRESS": "off", "WEBCHAT_RATE_LIMIT_SCALE": "2"}
    settings = Settings.from_env(env)
    assert settings.rate("edits_per_address") is None
    assert settings.rate("edits_per_account") == Rate(120, 60, 40)
    with pytest.raises(SystemExit):
        Settings.from_env({"WEBCHAT_LIMIT_SENDS_PER_ACCOUNT": "lots"})


async def test_full_buckets_are_pruned(settings: Settings, aiohttp_client: Any, sql: Any) -> None:
    from webchat_server.db import q

    client = await aiohttp_client(create_app(limited(settings, sends_per_account=Rate(60, 60, 10),
                                                     sends_per_address=far_apart(100))))
    api = await Api(client).start()
    await api.send("one")
    keys = {r["key"] for r in await sql.fetch("SELECT key FROM webchat.rate_limits")}
    assert f"sends:a:{api.id}" in keys and "sends:ip:127.0.0.1" in keys
    # a bucket that has had time to refill completely is the same as no row: it goes
    await sql.execute("UPDATE webchat.rate_limits SET updated_at = updated_at - interval '1 hour'"
                      " WHERE key = $1", f"sends:a:{api.id}")
    await sql.execute(q("rate_prune"))
    keys = {r["key"] for r in await sql.fetch("SELECT key FROM webchat.rate_limits")}
    assert f"sends:a:{api.id}" not in keys and "sends:ip:127.0.0.1" in keys
