"""Signing in and out: identify with the embedding site's token, logout, the demo token endpoint."""

from __future__ import annotations

from typing import Any

import aiohttp_session
from aiohttp import web

from ..db import pool_key
from ..domain import accounts, staff
from ..domain.identity import (
    MAX_USER_ID_CHARS,
    Identity,
    Refused,
    check_legacy_signature,
    issue_token,
    verify_token,
)
from ..domain.model import account_json
from ..errors import ApiError, BadInput
from ..http.auth import new_guest, require_account, rotate_session
from ..http.validate import json_body, opt_text
from ..settings import settings_key

routes = web.RouteTableDef()

# a demo token is used by the page right after it is issued
DEMO_TOKEN_LIFETIME = 300


def ok(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"success": True, **body}, status=status)


@routes.post("/webchat/identify")
async def identify(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    body = await json_body(request)
    secret = settings.identity_secret
    if not secret:
        raise Refused("identify is disabled (WEBCHAT_IDENTITY_SECRET is not set)", "identify_disabled")
    token = body.get("token")
    if token is None and "signature" in body:
        who = _legacy_identity(body, secret, settings.legacy_identify, settings.max_name_chars)
    elif not isinstance(token, str) or not token:
        raise BadInput("token is required (a JWT signed by the embedding site's backend)")
    else:
        who = verify_token(secret, token, settings.max_name_chars)
    guest = await require_account(request)
    if who.role == "agent":
        return await agent_session(request, await staff.sign_in(request.app[pool_key], who))
    user = await accounts.identify(request.app[pool_key], guest, who)
    csrf = await rotate_session(request, user["id"])
    return ok({"account": account_json(user), "csrf_token": csrf})


async def agent_session(request: web.Request, agent: dict[str, Any]) -> web.Response:
    """Switch the session to an agent (a new session id and CSRF token, as any sign-in)."""
    csrf = await rotate_session(request, agent["id"])
    # lets a send know it comes from an agent without reading the account first; the database
    # still decides (domain/staff.py checks the kind before an agent's write)
    (await aiohttp_session.get_session(request))["agent"] = True
    return ok({"account": account_json(agent), "csrf_token": csrf})


@routes.post("/webchat/agent/signin")
async def agent_signin(request: web.Request) -> web.Response:
    """A one-time sign-in link's secret (from `webchat-server agent add`) for this session."""
    body = await json_body(request)
    token = body.get("token")
    if not isinstance(token, str) or not token or len(token) > 200:
        raise BadInput("token is required (the secret after #signin= in the sign-in link)")
    agent = await staff.use_signin(request.app[pool_key], token)
    if agent is None:
        raise Refused("this sign-in link is unknown, already used or expired: make a new one with "
                      "`webchat-server agent add`", "bad_signin_link")
    return await agent_session(request, agent)


def _legacy_identity(body: dict[str, Any], secret: str, enabled: bool, max_name: int) -> Identity:
    if not enabled:
        raise Refused("the {user_id, name, signature} form is disabled; send {token} (see the README)",
                      "legacy_identify_disabled")
    user_id = opt_text(body.get("user_id"), "user_id", MAX_USER_ID_CHARS)
    signature = opt_text(body.get("signature"), "signature", 128)
    name = opt_text(body.get("name"), "name", max_name) or ""
    if not user_id or not signature:
        raise BadInput("user_id and signature are required")
    check_legacy_signature(secret, user_id, signature)
    return Identity(user_id=user_id, name=name or user_id)


@routes.post("/webchat/logout")
async def logout(request: web.Request) -> web.Response:
    """The session becomes a new guest under a new session id and CSRF token; the old id is refused."""
    guest = await new_guest(request)
    csrf = await rotate_session(request, guest["id"])
    return ok({"account": account_json(guest), "csrf_token": csrf})


@routes.post("/webchat/demo/token")
async def demo_token(request: web.Request) -> web.Response:
    """Only under `serve --demo`: a short-lived token for any name, as an embedding site would issue."""
    settings = request.app[settings_key]
    if not settings.demo or not settings.identity_secret:
        raise ApiError(404, "not found (the demo token endpoint exists only under `serve --demo`)")
    body = await json_body(request)
    name = opt_text(body.get("name"), "name", settings.max_name_chars)
    if not name:
        raise BadInput("name is required")
    token = issue_token(settings.identity_secret, f"demo:{name.lower()}", name, DEMO_TOKEN_LIFETIME)
    return ok({"token": token})
