"""Live delivery endpoints: the WebSocket and both long-poll forms."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .. import cursor
from ..auth import origin_allowed, require_account
from ..catchup import attach
from ..db import q
from ..errors import DATABASE_DOWN, ApiError, DomainError, bad_request, error_frame
from ..events import dumps, make_event
from ..hub import PollWaiter, WsSubscriber
from ..keys import hub_key, pool_key, settings_key, sockets_key
from ..model import message_json
from ..typing_events import send_typing
from ..validate import opt_float, opt_id, opt_seq

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_CLIENT_FRAME = 16 * 1024


@routes.get("/ws/webchat/")
async def websocket(request: web.Request) -> web.StreamResponse:
    # refuse before upgrading: a cross-site page must not ride the visitor's cookie
    if not origin_allowed(request):
        raise ApiError(403, "cross-origin WebSocket refused", "bad_origin")
    account_id = (await require_account(request))["id"]
    given = cursor.parse(request.query.get("cursor"))
    app = request.app
    settings, hub = app[settings_key], app[hub_key]
    ws = web.WebSocketResponse(heartbeat=settings.ws_heartbeat, max_msg_size=MAX_CLIENT_FRAME, compress=False)
    await ws.prepare(request)
    transport = request.transport
    assert transport is not None
    sub = WsSubscriber(hub, account_id, ws, transport, settings.ws_queue_bytes)
    app[sockets_key].items.add(ws)

    def hello() -> None:
        # first frame: who you are and where you start; catch-up and live events follow
        transport.write(make_event("connection", None, {
            "status": "connected", "account_id": account_id, "cursor": cursor.encode(sub.positions),
        }).frame)

    try:
        if await attach(app[pool_key], hub, sub, given, on_ready=hello):
            await _read_loop(request, ws, sub)
    except DATABASE_DOWN:
        # after the upgrade an HTTP error is no longer possible: close with "try again later",
        # the client reconnects with backoff and resumes from its cursor
        log.warning("database unavailable during a WebSocket session", exc_info=True)
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"database unavailable")
    finally:
        hub.unregister(sub)
        app[sockets_key].items.discard(ws)
        if not ws.closed:
            await ws.close()
    return ws


async def _read_loop(request: web.Request, ws: web.WebSocketResponse, sub: WsSubscriber) -> None:
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            frame = json.loads(msg.data)
        except (ValueError, RecursionError):  # [[[[... nested past the recursion limit
            await ws.send_str(json.dumps(_error("bad_request", "frame is not JSON")))
            continue
        if not isinstance(frame, dict):
            continue
        kind = frame.get("type")
        if kind == "ping":
            ts = frame.get("timestamp")
            await ws.send_str(json.dumps({"type": "pong", "chat_id": None, "timestamp": ts}))
        elif kind == "typing":
            try:
                chat_id = opt_id(frame.get("chat_id"), "chat_id")
                if chat_id is None:
                    raise bad_request("chat_id is required")
                await send_typing(request.app, sub.account_id, chat_id, bool(frame.get("is_typing", True)))
            except (ApiError, DomainError) as e:
                await ws.send_str(json.dumps(error_frame(e)))
            except DATABASE_DOWN:
                await ws.send_str(json.dumps(_error("unavailable", "the database is unavailable")))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "chat_id": None, "error": {"code": code, "message": message}}


@routes.get("/webchat/poll/")
async def poll(request: web.Request) -> web.StreamResponse:
    account = await require_account(request)
    settings = request.app[settings_key]
    query = request.query
    timeout = opt_float(query.get("timeout"), "timeout", 0, settings.poll_max_timeout,
                        settings.poll_default_timeout)
    if "chat_id" in query:
        return await _poll_chat(request, account["id"], timeout)
    given = cursor.parse(query.get("cursor"))
    hub = request.app[hub_key]
    waiter = PollWaiter(hub, account["id"])
    try:
        ok = await attach(request.app[pool_key], hub, waiter, given)
        if ok and not waiter.events and given is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wake.wait(), timeout)
    finally:
        hub.unregister(waiter)
    if waiter.resynced:
        body = b'{"success":true,"cursor":null,"events":[' + waiter.events[0].data + b"]}"
    else:
        cur = dumps(cursor.encode(waiter.positions))
        body = b'{"success":true,"cursor":' + cur + b',"events":[' + b",".join(e.data for e in waiter.events) + b"]}"
    return web.Response(body=body, content_type="application/json")


async def _poll_chat(request: web.Request, account_id: int, timeout: float) -> web.Response:
    """The seed's form: new messages of one chat after last_message_id."""
    query = request.query
    chat_id = opt_id(query.get("chat_id"), "chat_id")
    if chat_id is None:
        raise bad_request("chat_id is required")
    last_id = opt_seq(query.get("last_message_id"), "last_message_id") or 0
    pool, hub = request.app[pool_key], request.app[hub_key]
    if not await pool.fetchval(q("member_check"), chat_id, account_id):
        raise ApiError(404, "chat not found")
    after = 0
    if last_id:
        row = await pool.fetchrow(q("message_get"), last_id)
        if row is None or row["chat_id"] != chat_id:
            raise bad_request("last_message_id is not a message of this chat")
        after = row["seq"]
    limit = 100
    rows = await pool.fetch(q("messages_after"), chat_id, after, limit + 1)
    if not rows and timeout > 0:
        waiter = PollWaiter(hub, account_id, only_chat=chat_id)
        try:
            await attach(pool, hub, waiter, {chat_id: after}, only_chat=chat_id)
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
            hub.unregister(waiter)
        new = [e.obj["message"] for e in waiter.events if e.type == "new_message"]
        return web.json_response({"success": True, "messages": new, "has_more": False})
    return web.json_response({
        "success": True, "messages": [message_json(r) for r in rows[:limit]], "has_more": len(rows) > limit,
    })

