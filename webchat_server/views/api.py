"""The JSON REST API under /webchat/."""

from __future__ import annotations

from typing import Any

import aiohttp_session
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from ..db import pool_key, q
from ..domain import chats, messages, reactions, staff, voice
from ..domain import media as media_store
from ..domain.limits import Charge, limits_key
from ..domain.media import Upload, sniff
from ..domain.model import account_json
from ..domain.sending import send_queue_key
from ..errors import BadInput, NotFound, TooLarge, error_response
from ..http.auth import require_account, session_account, session_claim
from ..http.openapi import document
from ..http.proxies import address_key
from ..http.validate import client_id, json_body, opt_bool, opt_id, opt_int, opt_seq, opt_text, req_id
from ..presence.running import presence_of
from ..realtime.kinds.typing import send_typing
from ..settings import settings_key

routes = web.RouteTableDef()


def _charge(request: web.Request, account_id: int, **costs: float) -> Charge:
    """The rate-limit buckets a write from this request pays into (its account and client address)."""
    return request.app[limits_key].charge(account_id, address_key(request.remote), **costs)


def ok(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"success": True, **body}, status=status)


@routes.get("/webchat/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    # built from the settings, so the limits it states (text length, poll timeout) are this server's
    return web.json_response(document(request.app[settings_key]), headers={"Cache-Control": "no-cache"})


@routes.get("/webchat/me")
async def me(request: web.Request) -> web.Response:
    account = await session_account(request, create=True)
    assert account is not None
    session = await aiohttp_session.get_session(request)
    settings = request.app[settings_key]
    return ok({
        "account": account_json(account),
        "csrf_token": session["csrf"],
        "identify_enabled": bool(settings.identity_secret),
        "limits": {"max_text_chars": settings.max_text_chars, "max_media_bytes": settings.max_media_bytes,
                   "max_voice_seconds": settings.max_voice_seconds},
    })


@routes.patch("/webchat/me")
async def me_update(request: web.Request) -> web.Response:
    """The account's own settings; today whether it shares its read receipts."""
    account = await require_account(request)
    body = await json_body(request)
    share = opt_bool(body.get("share_read_receipts"), "share_read_receipts")
    if share is not None:
        row = await request.app[pool_key].fetchrow(q("account_set_share_read_receipts"), account["id"], share)
        if row is not None:
            account = dict(row)
    return ok({"account": account_json(account)})


async def _read_send_form(request: web.Request, max_media: int) -> tuple[dict[str, Any], Upload | None]:
    """The multipart form of a send. The reader awaits the stream, so a body split over many TCP
    segments is read whole; a form without a boundary, with a wrong one or cut short is a 400."""
    try:
        return await _read_parts(request, max_media)
    except (HttpProcessingError, ValueError, AssertionError, KeyError, RuntimeError) as e:
        # what aiohttp's MultipartReader raises on malformed input (missing/invalid boundary,
        # a part that ends before its closing delimiter, bad headers)
        raise BadInput(f"malformed multipart body: {e}") from None


async def _read_parts(request: web.Request, max_media: int) -> tuple[dict[str, Any], Upload | None]:
    reader = await request.multipart()
    fields: dict[str, Any] = {}
    upload = None
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise BadInput("nested multipart is not supported")
        if part.name == "media":
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data.extend(chunk)
                if len(data) > max_media:
                    raise TooLarge(f"media is larger than {max_media} bytes")
            upload = sniff(bytes(data), max_media)
        elif part.name in ("text", "chat_id", "client_id", "reply_to", "internal", "page_title",
                           "duration_ms", "waveform"):
            raw = bytearray()
            while chunk := await part.read_chunk(16 * 1024):
                raw.extend(chunk)
                if len(raw) > 64 * 1024:
                    raise TooLarge(f"{part.name} is too large")
            try:
                fields[part.name] = raw.decode()
            except UnicodeDecodeError:
                raise BadInput(f"{part.name} is not UTF-8") from None
        else:
            await part.release()  # unknown fields are ignored, as in JSON bodies
    return fields, upload


@routes.post("/webchat/send/")
async def send(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    # a JSON send checks its session inside its one database statement; an upload checks it before
    # its body is read
    claim = None if request.content_type.startswith("multipart/") else await session_claim(request)
    agent = None
    if claim is None or (await aiohttp_session.get_session(request)).get("agent"):
        # an upload, an old cookie, or an agent: the account is read first (an agent's send may
        # first join the conversation)
        account = await require_account(request)
        claim = None
        agent = account if account["kind"] == "agent" else None
    account_id, sid = claim if claim is not None else (account["id"], None)
    if request.content_type.startswith("multipart/"):
        if request.content_length is not None and request.content_length > settings.max_media_bytes + 256 * 1024:
            raise TooLarge(f"media is larger than {settings.max_media_bytes} bytes")
        body, upload = await _read_send_form(request, settings.max_media_bytes)
        if upload is not None:
            upload = voice.examine(upload, body, settings.max_voice_seconds)
    else:
        body, upload = await json_body(request), None
    text = opt_text(body.get("text"), "text", settings.max_text_chars) or ""
    if not text and upload is None:
        raise BadInput("text or media is required")
    chat_id = opt_id(body.get("chat_id"), "chat_id")
    internal = bool(opt_bool(body.get("internal"), "internal"))
    # the title of the page a new conversation starts on (only a browser knows it), for the inbox
    page_title = opt_text(body.get("page_title"), "page_title", staff.MAX_PAGE_TITLE_IN)
    if agent is not None and chat_id is not None:
        if internal:
            if upload is not None:
                raise BadInput("an internal note is text only")
            async with _charge(request, account_id, sends=1).paid():
                note, created = await staff.send_note(
                    request.app[pool_key], account_id, chat_id, text, client_id(body.get("client_id")),
                    opt_id(body.get("reply_to"), "reply_to"))
            return ok({"chat_id": chat_id, "message": note, "duplicate": not created},
                      status=201 if created else 200)
        await staff.before_reply(request.app[pool_key], account_id, chat_id, opt_id(body.get("reply_to"), "reply_to"))
    elif internal:
        # only agents write notes, and only in visitor conversations
        raise NotFound()
    cost = _charge(request, account_id, sends=1, chats=chat_id is None,
                   upload_bytes=len(upload.data) if upload else 0)
    message, created = await messages.send(
        request.app[send_queue_key],
        account_id,
        chat_id=chat_id,
        text=text,
        client_id=client_id(body.get("client_id")),
        reply_to=opt_id(body.get("reply_to"), "reply_to"),
        upload=upload,
        charge=cost,
        session=sid,
    )
    if created and chat_id is None and agent is None:
        # a visitor's new conversation: where it started, for the agents' inbox (one small write
        # per new chat; a chat made by SQL has none)
        await staff.remember_context(request.app[pool_key], message["chat_id"], staff.request_context(
            request.headers.get("Referer"), request.headers.get("Accept-Language"),
            request.headers.get("User-Agent"), page_title))
    return ok({"chat_id": message["chat_id"], "message": message, "duplicate": not created},
              status=201 if created else 200)


@routes.get("/webchat/messages/")
async def message_list(request: web.Request) -> web.Response:
    account = await require_account(request)
    query = request.query
    chat_id = req_id(query.get("chat_id"), "chat_id")
    items, has_more = await messages.page(
        request.app[pool_key],
        account["id"],
        chat_id,
        limit=opt_int(query.get("limit"), "limit", 1, 200, 50),
        before=opt_seq(query.get("before"), "before"),
        after=opt_seq(query.get("after"), "after"),
        agent=account["kind"] == "agent",
    )
    return ok({"chat_id": chat_id, "messages": items, "has_more": has_more})


@routes.patch(r"/webchat/messages/{message_id}/")
async def message_edit(request: web.Request) -> web.Response:
    account = await require_account(request)
    message_id = req_id(request.match_info["message_id"], "message_id")
    body = await json_body(request)
    text = opt_text(body.get("text"), "text", request.app[settings_key].max_text_chars)
    if not text:
        raise BadInput("text is required (delete the message to remove it)")
    message = await messages.edit(request.app[pool_key], account["id"], message_id, text,
                                  _charge(request, account["id"], edits=1))
    return ok({"message": message})


@routes.delete(r"/webchat/messages/{message_id}/")
async def message_delete(request: web.Request) -> web.Response:
    account = await require_account(request)
    message_id = req_id(request.match_info["message_id"], "message_id")
    message = await messages.delete(request.app[pool_key], account["id"], message_id,
                                    _charge(request, account["id"], edits=1))
    return ok({"message": message})


@routes.put(r"/webchat/messages/{message_id}/reactions/{emoji}")
async def reaction_add(request: web.Request) -> web.Response:
    account = await require_account(request)
    message_id = req_id(request.match_info["message_id"], "message_id")
    message, added = await reactions.add(request.app[pool_key], account["id"], message_id,
                                         request.match_info["emoji"], _charge(request, account["id"], reactions=1))
    return ok({"message": message}, status=201 if added else 200)


@routes.delete(r"/webchat/messages/{message_id}/reactions/{emoji}")
async def reaction_remove(request: web.Request) -> web.Response:
    account = await require_account(request)
    message_id = req_id(request.match_info["message_id"], "message_id")
    await reactions.remove(request.app[pool_key], account["id"], message_id, request.match_info["emoji"],
                           _charge(request, account["id"], reactions=1))
    return web.Response(status=204)


@routes.get("/webchat/chats/")
async def chat_list(request: web.Request) -> web.Response:
    account = await require_account(request)
    return ok({"chats": await chats.list_chats(request.app[pool_key], account["id"], presence_of(request.app))})


@routes.post("/webchat/chats/")
async def chat_create(request: web.Request) -> web.Response:
    account = await require_account(request)
    body = await json_body(request)
    title = opt_text(body.get("title"), "title", request.app[settings_key].max_title_chars) or "New chat"
    chat = await chats.create_chat(request.app[pool_key], account["id"], title,
                                   _charge(request, account["id"], chats=1))
    return ok({"chat": chat}, status=201)


@routes.get(r"/webchat/chats/{chat_id}/")
async def chat_get(request: web.Request) -> web.Response:
    account = await require_account(request)
    chat_id = req_id(request.match_info["chat_id"], "chat_id")
    return ok({"chat": await chats.get_chat(request.app[pool_key], account["id"], chat_id, presence_of(request.app))})


@routes.patch(r"/webchat/chats/{chat_id}/")
async def chat_update(request: web.Request) -> web.Response:
    account = await require_account(request)
    chat_id = req_id(request.match_info["chat_id"], "chat_id")
    body = await json_body(request)
    title = opt_text(body.get("title"), "title", request.app[settings_key].max_title_chars)
    if title == "":
        raise BadInput("title must not be empty")
    archived = opt_bool(body.get("is_archived"), "is_archived")
    chat = await chats.update_chat(request.app[pool_key], account["id"], chat_id, title, archived)
    return ok({"chat": chat})


@routes.delete(r"/webchat/chats/{chat_id}/")
async def chat_delete(request: web.Request) -> web.Response:
    account = await require_account(request)
    chat_id = req_id(request.match_info["chat_id"], "chat_id")
    hard = bool(opt_bool(request.query.get("hard"), "hard"))
    chat = await chats.delete_chat(request.app[pool_key], account["id"], chat_id, hard)
    return ok({"chat": chat, "deleted": hard})


@routes.post("/webchat/read/")
async def read(request: web.Request) -> web.Response:
    account = await require_account(request)
    body = await json_body(request)
    chat_id = req_id(body.get("chat_id"), "chat_id")
    seq = opt_seq(body.get("seq"), "seq")
    if seq is None:
        raise BadInput("seq is required")
    last_read = await messages.mark_read(request.app[pool_key], account["id"], chat_id, seq)
    return ok({"chat_id": chat_id, "last_read_seq": last_read})


@routes.post("/webchat/typing/")
async def typing(request: web.Request) -> web.Response:
    account = await require_account(request)
    body = await json_body(request)
    chat_id = req_id(body.get("chat_id"), "chat_id")
    is_typing = opt_bool(body.get("is_typing", True), "is_typing")
    sent = await send_typing(request.app, account["id"], chat_id, bool(is_typing))
    return ok({"sent": sent})


@routes.get(r"/webchat/media/{media_id}")
async def media(request: web.Request) -> web.Response:
    account = await require_account(request)
    media_id = req_id(request.match_info["media_id"], "media_id")
    content_type, data = await media_store.get(request.app[pool_key], account["id"], media_id)
    headers = {
        "Cache-Control": "private, max-age=86400",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        # players seek in a recording by asking for byte ranges (Safari plays audio only so)
        "Accept-Ranges": "bytes",
    }
    span = media_store.byte_range(request.headers.get("Range"), len(data))
    if span is None:
        return web.Response(body=data, content_type=content_type, headers=headers)
    start, end = span
    if start >= len(data):
        refused = error_response(416, "range_not_satisfiable", f"the file has {len(data)} bytes")
        refused.headers["Content-Range"] = f"bytes */{len(data)}"
        return refused
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return web.Response(status=206, body=data[start:end + 1], content_type=content_type, headers=headers)
