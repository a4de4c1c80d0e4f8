"""What visitors see of the staff: whether anyone is online, an email for replies, the link back from one."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ..db import pool_key, q
from ..domain.availability import availability_key
from ..domain.model import account_json
from ..domain.offline_mail import links_key, read_continue_token
from ..errors import BadInput, NotFound
from ..http.auth import require_account, rotate_session
from ..http.validate import json_body
from ..settings import settings_key

routes = web.RouteTableDef()

# deliberately loose: the address is the visitor's to get right; this only keeps out what cannot be one
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def ok(body: dict[str, Any]) -> web.Response:
    return web.json_response({"success": True, **body})


@routes.get("/webchat/availability")
async def availability(request: web.Request) -> web.Response:
    """No session needed: the launcher asks before a conversation exists."""
    return ok({"online": await request.app[availability_key].online() > 0})


@routes.post("/webchat/contact")
async def contact(request: web.Request) -> web.Response:
    """A visitor's email, for replies that come while they are away (or null to forget it)."""
    account = await require_account(request)
    body = await json_body(request)
    email = body.get("email")
    if email is not None and (not isinstance(email, str) or len(email) > 320 or not EMAIL.fullmatch(email.strip())):
        raise BadInput("email must be an email address (or null)")
    row = await request.app[pool_key].fetchrow(q("visitor_email"), account["id"],
                                               email.strip() if isinstance(email, str) else None)
    if row is None:
        raise BadInput("only visitors leave an email here")
    return ok({"account": account_json(row)})


@routes.get("/webchat/continue")
async def continue_conversation(request: web.Request) -> web.StreamResponse:
    """The link in an offline email: this browser becomes the visitor again, in the conversation."""
    found = read_continue_token(request.app[links_key], request.query.get("t", ""))
    if found is None:
        raise NotFound("link (it may have expired: links in emails work for 7 days)")
    visitor_id, chat_id = found
    pool = request.app[pool_key]
    kind = await pool.fetchval(q("continue_check"), visitor_id, chat_id)
    if kind is None:
        raise NotFound("conversation")
    if kind == "guest":
        # a guest has no other way back in; a signed-in visitor signs in on the site as usual (an
        # email link must not stand in for the site's own sign-in)
        await rotate_session(request, visitor_id)
    target = request.app[settings_key].smtp_continue_url or f"{request.app[settings_key].base_url}/"
    raise web.HTTPSeeOther(f"{target}#webchat-chat={chat_id}")
