"""The agents' API: the inbox of visitor conversations, assignment, status, handoff (agents only)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..db import pool_key, q
from ..domain import staff
from ..domain.model import account_json
from ..errors import BadInput, NotFound
from ..http.auth import session_account
from ..http.validate import json_body, opt_int, req_id

routes = web.RouteTableDef()
# more agents than this is not a site this inbox is made for; the list stays one small answer
AGENTS_LISTED = 500


def ok(body: dict[str, Any]) -> web.Response:
    return web.json_response({"success": True, **body})


async def require_agent(request: web.Request) -> dict[str, Any]:
    """The session's agent. Anyone else (no session, a guest, a signed-in visitor) gets 404: the
    inbox does not exist for them."""
    account = await session_account(request)
    if account is None or account["kind"] != "agent":
        raise NotFound("inbox")
    return account


def _choice(value: Any, name: str, allowed: tuple[str, ...] | list[str], default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise BadInput(f"{name} must be one of: {', '.join(allowed)}")
    return value


@routes.get("/webchat/inbox/")
async def inbox(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    query = request.query
    status = _choice(query.get("status"), "status", staff.STATUSES, "open")
    assignee = _choice(query.get("assignee"), "assignee", list(staff.ASSIGNEES), "any")
    items, more, next_before = await staff.inbox(
        request.app[pool_key], agent["id"], status, assignee, staff.parse_before(query.get("before")),
        opt_int(query.get("limit"), "limit", 1, 100, 50))
    return ok({"conversations": items, "has_more": more, "next_before": next_before})


@routes.get(r"/webchat/inbox/{chat_id}/")
async def conversation(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    chat_id = req_id(request.match_info["chat_id"], "chat_id")
    return ok({"conversation": await staff.conversation(request.app[pool_key], agent["id"], chat_id)})


@routes.post(r"/webchat/inbox/{chat_id}/assign")
async def assign(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    chat_id = req_id(request.match_info["chat_id"], "chat_id")
    body = await json_body(request)
    if "agent_id" not in body:
        raise BadInput('agent_id is required: an agent\'s id, "me", or null to unassign')
    raw = body["agent_id"]
    target = agent["id"] if raw == "me" else None if raw is None else req_id(raw, "agent_id")
    return ok({"conversation": await staff.assign(request.app[pool_key], agent["id"], chat_id, target)})


@routes.post(r"/webchat/inbox/{chat_id}/status")
async def status(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    chat_id = req_id(request.match_info["chat_id"], "chat_id")
    body = await json_body(request)
    value = _choice(body.get("status"), "status", staff.STATUSES)
    return ok({"conversation": await staff.set_status(request.app[pool_key], agent["id"], chat_id, value)})


@routes.post(r"/webchat/inbox/{chat_id}/automation")
async def automation(request: web.Request) -> web.Response:
    """Hand the conversation back to the bot ("bot"), or take it from the bot ("human")."""
    agent = await require_agent(request)
    chat_id = req_id(request.match_info["chat_id"], "chat_id")
    body = await json_body(request)
    value = _choice(body.get("automation"), "automation", staff.AUTOMATION)
    return ok({"conversation": await staff.set_automation(request.app[pool_key], agent["id"], chat_id, value)})


@routes.get("/webchat/agents/")
async def agents(request: web.Request) -> web.Response:
    """Agents only: the site's agents, for "hand over to" in the inbox."""
    await require_agent(request)
    rows = await request.app[pool_key].fetch(q("agents_list"), AGENTS_LISTED)
    return ok({"agents": [account_json(r) for r in rows]})
