"""Live delivery endpoints: the WebSocket and the long-poll forms (GET, POST, seed form)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aiohttp_session
from aiohttp import WSCloseCode, WSMsgType, web

from ..db import pool_key, q
from ..domain.availability import availability_key
from ..domain.model import message_json
from ..errors import DATABASE_DOWN, ApiError, BadInput, DomainError, NotFound
from ..http.auth import origin_allowed, require_account
from ..http.validate import json_body, opt_float, opt_id, opt_seq
from ..presence.running import page_said
from ..realtime import cursor
from ..realtime.delivery import delivery_key
from ..realtime.events import connection_event, dumps, error_event, pong_event
from ..realtime.hub import hub_key, sockets_key
from ..realtime.kinds.typing import send_typing
from ..realtime.protocol import CLOSE_BAD_RESUME, RESUME_FRAME_TIMEOUT, RESUME_PARAM
from ..realtime.subscriber import PollWaiter, WsSubscriber
from ..settings import settings_key

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_CLIENT_FRAME = 16 * 1024
# a cursor sent in a resume frame or a POST body: ~20 characters a chat, so 12,000+ chats
MAX_BODY_CURSOR = 256 * 1024
# a client's clock reading (a number), or a short label: echoed as is
MAX_PING_TIMESTAMP = 64


@routes.get("/ws/webchat/")
async def websocket(request: web.Request) -> web.StreamResponse:
    # refuse before upgrading: a cross-site page must not ride the visitor's cookie
    if not origin_allowed(request):
        raise ApiError(403, "cross-origin WebSocket refused", "bad_origin")
    account = await require_account(request)
    account_id = account["id"]
    by_frame = request.query.get(RESUME_PARAM) == "1"
    given = None if by_frame else cursor.parse(request.query.get("cursor"))
    app = request.app
    settings, hub = app[settings_key], app[hub_key]
    if account["kind"] == "agent":
        # online from now (the launcher says "We're online"), not from the next stamping round
        await app[availability_key].seen([account_id])
    # the resume frame may be large; every later frame is held to MAX_CLIENT_FRAME by the read loop
    ws = web.WebSocketResponse(heartbeat=settings.ws_heartbeat, compress=False,
                               max_msg_size=MAX_BODY_CURSOR + 1024 if by_frame else MAX_CLIENT_FRAME)
    await ws.prepare(request)
    transport = request.transport
    assert transport is not None
    if by_frame:
        try:
            given = await _resume_frame(ws)
        except (ApiError, DomainError) as e:
            await ws.close(code=CLOSE_BAD_RESUME, message=e.message.encode()[:120])
            return ws
    sub = WsSubscriber(hub, account_id, ws, transport, settings.ws_high_water)
    sub.sid = await _session_id(request)
    sub.agent = account["kind"] == "agent"
    app[sockets_key].items.add(ws)

    def hello() -> None:
        # first frame: who you are and where you start; replay and live events follow
        transport.write(connection_event(account_id, cursor.encode(sub.positions), sub.agent).frame)

    try:
        if await app[delivery_key].attach(sub, given, on_ready=hello):
            await _read_loop(request, ws, sub)
    except DATABASE_DOWN as e:
        # after the upgrade an HTTP error is no longer possible: close with "try again later",
        # the client reconnects with backoff and resumes from its cursor. One line: an outage
        # fails every socket the same way
        log.warning("database unavailable during a WebSocket session: %s: %s", e.__class__.__name__, e)
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"database unavailable")
    finally:
        sub.close()
        hub.unregister(sub)
        app[sockets_key].items.discard(ws)
        if not ws.closed:
            await ws.close()
    return ws


async def _resume_frame(ws: web.WebSocketResponse) -> dict[int, int] | None:
    """The first frame of a ?resume=1 socket: {"type": "resume", "cursor": "..." | null}."""
    try:
        msg = await ws.receive(timeout=RESUME_FRAME_TIMEOUT)
    except TimeoutError:
        raise BadInput("no resume frame") from None
    if msg.type != WSMsgType.TEXT:
        raise BadInput("the first frame must be a resume frame")
    try:
        frame = json.loads(msg.data)
    except ValueError:
        raise BadInput("resume frame is not JSON") from None
    if not isinstance(frame, dict) or frame.get("type") != "resume":
        raise BadInput("the first frame must be {\"type\": \"resume\", \"cursor\": ...}")
    raw = frame.get("cursor")
    if raw is not None and not isinstance(raw, str):
        raise BadInput("cursor must be a string or null")
    return cursor.parse(raw, MAX_BODY_CURSOR)


async def _read_loop(request: web.Request, ws: web.WebSocketResponse, sub: WsSubscriber) -> None:
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        if len(msg.data) > MAX_CLIENT_FRAME:
            await ws.close(code=WSCloseCode.MESSAGE_TOO_BIG, message=b"frame too big")
            return
        try:
            frame = json.loads(msg.data)
        except (ValueError, RecursionError):  # [[[[... nested past the recursion limit
            await _send(ws, error_event("bad_request", "frame is not JSON").data)
            continue
        if not isinstance(frame, dict):
            continue
        kind = frame.get("type")
        if kind == "ping":
            timestamp = frame.get("timestamp")
            if not _echoable(timestamp):
                await _send(ws, error_event("bad_request", "timestamp must be a number or a short string "
                                            "of valid Unicode text").data)
                continue
            await _send(ws, pong_event(timestamp).data)
        elif kind == "activity":
            page_said(request.app, sub, frame.get("state"))
        elif kind == "typing":
            try:
                chat_id = opt_id(frame.get("chat_id"), "chat_id")
                if chat_id is None:
                    raise BadInput("chat_id is required")
                await send_typing(request.app, sub.account_id, chat_id, bool(frame.get("is_typing", True)))
            except (ApiError, DomainError) as e:
                await _send(ws, error_event(e.code, e.message, **e.extra).data)
            except DATABASE_DOWN:
                await _send(ws, error_event("unavailable", "the database is unavailable").data)


def _echoable(timestamp: Any) -> bool:
    """A ping's timestamp is echoed in the pong: a number, null or short text. A lone surrogate
    ("\ud800") has no UTF-8 form, and echoing it closed the socket with a traceback."""
    if timestamp is None or isinstance(timestamp, (int, float)):
        return True
    if not isinstance(timestamp, str) or len(timestamp) > MAX_PING_TIMESTAMP:
        return False
    try:
        timestamp.encode()
    except UnicodeEncodeError:
        return False
    return True


async def _session_id(request: web.Request) -> str | None:
    """The session id the reader belongs to: when it is revoked, the reader ends (kinds/sessions.py)."""
    sid = (await aiohttp_session.get_session(request)).get("sid")
    return sid if isinstance(sid, str) else None


async def _send(ws: web.WebSocketResponse, data: bytes) -> None:
    await ws.send_str(data.decode())


@routes.get("/webchat/poll/")
async def poll(request: web.Request) -> web.StreamResponse:
    account = await require_account(request)
    settings = request.app[settings_key]
    query = request.query
    timeout = opt_float(query.get("timeout"), "timeout", 0, settings.poll_max_timeout,
                        settings.poll_default_timeout)
    agent = account["kind"] == "agent"
    if "chat_id" in query:
        return await _poll_chat(request, account["id"], timeout, agent)
    return await _poll(request, account["id"], cursor.parse(query.get("cursor")), timeout, agent)


@routes.post("/webchat/poll/")
async def poll_post(request: web.Request) -> web.StreamResponse:
    """The same answer as GET, for cursors too long for a URL: {"cursor": ..., "timeout": ...}."""
    account = await require_account(request)
    settings = request.app[settings_key]
    body = await json_body(request)
    timeout = opt_float(body.get("timeout"), "timeout", 0, settings.poll_max_timeout, settings.poll_default_timeout)
    raw = body.get("cursor")
    if raw is not None and not isinstance(raw, str):
        raise BadInput("cursor must be a string or null")
    return await _poll(request, account["id"], cursor.parse(raw, MAX_BODY_CURSOR), timeout,
                       account["kind"] == "agent")


async def _poll(request: web.Request, account_id: int, given: dict[int, int] | None,
                timeout: float, agent: bool) -> web.Response:
    app = request.app
    hub = app[hub_key]
    waiter = PollWaiter(hub, account_id, max_bytes=app[settings_key].poll_max_bytes)
    waiter.sid = await _session_id(request)
    waiter.agent = agent
    try:
        ok = await app[delivery_key].attach(waiter, given)
        if ok and not waiter.events and not waiter.paging and given is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wake.wait(), timeout)
    finally:
        waiter.close()
        hub.unregister(waiter)
    if waiter.resynced:
        body = b'{"success":true,"cursor":null,"events":[' + waiter.events[0].data + b"]}"
    else:
        cur = dumps(cursor.encode(waiter.positions))
        events = waiter.answer()
        body = b'{"success":true,"cursor":' + cur + b',"events":[' + b",".join(e.data for e in events) + b"]}"
    return web.Response(body=body, content_type="application/json")


async def _poll_chat(request: web.Request, account_id: int, timeout: float, agent: bool) -> web.Response:
    """The seed's form: new messages of one chat after last_message_id."""
    query = request.query
    chat_id = opt_id(query.get("chat_id"), "chat_id")
    if chat_id is None:
        raise BadInput("chat_id is required")
    last_id = opt_seq(query.get("last_message_id"), "last_message_id") or 0
    pool, hub = request.app[pool_key], request.app[hub_key]
    if not await pool.fetchval(q("member_check"), chat_id, account_id):
        raise NotFound()
    after = 0
    if last_id:
        row = await pool.fetchrow(q("message_get"), last_id)
        if row is None or row["chat_id"] != chat_id or (row["visibility"] != "public" and not agent):
            raise BadInput("last_message_id is not a message of this chat")
        after = row["seq"]
    limit = 100
    rows = await pool.fetch(q("messages_after"), chat_id, after, limit + 1, agent)
    if not rows and timeout > 0:
        waiter = PollWaiter(hub, account_id, only_chat=chat_id)
        waiter.sid = await _session_id(request)
        waiter.agent = agent
        try:
            await request.app[delivery_key].attach(waiter, {chat_id: after}, only_chat=chat_id)
            deadline = asyncio.get_running_loop().time() + timeout
            while not any(e.type == "new_message" for e in waiter.events):
                waiter.wake.clear()
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0 or waiter.closed:
                    break
                try:
                    await asyncio.wait_for(waiter.wake.wait(), remaining)
                except TimeoutError:
                    break
        finally:
            waiter.close()
            hub.unregister(waiter)
        new = [e.obj["message"] for e in waiter.events if e.type == "new_message"]
        return web.json_response({"success": True, "messages": new, "has_more": False})
    return web.json_response({
        "success": True, "messages": [message_json(r) for r in rows[:limit]], "has_more": len(rows) > limit,
    })

