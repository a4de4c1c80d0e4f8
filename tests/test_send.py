"""The send path: one round trip, group commit (each send answered on its own), idempotent races, order,
rate limits that never couple strangers, nested IPv6 limits."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from webchat_server.app import create_app
from webchat_server.domain.limits import networks
from webchat_server.domain.sending import send_queue_key
from webchat_server.settings import Rate, Settings

from .browser_support import ServerProcess
from .conftest import Api, collect

BATCH = 20


async def batched(settings: Settings, aiohttp_client: Any) -> tuple[TestClient[Any, Any], Any]:
    """A server whose send queue waits (without a time limit that matters) until it holds a full
    batch of BATCH sends, so the test's concurrent sends are known to share one transaction."""
    client = await aiohttp_client(create_app(replace(settings, send_batch_max=BATCH, send_batch_wait=60.0)))
    return client, client.server.app[send_queue_key]


async def people(client: TestClient[Any, Any], aiohttp_client: Any, n: int) -> list[Api]:
    return [await Api(await aiohttp_client(client.server)).start() for _ in range(n)]


async def setup_chats(sql: asyncpg.Connection, members: list[Api]) -> list[int]:
    """One chat per person, made with SQL (not through the batched queue)."""
    chats = []
    for p in members:
        chat = await sql.fetchval("INSERT INTO webchat.chats (title) VALUES ('c') RETURNING id")
        await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, p.id)
        chats.append(chat)
    return chats


@pytest.mark.parametrize("refusal", ["not_member", "bad_reply", "client_id_elsewhere", "rate_limited",
                                     "sequence_behind"])
async def test_one_refused_send_in_a_batch_of_20_does_not_fail_the_others(
        settings: Settings, aiohttp_client: Any, sql: asyncpg.Connection, refusal: str) -> None:
    if refusal == "rate_limited":
        settings = replace(settings, rate_limit_scale=1.0, sends_per_minute=100_000, rate_limits=tuple(
            {**dict(settings.rate_limits), "sends_per_account": Rate(1, 3600, 1),
             "sends_per_address": None}.items()))
    client, queue = await batched(settings, aiohttp_client)
    crowd = await people(client, aiohttp_client, BATCH)
    chats = await setup_chats(sql, crowd)
    bad = crowd[7]
    bodies: list[dict[str, Any]] = [{"text": f"hello {i}", "chat_id": chats[i], "client_id": f"k{i}"}
                                    for i in range(BATCH)]
    expected = 201
    if refusal == "not_member":
        bodies[7]["chat_id"] = chats[8]
        expected = 404
    elif refusal == "bad_reply":
        other = await sql.fetchval("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'x')"
                                   " RETURNING id", chats[8], crowd[8].id)
        bodies[7]["reply_to"] = other
        expected = 400
    elif refusal == "client_id_elsewhere":
        mine = await sql.fetchval("INSERT INTO webchat.chats (title) VALUES ('mine') RETURNING id")
        await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", mine, bad.id)
        await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text, client_id)"
                          " VALUES ($1, $2, 'x', 'k7')", mine, bad.id)
        expected = 409
    elif refusal == "rate_limited":
        # its one token was spent through another server process (the buckets are shared in Postgres)
        one = Rate(1, 3600, 1)
        await sql.execute("SELECT * FROM webchat.rate_lease($1, $2, $3, $4, $4)", [f"sends:a:{bad.id}"],
                          [one.per_second], [one.burst], [1.0])
        expected = 429
    elif refusal == "sequence_behind":
        # an operator rewound a chat's last_seq: its inserts collide, so the batch's statement fails
        # as a whole; each send is then tried alone and only that chat's send is refused
        await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'x')",
                          chats[7], bad.id)
        await sql.execute("UPDATE webchat.chats SET last_seq = 0 WHERE id = $1", chats[7])
        expected = 409
    before = dict(queue.sizes)

    async def send(p: Api, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        r = await p.post("/webchat/send/", body)
        return r.status, await r.json()

    answers = await asyncio.gather(*(send(p, b) for p, b in zip(crowd, bodies, strict=True)))
    # the twenty went to Postgres together
    assert queue.sizes[BATCH] == before.get(BATCH, 0) + 1
    statuses = [s for s, _ in answers]
    assert statuses == [201] * 7 + [expected] + [201] * (BATCH - 8), answers
    if expected == 429:
        assert answers[7][1]["error"]["limit"] == "sends_per_account"
    for i, (_status, body) in enumerate(answers):
        if i != 7:
            assert body["message"]["text"] == f"hello {i}" and body["message"]["chat_id"] == chats[i]
    stored = await sql.fetch("SELECT chat_id, seq, text FROM webchat.messages WHERE text LIKE 'hello %'")
    assert sorted(r["text"] for r in stored) == sorted(f"hello {i}" for i in range(BATCH) if i != 7)
    # gap-free: every chat's seq runs 1..n
    for chat in chats:
        seqs = [r["seq"] for r in await sql.fetch("SELECT seq FROM webchat.messages WHERE chat_id = $1 ORDER BY seq",
                                                  chat)]
        assert (refusal == "sequence_behind" and chat == chats[7]) or seqs == list(range(1, len(seqs) + 1))


async def test_a_batch_is_one_transaction_and_one_notify(settings: Settings, aiohttp_client: Any,
                                                          sql: asyncpg.Connection) -> None:
    client, _queue = await batched(settings, aiohttp_client)
    crowd = await people(client, aiohttp_client, BATCH)
    chats = await setup_chats(sql, crowd)
    notes: list[str] = []
    await sql.add_listener("webchat", lambda *args: notes.append(args[3]))
    answers = await asyncio.gather(*(p.post("/webchat/send/", {"text": "t", "chat_id": c})
                                     for p, c in zip(crowd, chats, strict=True)))
    assert [r.status for r in answers] == [201] * BATCH
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not [n for n in notes if json.loads(n)["t"] == "m"]:
        assert loop.time() < deadline, notes
        await asyncio.sleep(0.02)
    # every message of the batch is in one notification
    inserted = [json.loads(n) for n in notes if json.loads(n)["t"] == "m"]
    assert len(inserted) == 1 and len(inserted[0]["r"]) == BATCH, notes
    # the batch's rows were written by one transaction (the same xmin); counting commits in
    # pg_stat_database instead also counted the setup's, whose statistics other backends flush
    # up to a second late under load
    writers = await sql.fetchval("SELECT count(DISTINCT xmin::text) FROM webchat.messages WHERE chat_id = ANY($1)",
                                 chats)
    assert writers == 1


async def test_retries_of_a_chat_creating_send_race_to_one_message(api: Api, sql: asyncpg.Connection) -> None:
    # a send without chat_id creates a chat; its retries (same client_id) get that message, 200
    answers = await asyncio.gather(*(api.post("/webchat/send/", {"text": "new chat", "client_id": "start-1"})
                                     for _ in range(10)))
    bodies = [await r.json() for r in answers]
    assert sorted(r.status for r in answers) == [200] * 9 + [201], bodies
    assert len({b["message"]["id"] for b in bodies}) == 1
    assert all(b["duplicate"] is (r.status == 200) for r, b in zip(answers, bodies, strict=True))
    assert await sql.fetchval("SELECT count(*) FROM webchat.chats") == 1
    # a later retry with the chat it created is the same message too
    again = await api.send("new chat", bodies[0]["chat_id"], client_id="start-1")
    assert again["duplicate"] and again["message"]["id"] == bodies[0]["message"]["id"]


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    env = {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode()}
    servers = [ServerProcess(database_url, tmp_path / f"s{i}", env) for i in range(2)]
    for s in servers:
        s.start()
    yield servers
    for s in servers:
        s.stop()


@pytest.mark.slow
async def test_retries_racing_across_two_processes(two_servers: list[ServerProcess], sql: asyncpg.Connection) -> None:
    a, b = (s.base for s in two_servers)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(a + "/webchat/me") as r:
            headers = {"X-CSRF-Token": (await r.json())["csrf_token"]}

        async def send(base: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            async with s.post(base + "/webchat/send/", json=body, headers=headers) as r:
                return r.status, await r.json()

        for round_ in range(5):
            # chat-creating retries, half through each process
            body = {"text": "hi", "client_id": f"new-{round_}"}
            answers = await asyncio.gather(*(send(a if i % 2 else b, body) for i in range(8)))
            assert sorted(st for st, _ in answers) == [200] * 7 + [201], answers
            assert len({ans["message"]["id"] for _, ans in answers}) == 1
            chat = answers[0][1]["chat_id"]
            body = {"text": "more", "chat_id": chat, "client_id": f"more-{round_}"}
            answers = await asyncio.gather(*(send(a if i % 2 else b, body) for i in range(8)))
            assert sorted(st for st, _ in answers) == [200] * 7 + [201], answers
    assert await sql.fetchval("SELECT count(*) FROM webchat.chats") == 5
    assert await sql.fetchval("SELECT count(*) FROM webchat.messages") == 10


async def test_order_under_concurrent_senders_to_one_chat(settings: Settings, aiohttp_client: Any,
                                                          sql: asyncpg.Connection) -> None:
    client = await aiohttp_client(create_app(replace(settings, send_batch_max=8)))
    crowd = await people(client, aiohttp_client, 6)
    chat = (await crowd[0].send("start"))["chat_id"]
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) SELECT $1, unnest($2::bigint[])"
                      " ON CONFLICT DO NOTHING", chat, [p.id for p in crowd])
    reader = await crowd[0].ws()
    each = 25

    async def talk(n: int, p: Api) -> None:
        for i in range(each):  # one after another, as a person does: each waits for its answer
            await p.send(f"{n}:{i}", chat, client_id=f"{n}-{i}")

    await asyncio.gather(*(talk(n, p) for n, p in enumerate(crowd)))
    total = 1 + each * len(crowd)
    rows = await sql.fetch("SELECT seq, text FROM webchat.messages WHERE chat_id = $1 ORDER BY seq", chat)
    assert [r["seq"] for r in rows] == list(range(1, total + 1))
    for n in range(len(crowd)):
        # each sender's messages are in the order it sent them
        assert [r["text"] for r in rows if r["text"].startswith(f"{n}:")] == [f"{n}:{i}" for i in range(each)]
    events = await collect(reader, total - 1, timeout=30)
    assert [e["message"]["seq"] for e in events] == list(range(2, total + 1))
    await reader.close()
    queue = client.server.app[send_queue_key]
    assert max(queue.sizes) > 1, queue.sizes  # the senders did share transactions


async def test_a_locked_chat_row_does_not_stall_strangers_sharing_an_address(
        api: Api, new_api: Any, sql: asyncpg.Connection, database_url: str) -> None:
    """Issue 18 #9: a neighbour's send waiting on a locked chat row held the address's rate-limit bucket,
    so another visitor behind the same address could not send to its own chat until it was released."""
    neighbour = api
    visitor = await new_api()  # same address (127.0.0.1), its own session and chat
    stuck_chat = (await neighbour.send("hi"))["chat_id"]
    own_chat = (await visitor.send("hi"))["chat_id"]
    holder = await asyncpg.connect(database_url)
    try:
        tx = holder.transaction()
        await tx.start()
        # an integrator's long transaction holds the chat row (as an edit or insert would)
        await holder.execute("SELECT 1 FROM webchat.chats WHERE id = $1 FOR UPDATE", stuck_chat)
        stuck = asyncio.ensure_future(neighbour.post("/webchat/send/", {"text": "waits", "chat_id": stuck_chat}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        # until the neighbour's send is waiting for the lock inside Postgres
        while not await sql.fetchval("SELECT count(*) FROM pg_stat_activity"
                                     " WHERE wait_event_type = 'Lock' AND datname = current_database()"):
            assert loop.time() < deadline and not stuck.done()
            await asyncio.sleep(0.02)
        for i in range(5):
            # the stranger's sends complete while the lock is still held
            r = await asyncio.wait_for(visitor.post("/webchat/send/", {"text": f"mine {i}", "chat_id": own_chat}),
                                       30)
            assert r.status == 201
        assert not stuck.done()
        await tx.rollback()
        assert (await asyncio.wait_for(stuck, 30)).status == 201
    finally:
        await holder.close()


def test_ipv6_networks_nest() -> None:
    prefixes = ((56, 4.0), (48, 16.0))
    assert networks("2001:db8:1:2::/64", prefixes) == [("2001:db8:1::/56", 4.0), ("2001:db8:1::/48", 16.0)]
    assert networks("2001:db8:1:2ff::/64", prefixes)[0] == ("2001:db8:1:200::/56", 4.0)
    assert networks("203.0.113.7", prefixes) == []
    assert networks("2001:db8::/64", ()) == []
    assert Settings.from_env({"WEBCHAT_IPV6_PREFIX_LIMITS": "/60=2,/48=10"}).ipv6_prefix_limits == ((60, 2.0),
                                                                                                   (48, 10.0))
    assert Settings.from_env({"WEBCHAT_IPV6_PREFIX_LIMITS": "off"}).ipv6_prefix_limits == ()
    with pytest.raises(SystemExit):
        Settings.from_env({"WEBCHAT_IPV6_PREFIX_LIMITS": "/72=2"})


@pytest.mark.slow
async def test_2000_ipv6_64s_of_one_48_do_not_get_2000_guests(settings: Settings, aiohttp_client: Any,
                                                               sql: asyncpg.Connection) -> None:
    """Issue 18 #9: IPv6 counted only per /64, so one holder of a /48 made 2,000 guests in 1.5 s."""
    # bursts of 30, refilling at one an hour: what the test makes is the bursts, not the refill
    limits = {**dict(settings.rate_limits), "guests_per_address": Rate(1, 3600, 30)}
    client = await aiohttp_client(create_app(replace(
        settings, rate_limit_scale=1.0, rate_limits=tuple(limits.items()), trusted_proxies=("127.0.0.1/32",))))
    base = ipaddress.IPv6Address("2001:db8:77::")
    statuses: dict[int, int] = {}

    async def visit(i: int) -> None:
        # a fresh browser each time (no cookie), from the i-th /64 of one /48
        address = base + (i << 64) + 1
        async with aiohttp.ClientSession() as s, s.get(client.make_url("/webchat/me"),
                                                       headers={"X-Forwarded-For": str(address)}) as r:
            statuses[r.status] = statuses.get(r.status, 0) + 1

    for start in range(0, 2000, 100):
        await asyncio.gather(*(visit(i) for i in range(start, start + 100)))
    made = await sql.fetchval("SELECT count(*) FROM webchat.accounts WHERE kind = 'guest'")
    # the /48 allows 16 x an address's burst of 30; each /56 (256 /64s) 4 x 30
    assert made <= 16 * 30 and statuses[429] == 2000 - made, (made, statuses)
    # a client in another /48 is not affected
    async with aiohttp.ClientSession() as s, s.get(client.make_url("/webchat/me"),
                                                   headers={"X-Forwarded-For": "2001:db8:78::1"}) as r:
        assert r.status == 200


async def test_the_send_checks_its_session_in_its_own_statement(api: Api, sql: asyncpg.Connection) -> None:
    """A JSON send makes no session query of its own: the database function refuses a session that was
    signed out (revoked id) or a guest merged into a user, as GET requests do."""
    from .test_identity import as_cookie, cookie_of

    chat = (await api.send("hi"))["chat_id"]
    cookie, csrf = cookie_of(api), api.csrf
    await sql.execute("INSERT INTO webchat.revoked_sessions (sid, expires_at) SELECT sid, now() + interval '1 h'"
                      " FROM (SELECT $1::text AS sid) s", "unrelated")
    status, _ = await as_cookie(api.client, "POST", "/webchat/send/", cookie, json={"text": "ok", "chat_id": chat},
                                headers={"X-CSRF-Token": csrf})
    assert status == 201
    user = await sql.fetchval("INSERT INTO webchat.accounts (kind, external_id, display_name)"
                              " VALUES ('user', 'u1', 'U') RETURNING id")
    await sql.execute("UPDATE webchat.accounts SET merged_into = $1 WHERE id = $2", user, api.id)
    status, body = await as_cookie(api.client, "POST", "/webchat/send/", cookie,
                                   json={"text": "after merge", "chat_id": chat}, headers={"X-CSRF-Token": csrf})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert await sql.fetchval("SELECT count(*) FROM webchat.messages WHERE text = 'after merge'") == 0


async def test_a_waiter_that_gives_up_does_not_break_the_queue(api: Api, sql: asyncpg.Connection) -> None:
    from webchat_server.db import pool_key
    from webchat_server.domain.sending import Send, SendQueue

    chat = (await api.send("hi"))["chat_id"]
    queue = SendQueue(api.client.server.app[pool_key], max_batch=3, wait=60.0)

    def one(text: str) -> Send:
        return Send(api.id, chat, text, f"id-{text}", None, text)

    gone = asyncio.ensure_future(queue.submit(one("a")))
    await asyncio.sleep(0)
    gone.cancel()  # its client went away while the send waited for its batch
    b, c = await asyncio.gather(queue.submit(one("b")), queue.submit(one("c")))
    assert (b.outcome, c.outcome) == ("created", "created") and queue.sizes[3] == 1
    # the abandoned send was stored all the same: its client's retry gets it
    again = await SendQueue(api.client.server.app[pool_key]).submit(one("a"))
    assert again.outcome == "duplicate" and again.message is not None and again.message["text"] == "a"
    await queue.stop()


async def test_the_fan_out_uses_the_rows_a_send_wrote_but_not_for_a_later_change(
        api: Api, sql: asyncpg.Connection) -> None:
    """A process's own sends hand their rows to the fan-out (no fetch); a change of the row notified in
    the same slice is fetched, so the update event carries the changed text."""
    from webchat_server.db import pool_key
    from webchat_server.realtime.delivery import Delivery
    from webchat_server.realtime.hub import Hub
    from webchat_server.realtime.kinds.messages import Inserted, MessageRow, Updated
    from webchat_server.realtime.subscriber import PollWaiter

    chat = (await api.send("first"))["chat_id"]
    pool = api.client.server.app[pool_key]
    stored = await pool.fetch("SELECT idx, outcome, (message).* FROM webchat.send_messages($1, $2, $3, $4, $5, $6,"
                              " $7, $8, $9, $10, $11, $12)", [api.id], [chat], ["as sent"], [None], [None], ["t"],
                              [None], [None], [None], [None], [None], False)
    row = stored[0]
    hub = Hub()
    delivery = Delivery(pool, hub)
    waiter = PollWaiter(hub, api.id)
    hub.register(waiter)
    hub.subscribe(waiter, chat, row["seq"] - 1)
    waiter.go_live()
    delivery.remember([row])
    inserted = Inserted((MessageRow(chat, row["id"], row["seq"], api.id),))
    await delivery.deliver([inserted])
    assert delivery.written_hits == 1 and delivery.queries == 0
    assert [e.obj["message"]["text"] for e in waiter.answer()] == ["as sent"]

    # the same again, but the row was edited and both notifications are in one slice
    stored = await pool.fetch("SELECT idx, outcome, (message).* FROM webchat.send_messages($1, $2, $3, $4, $5, $6,"
                              " $7, $8, $9, $10, $11, $12)", [api.id], [chat], ["second"], [None], [None], ["t"],
                              [None], [None], [None], [None], [None], False)
    row = stored[0]
    change_seq = await sql.fetchval("UPDATE webchat.messages SET text = 'edited' WHERE id = $1 RETURNING change_seq",
                                    row["id"])
    delivery.remember([row])
    await delivery.deliver([Inserted((MessageRow(chat, row["id"], row["seq"], api.id),)),
                            Updated((MessageRow(chat, row["id"], change_seq, api.id),))])
    assert delivery.queries == 1
    assert [e.obj["message"]["text"] for e in waiter.answer()][-2:] == ["edited", "edited"]


SEND_ONE = "SELECT idx, outcome, (message).* FROM webchat.send_one($1, $2, $3, $4, $5, $6, $7, $8)"
SEND_MESSAGES = ("SELECT idx, outcome, (message).* FROM webchat.send_messages($1, $2, $3, $4, $5, $6, $7, $8, $9,"
                 " $10, $11, $12)")


async def _judged(conn: asyncpg.Connection, general: bool, sender: int, chat: int, text: str = "t",
                  client_id: str | None = None, reply_to: int | None = None, limited: float | None = None,
                  session: str | None = None) -> tuple[str, str | None, str | None]:
    """One send through one of the two functions, rolled back: (outcome, stored text, chat title)."""
    tx = conn.transaction()
    await tx.start()
    try:
        if general:
            rows = await conn.fetch(SEND_MESSAGES, [sender], [chat], [text], [client_id], [reply_to], ["from text"],
                                    [limited], [None], [None], [None], [session], False)
        else:
            rows = await conn.fetch(SEND_ONE, sender, chat, text, client_id, reply_to, "from text", limited, session)
        title = await conn.fetchval("SELECT title FROM webchat.chats WHERE id = $1", chat)
        return rows[0]["outcome"], rows[0]["text"], title
    finally:
        await tx.rollback()


async def test_the_lone_send_function_judges_every_case_as_the_general_one(
        sql: asyncpg.Connection, database_url: str) -> None:
    """webchat.send_one (the common case) and webchat.send_messages (batches, new chats, uploads) give
    the same outcome, the same stored message and the same title for every kind of send."""
    async def account() -> int:
        return int(await sql.fetchval("INSERT INTO webchat.accounts (kind) VALUES ('guest') RETURNING id"))

    async def chat(title: str, *members: int) -> int:
        c = int(await sql.fetchval("INSERT INTO webchat.chats (title) VALUES ($1) RETURNING id", title))
        for m in members:
            await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", c, m)
        return c

    me, other, merged = await account(), await account(), await account()
    mine, theirs, fresh = await chat("mine", me, merged), await chat("theirs", other), await chat("New chat", me)
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text, client_id)"
                      " VALUES ($1, $2, 'kept', 'k1')", mine, me)
    elsewhere = await sql.fetchval("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'x')"
                                   " RETURNING id", theirs, other)
    here = await sql.fetchval("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'y')"
                              " RETURNING id", mine, me)
    await sql.execute("INSERT INTO webchat.revoked_sessions (sid, expires_at) VALUES ('gone', now() + interval '1 h')")
    await sql.execute("UPDATE webchat.accounts SET merged_into = $1 WHERE id = $2", me, merged)
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "plain": ({"sender": me, "chat": mine}, "created"),
        "with a client_id": ({"sender": me, "chat": mine, "client_id": "new"}, "created"),
        "a retry": ({"sender": me, "chat": mine, "client_id": "k1"}, "duplicate"),
        "a retry, rate-limited": ({"sender": me, "chat": mine, "client_id": "k1", "limited": 3.0}, "duplicate"),
        "its client_id used in another chat": ({"sender": me, "chat": fresh, "client_id": "k1"}, "conflict"),
        "rate-limited": ({"sender": me, "chat": mine, "limited": 3.0}, "rate_limited"),
        "not a member": ({"sender": me, "chat": theirs}, "not_found"),
        "a reply into another chat": ({"sender": me, "chat": mine, "reply_to": elsewhere}, "bad_reply"),
        "a reply": ({"sender": me, "chat": mine, "reply_to": here}, "created"),
        "signed out": ({"sender": me, "chat": mine, "session": "gone"}, "no_session"),
        "a live session": ({"sender": me, "chat": mine, "session": "live"}, "created"),
        "merged into a user": ({"sender": merged, "chat": mine, "session": "live"}, "no_session"),
        "the first message of a New chat": ({"sender": me, "chat": fresh}, "created"),
    }
    for name, (send, outcome) in cases.items():
        general = await _judged(sql, True, **send)
        lone = await _judged(sql, False, **send)
        assert general == lone and general[0] == outcome, (name, general, lone)
    assert (await _judged(sql, False, me, fresh, "hello"))[2] == "from text"
    # held by another transaction: the same client_id being stored, or the chat row
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock(1466130276, hashtext($1))", f"{me}:k2")
            assert (await _judged(sql, False, me, mine, client_id="k2"))[0] == "busy"
            assert (await _judged(sql, True, me, mine, client_id="k2"))[0] == "busy"
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM webchat.chats WHERE id = $1 FOR NO KEY UPDATE", mine)
            assert (await _judged(sql, False, me, mine))[0] == "busy"
            assert (await _judged(sql, True, me, mine))[0] == "busy"
    finally:
        await holder.close()
