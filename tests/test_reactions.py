"""Reactions and reply quotes: the API, the SQL contract, live delivery and resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

from webchat_server.app import create_app
from webchat_server.db import pool_key
from webchat_server.domain.reactions import MAX_KINDS, parse_emoji
from webchat_server.realtime.cursor import Keeper
from webchat_server.settings import Rate, Settings

from .conftest import Api, collect, next_event
from .realtime_helpers import add_member, insert, make_bot

PICKER_DATA = Path(__file__).parent.parent / "web" / "node_modules" / "emoji-picker-element-data" / "en" / \
    "emojibase" / "data.json"


def path(message_id: int, emoji: str) -> str:
    return f"/webchat/messages/{message_id}/reactions/{quote(emoji, safe='')}"


async def put(api: Api, message_id: int, emoji: str) -> tuple[int, Any]:
    r = await api.client.put(path(message_id, emoji), headers={"X-CSRF-Token": api.csrf})
    return r.status, await r.json()


async def test_reaction_idempotent_with_counts_mine_and_names(api: Api, new_api: Any) -> None:
    sent = await api.send("Your order shipped")
    chat, mid = sent["chat_id"], sent["message"]["id"]
    assert sent["message"]["reactions"] == []
    status, body = await put(api, mid, "👍")
    assert status == 201
    assert body["message"]["reactions"] == [
        {"emoji": "👍", "count": 1, "mine": True, "by": [api.account["display_name"].split(" ")[0]],
         "account_ids": [api.id]}]
    status, again = await put(api, mid, "👍")
    assert status == 200 and again["message"]["reactions"][0]["count"] == 1
    # the picker's "👍️" (with VS16) and the bare "❤" are the same reactions as their usual spelling
    status, _ = await put(api, mid, "👍\ufe0f")
    assert status == 200
    assert (await put(api, mid, "❤"))[0] == 201
    assert (await put(api, mid, "❤️"))[0] == 200

    eve = await new_api()
    await add_member_api(api, chat, eve)
    status, body = await put(eve, mid, "👍")
    assert status == 201
    thumbs = body["message"]["reactions"][0]
    assert thumbs["count"] == 2 and thumbs["mine"] is True and thumbs["account_ids"] == [api.id, eve.id]
    # my view of the page: mine only where I reacted
    mine = {r["emoji"]: r["mine"] for r in (await api.messages(chat))[0]["reactions"]}
    assert mine == {"👍": True, "❤️": True}
    theirs = {r["emoji"]: r["mine"] for r in (await eve.messages(chat))[0]["reactions"]}
    assert theirs == {"👍": True, "❤️": False}

    for _ in range(2):
        r = await eve.delete(path(mid, "👍"))
        assert r.status == 204
    left = (await api.messages(chat))[0]["reactions"]
    assert [(x["emoji"], x["count"]) for x in left] == [("👍", 1), ("❤️", 1)]


async def add_member_api(owner: Api, chat: int, other: Api) -> None:
    # a second person in the chat, the way an integrator adds one: a row
    await owner.client.app[pool_key].execute(
        "INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, other.id)


async def test_reaction_authz_non_member_404_and_bad_emoji_400(api: Api, new_api: Any) -> None:
    sent = await api.send("private")
    mid = sent["message"]["id"]
    mallory = await new_api()
    status, body = await put(mallory, mid, "👍")
    assert status == 404 and body["error"]["code"] == "not_found"
    r = await mallory.delete(path(mid, "👍"))
    assert r.status == 404
    assert (await put(api, 999_999_999, "👍"))[0] == 404
    for bad in ("a", "👍👍", "1", ":thumbsup:", "👍 ", "\u200d", "\ufe0f", "x" * 40, "<b>", "%"):
        status, body = await put(api, mid, bad)
        assert status == 400, bad
        assert body["success"] is False and body["error"]["reason"] == "bad_emoji"
    assert (await api.messages(sent["chat_id"]))[0]["reactions"] == []
    # no CSRF header: 403
    r = await api.client.put(path(mid, "👍"))
    assert r.status == 403


async def test_reaction_on_deleted_message_409_and_cap(api: Api) -> None:
    sent = await api.send("soon gone")
    mid = sent["message"]["id"]
    await put(api, mid, "👍")
    await api.delete(f"/webchat/messages/{mid}/")
    status, body = await put(api, mid, "🎉")
    assert status == 409
    assert (await api.messages(sent["chat_id"]))[0]["reactions"] == []

    other = (await api.send("many", sent["chat_id"]))["message"]["id"]
    faces = ["😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂", "🙂", "🙃", "😉", "😊", "😇", "🥰", "😍",
             "🤩", "😘", "😗", "😚", "😙", "😋"]
    for e in faces[:MAX_KINDS]:
        assert (await put(api, other, e))[0] == 201
    status, body = await put(api, other, faces[MAX_KINDS])
    assert status == 409 and body["error"]["reason"] == "too_many_reactions"
    assert (await put(api, other, faces[0]))[0] == 200


async def test_sql_reaction_is_live_and_replayed_on_resume(api: Api, sql: asyncpg.Connection) -> None:
    sent = await api.send("rate us")
    chat, mid = sent["chat_id"], sent["message"]["id"]
    bot = await make_bot(sql, chat, "Order Bot")
    keeper = Keeper()
    ws = await api.ws()
    keeper.see(await next_event(ws))
    # the documented way for a bot: a plain INSERT
    await sql.execute("INSERT INTO webchat.reactions (message_id, account_id, emoji) VALUES ($1, $2, '🎉')",
                      mid, bot)
    [ev] = await collect(ws, 1, types=("message_updated",))
    keeper.see(ev)
    assert ev["message"]["id"] == mid
    assert ev["message"]["reactions"] == [
        {"emoji": "🎉", "count": 1, "mine": False, "by": ["Order"], "account_ids": [bot]}]
    assert ev["message"]["edited_at"] is None  # a reaction is not an edit
    await ws.close()

    # away: the bot takes it back and reacts otherwise; a reconnect with the cursor replays it
    await sql.execute("DELETE FROM webchat.reactions WHERE message_id = $1", mid)
    await sql.execute("INSERT INTO webchat.reactions (message_id, account_id, emoji) VALUES ($1, $2, '❤️')",
                      mid, bot)
    await insert(sql, chat, bot, "thanks!")
    ws = await api.ws(keeper.value)
    got = await collect(ws, 2, types=("message_updated", "new_message"))
    updated = [e for e in got if e["type"] == "message_updated"]
    assert [e["message"]["reactions"][0]["emoji"] for e in updated] == ["❤️"]
    assert [e["message"]["text"] for e in got if e["type"] == "new_message"] == ["thanks!"]
    await ws.close()


async def test_reply_quote(api: Api, sql: asyncpg.Connection) -> None:
    first = await api.send("Where is my parcel? " + "x" * 200)
    chat, mid = first["chat_id"], first["message"]["id"]
    reply = (await api.send("Any news?", chat, reply_to=mid))["message"]
    assert reply["reply_to"] == mid
    assert reply["quote"] == {"id": mid, "sender_name": api.account["display_name"],
                              "text": ("Where is my parcel? " + "x" * 200)[:140], "deleted": False,
                              "media_type": None}
    assert first["message"]["quote"] is None
    bot = await make_bot(sql, chat)
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text, reply_to_id) VALUES ($1, $2, $3, $4)",
                      chat, bot, "On its way", mid)
    await api.delete(f"/webchat/messages/{mid}/")
    page = await api.messages(chat)
    assert [m["quote"] for m in page[1:]] == [
        {"id": mid, "sender_name": api.account["display_name"], "text": "", "deleted": True, "media_type": None}] * 2
    # a reply across chats (possible with SQL) does not show the other chat's text
    other = (await api.send("elsewhere"))["chat_id"]
    await add_member(sql, other, bot)
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text, reply_to_id) VALUES ($1, $2, $3, $4)",
                      other, bot, "leak?", reply["id"])
    assert (await api.messages(other))[-1]["quote"] is None


async def test_every_emoji_of_the_picker_is_accepted() -> None:
    # the server must take whatever the widget's picker offers, skin tones included
    data = json.loads(PICKER_DATA.read_text())
    offered = [e["emoji"] for e in data] + [s["emoji"] for e in data for s in e.get("skins", [])]
    assert len(offered) > 3000
    for e in offered:
        parse_emoji(e)


async def test_reactions_per_account_rate_limited(settings: Settings, aiohttp_client: Any) -> None:
    app = create_app(replace(settings, rate_limit_scale=1.0,
                             rate_limits=(*settings.rate_limits, ("reactions_per_account", Rate(1, 3600, 3)))))
    api = await Api(await aiohttp_client(app)).start()
    sent = await api.send("tap tap")
    mid = sent["message"]["id"]
    for e in ("👍", "❤️", "😂"):
        assert (await put(api, mid, e))[0] == 201
    status, body = await put(api, mid, "😮")
    assert status == 429 and body["error"]["limit"] == "reactions_per_account"
    r = await api.delete(path(mid, "👍"))
    assert r.status == 429 and int(r.headers["Retry-After"]) > 60
    # refused writes changed nothing
    assert [x["emoji"] for x in (await api.messages(sent["chat_id"]))[0]["reactions"]] == ["👍", "❤️", "😂"]


async def test_hostile_emoji_paths_are_400_never_500(api: Api) -> None:
    mid = (await api.send("poke"))["message"]["id"]
    for raw in ("%2F", "%00", "%FF", "%F0%9F", "%F0%9F%91%8D%F0%9F%91%8D", "%ED%A0%80", "%20", "x" * 300,
                "%F0%9F%91%8D" * 20):
        r = await api.client.put(f"/webchat/messages/{mid}/reactions/{raw}", headers={"X-CSRF-Token": api.csrf})
        assert r.status in (400, 404), (raw, r.status, await r.text())
        assert (await r.json())["success"] is False
    r = await api.client.put("/webchat/messages/0/reactions/%F0%9F%91%8D", headers={"X-CSRF-Token": api.csrf})
    assert r.status in (400, 404)


async def test_a_guests_reactions_follow_it_into_the_signed_in_user(api: Api) -> None:
    sent = await api.send("before signing in")
    mid = sent["message"]["id"]
    await put(api, mid, "👍")
    assert (await api.identify("user-77", "Ada Lovelace")).status == 200
    me = (await (await api.get("/webchat/me")).json())["account"]["id"]
    [r] = (await api.messages(sent["chat_id"]))[0]["reactions"]
    assert r["account_ids"] == [me] and r["mine"] is True and r["by"] == ["Ada"]
