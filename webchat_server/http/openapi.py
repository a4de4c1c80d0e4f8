"""The OpenAPI 3.1 document of the whole HTTP API, served at /webchat/openapi.json and kept true by tests."""

from __future__ import annotations

from typing import Any

from ..domain.media import ALLOWED, SERVE_AS
from ..domain.model import MESSAGE_FIELDS
from ..domain.staff import MAX_PAGE_TITLE, MAX_PAGE_TITLE_IN
from ..realtime.cursor import MAX_CURSOR_CHARS
from ..realtime.events import SERVER_EVENTS
from ..realtime.kinds import KINDS
from ..settings import Settings

MAX_ID = 2**63 - 1
JSON = "application/json"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None,
         description: str | None = None) -> Schema:
    """An object with these properties. Extra properties are allowed: adding a field is not a
    breaking change (Stripe's and GitHub's rule), so clients must ignore fields they do not know."""
    schema: Schema = {"type": "object", "required": list(required),
                      "properties": {**required, **(optional or {})}}
    if description:
        schema["description"] = description
    return schema


def _ok(**fields: Schema) -> Schema:
    return _obj({"success": {"const": True}, **fields})


ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
SEQ: Schema = {"type": "integer", "minimum": 0}
TIME: Schema = {"type": "string", "format": "date-time"}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}


def _schemas(settings: Settings) -> dict[str, Schema]:
    message = _obj(dict(MESSAGE_FIELDS))
    chat = _obj({
        "id": ID, "title": STR, "is_archived": BOOL, "archived_at": _nullable(TIME), "last_seq": SEQ,
        "last_message": _nullable(_ref("Message")), "updated_at": TIME, "created_at": TIME,
        "created_by": _nullable(ID),
    }, {"unread_count": {"type": "integer", "minimum": 0}, "last_read_seq": SEQ,
        # in the chat list and a chat's own answers; not in an inbox conversation's chat
        "members": {"type": "array", "items": _ref("Member")}})
    presence = _obj({"status": {"enum": ["online", "away", "offline"]}, "last_seen_at": _nullable(TIME)},
                    description="`online`: connected and active in the last 2 minutes; `away`: connected "
                                "but idle or hidden; `offline`: not connected (`last_seen_at` is when it "
                                "last was, to within a minute). Always `offline` when presence is off.")
    member = _obj({"account_id": ID, "display_name": STR, "kind": {"enum": ["guest", "user", "bot", "agent"]},
                   "last_read_seq": _nullable(SEQ), "presence": _ref("Presence")},
                  {"avatar_url": STR},
                  description="A member of a chat. `last_read_seq` is null when that member does not "
                              "share read receipts (a member always sees its own).")
    account = _obj({"id": ID, "kind": {"enum": ["guest", "user", "bot", "agent"]}, "display_name": STR,
                    "external_id": _nullable(STR)},
                   {"email": _nullable(STR), "avatar": _nullable(STR), "share_read_receipts": BOOL})
    error = _obj({
        "success": {"const": False},
        "error": _obj({"code": STR, "message": STR},
                      {"retry_after": {"type": "integer", "minimum": 1}}),
    }, description="Every failure: a stable machine-readable `code` and a human `message`.")
    # the server's own event types, then each registered kind's
    types = list(dict.fromkeys([*SERVER_EVENTS, *(t for kind in KINDS.values() for t in kind.events)]))
    event = _obj({"type": {"enum": types}, "chat_id": _nullable(ID)}, {"cursor": STR},
                 description="A WebSocket frame / long-poll event; see README 'Events' for each type.")
    health = _obj({"status": {"enum": ["ok", "degraded", "draining"]}, "database": STR,
                   "listener": {"enum": ["ok", "connected", "down"]}},
                  {"last_probe_age_s": _nullable({"type": "number"}), "listener_reconnects": {"type": "integer"},
                   "proxy_warning": {"type": "string", "description": "Requests with forwarding headers came "
                                     "from a peer not in WEBCHAT_TRUSTED_PROXIES within the last hour: what "
                                     "that breaks and what to set."}})
    conversation = _obj({
        "chat": _ref("Chat"),
        "visitor": _obj({"account_id": ID, "display_name": STR, "kind": {"enum": ["guest", "user"]},
                         "first_seen": TIME, "other_conversations": {"type": "array", "items": ID}},
                        {"email": STR}),
        "assignee_id": _nullable(ID), "status": {"enum": ["open", "resolved"]},
        "automation": {"enum": ["bot", "human"]}, "unread_count": {"type": "integer", "minimum": 0},
        "last_message": _nullable(_ref("Message")),
        "context": _obj({}, {"url": STR, "title": STR, "language": STR, "user_agent": STR},
                        description="Where the conversation started, from its first send: the page's URL (its "
                                    "Referer), the page's title (the widget's `page_title`), the first preferred "
                                    "language, the browser. Each is optional; a chat made by SQL has none."),
    }, description="A visitor conversation as agents see it (README 'Answer your visitors').")
    return {
        "Conversation": conversation,
        "Inbox": _ok(conversations={"type": "array", "items": _ref("Conversation")}, has_more=BOOL,
                     next_before=_nullable(STR)),
        "ConversationResult": _ok(conversation=_ref("Conversation")),
        "Agents": _ok(agents={"type": "array", "items": _ref("Account")}),
        "Availability": _ok(online=BOOL),
        "AccountResult": _ok(account=_ref("Account")),
        "Message": message, "Chat": chat, "Member": member, "Presence": presence,
        "Account": account, "Error": error, "Event": event, "Health": health,
        "Me": _ok(account=_ref("Account"), csrf_token=STR, identify_enabled=BOOL, limits=_obj(
            {"max_text_chars": {"type": "integer"}, "max_media_bytes": {"type": "integer"},
             "max_voice_seconds": {"type": "integer"}})),
        "Session": _ok(account=_ref("Account"), csrf_token=STR),
        "SendResult": _ok(chat_id=ID, message=_ref("Message"), duplicate=BOOL),
        "MessageResult": _ok(message=_ref("Message")),
        "MessagePage": _ok(chat_id=ID, messages={"type": "array", "items": _ref("Message")}, has_more=BOOL),
        "ChatResult": _ok(chat=_ref("Chat")),
        "ChatList": _ok(chats={"type": "array", "items": _ref("Chat")}),
        "ChatDeleted": _ok(chat=_nullable(_ref("Chat")), deleted=BOOL),
        "ReadResult": _ok(chat_id=ID, last_read_seq=SEQ),
        "TypingResult": _ok(sent=BOOL),
        "PollResult": _ok(cursor=_nullable(STR), events={"type": "array", "items": _ref("Event")}),
        "SeedPollResult": _ok(messages={"type": "array", "items": _ref("Message")}, has_more=BOOL),
        "DemoToken": _ok(token=STR),
    }


ERRORS = {
    400: "Bad input: a field is missing, of the wrong type or out of range; malformed JSON or multipart.",
    401: "No session: call `GET /webchat/me` first.",
    403: "CSRF token or Origin refused, identity token refused, or not yours to change.",
    404: "Not found, or a chat you are not a member of (existence is not leaked).",
    408: "The request body did not arrive within the body timeout (WEBCHAT_BODY_TIMEOUT).",
    409: "Conflict with the stored state (message deleted, client_id reused, inconsistent data).",
    413: "Body, text or media larger than its cap.",
    416: "A `Range` that starts past the end of the file (`Content-Range: bytes */size` gives its size).",
    415: "Media that is neither a supported image nor audio, or a compressed request body "
         "(`Content-Encoding` other than `identity`: request bodies are read as sent, never inflated).",
    429: "Over a rate limit; `Retry-After` says how many seconds to wait.",
    503: "The database is unreachable (or the process is draining); `Retry-After` says when to try again.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                               "schema": {"type": "integer", "minimum": 1}}}


def _responses(ok_status: int | dict[int, str], ok_schema: str | None, *errors: int,
               content: dict[str, Schema] | None = None) -> dict[str, Any]:
    oks = ok_status if isinstance(ok_status, dict) else {ok_status: "OK"}
    out: dict[str, Any] = {}
    for status, description in oks.items():
        body = content if content is not None else {JSON: {"schema": _ref(ok_schema)}} if ok_schema else None
        out[str(status)] = {"description": description, **({"content": body} if body else {})}
    for status in sorted(errors):
        response: dict[str, Any] = {"description": ERRORS[status],
                                    "content": {JSON: {"schema": _ref("Error")}}}
        if status in (429, 503):
            response["headers"] = RETRY_AFTER
        out[str(status)] = response
    return out


def _json_body(schema: Schema, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _query(name: str, schema: Schema, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


# a read of the signed-in session; writes add CSRF (403), body timeout (408) and caps (413), rate limits (429)
READ = (400, 401, 503)
WRITE = (400, 401, 403, 408, 413, 415, 429, 503)


def document(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings()
    text = {"type": "string", "maxLength": settings.max_text_chars}
    title = {"type": "string", "maxLength": settings.max_title_chars}
    client_id = {"type": ["string", "null"], "maxLength": 100, "pattern": "^[A-Za-z0-9_.:-]*$"}
    timeout = {"type": "number", "minimum": 0, "maximum": settings.poll_max_timeout}
    # longer URL cursors are refused by the route (400 JSON): bigger cursors go in a POST body
    cursor = {"type": "string", "maxLength": MAX_CURSOR_CHARS, "pattern": "^[\\x20-\\x7e]*$",
              "description": f"Opaque per-chat tokens joined with commas (README 'Cursors and guarantees'): "
                             f"printable ASCII, at most {MAX_CURSOR_CHARS} bytes in a URL; one that does not fit "
                             "goes in the body of POST /webchat/poll/."}
    send_fields: dict[str, Schema] = {
        "text": text, "chat_id": _nullable(ID), "client_id": client_id, "reply_to": _nullable(ID),
        "internal": {"type": "boolean", "description": "agents only: an internal note, never shown to the visitor"},
        "page_title": {"type": "string", "maxLength": MAX_PAGE_TITLE_IN,
                       "description": "the title of the page the visitor writes from; kept (NFC, one line, "
                                      f"its first {MAX_PAGE_TITLE} characters) only by the send that starts a "
                                      "conversation, as `context.title` for the agents' inbox"}}
    voice_fields: dict[str, Schema] = {
        "duration_ms": {"type": "integer", "minimum": 1, "description": (
            "a voice note: its length as the recorder measured it; checked against the container's where "
            f"the server can read it (Ogg, MP4, MP3, WAV, FLAC; not WebM), at most {settings.max_voice_seconds} s")},
        "waveform": {"type": "string", "description": "a voice note: a JSON array of at most 128 integers 0-255, "
                                                      "its loudness across the recording"}}
    media_types = sorted({SERVE_AS.get(m, m) for m in ALLOWED})
    sends = {JSON: {"schema": _obj({"text": {**text, "minLength": 1, "pattern": "\\S"}},
                                   {k: v for k, v in send_fields.items() if k != "text"})},
             # multipart: text, media or both
             "multipart/form-data": {"schema": _obj({}, {**send_fields, **voice_fields, "chat_id": ID, "reply_to": ID,
                                                         "media": {"type": "string",
                                                                   "contentMediaType": "application/octet-stream"}}),
                                     "encoding": {"media": {"contentType": "application/octet-stream"}}}}
    cookie: list[dict[str, list[str]]] = [{"session": []}]
    write: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]
    paths: dict[str, Any] = {
        "/webchat/me": {"get": {
            "operationId": "me", "summary": "The session's account and CSRF token; a first visit creates a guest.",
            "security": [{}, {"session": []}], "responses": _responses(200, "Me", 429, 503)},
            "patch": {
                "operationId": "meUpdate", "security": write,
                "summary": "Change the account's own settings.",
                "description": "`share_read_receipts: false` stops sharing read receipts: the other members "
                               "of its chats then get no `read` events for it, see `last_read_seq: null` "
                               "for it in `members` and show no \"Seen\" for it. Omitted fields stay.",
                "requestBody": _json_body(_obj({}, {"share_read_receipts": BOOL})),
                "responses": _responses(200, "AccountResult", *WRITE)}},
        "/webchat/identify": {"post": {
            "operationId": "identify", "security": write,
            "summary": "Sign the session in with a token (JWT HS256) issued by the embedding site's backend.",
            "description": "Rotates the session id and the CSRF token. A token signs in once (403 "
                           "`token_used` the second time); limited per account and address "
                           "(`session_changes`). The `{user_id, name, signature}` "
                           "form is legacy, accepted only when enabled by setting.",
            "requestBody": _json_body({"anyOf": [
                _obj({"token": {"type": "string", "maxLength": 8192}}),
                _obj({"user_id": STR, "signature": STR}, {"name": STR}),
            ]}),
            "responses": _responses(200, "Session", *WRITE)}},
        "/webchat/logout": {"post": {
            "operationId": "logout", "security": write,
            "summary": "The session becomes a fresh guest, with a new session cookie and CSRF token.",
            "responses": _responses(200, "Session", 401, 403, 429, 503)}},
        "/webchat/demo/token": {"post": {
            "operationId": "demoToken", "security": write,
            "summary": "Only under `serve --demo`: a short-lived identify token for any name (404 otherwise).",
            "requestBody": _json_body(_obj({"name": {"type": "string",
                                                     "maxLength": settings.max_name_chars}})),
            "responses": _responses(200, "DemoToken", 404, *WRITE)}},
        "/webchat/send/": {"post": {
            "operationId": "send", "security": write,
            "summary": "Store a message (idempotent by client_id); without chat_id a new chat is created.",
            "description": "A repeated `client_id` is answered 200 with the first message and `duplicate: true`, "
                           "also when the retries arrive at once or at different server processes, and also "
                           "for a send that created a chat (retried without `chat_id`). The same `client_id` "
                           "with another `chat_id` is a 409. Sends that arrive while another batch commits are "
                           "stored together in one transaction (group commit), but each is judged on its own: "
                           "one send's 404, 409, 400 or 429 never fails another's. A 429 names the `limit` "
                           "(e.g. `sends_per_address`, which for IPv6 counts the client's /64 and its wider "
                           "/56 and /48) and says in `Retry-After` how long until it can pay.",
            "requestBody": {"required": True, "content": sends},
            "responses": _responses({201: "Stored", 200: "A repeated client_id: the first message"},
                                    "SendResult", 404, 409, 415, *WRITE)}},
        "/webchat/availability": {"get": {
            "operationId": "availability", "security": [{}],
            "summary": "Whether an agent is online now (the launcher's \"We're online\" / \"We'll reply by email\").",
            "responses": _responses(200, "Availability", 429, 503)}},
        "/webchat/contact": {"post": {
            "operationId": "contact", "security": write,
            "summary": "A visitor leaves an email (or null to forget it): an agent's replies that stay unread "
                       "are emailed to it.",
            "requestBody": _json_body(_obj({"email": _nullable({"type": "string", "maxLength": 320})})),
            "responses": _responses(200, "AccountResult", *WRITE)}},
        "/webchat/continue": {"get": {
            "operationId": "continueConversation", "security": [{}],
            "summary": "The link in an offline email: a guest's browser becomes that guest again, then goes "
                       "to the conversation (303).",
            "parameters": [_query("t", {"type": "string", "maxLength": 2000}, "the link's token", required=True)],
            "responses": _responses({303: "To the page with the chat, `#webchat-chat=<id>`; a 404 for an "
                                          "unknown, altered or expired link (7 days)"}, None, 400, 404, 429, 503)}},
        "/webchat/agent/signin": {"post": {
            "operationId": "agentSignin", "security": write,
            "summary": "Sign the session in as an agent with the secret of a one-time link from "
                       "`webchat-server agent add` (the part after `#signin=`).",
            "requestBody": _json_body(_obj({"token": {"type": "string", "maxLength": 200}})),
            "responses": _responses(200, "Session", *WRITE)}},
        "/webchat/inbox/": {"get": {
            "operationId": "inbox", "security": cookie,
            "summary": "Agents only (404 for anyone else): visitor conversations, newest activity first.",
            "parameters": [_query("status", {"enum": ["open", "resolved"]}, "open (default) or resolved"),
                           _query("assignee", {"enum": ["me", "none", "any"]},
                                  "mine, unassigned, or any (default)"),
                           _query("before", {"type": "string", "maxLength": 40},
                                  "next_before of the previous page"),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size (50)")],
            "responses": _responses(200, "Inbox", 404, *READ)}},
        "/webchat/agents/": {"get": {
            "operationId": "agents", "security": cookie,
            "summary": "Agents only (404 for anyone else): the site's agents by name, for handing a "
                       "conversation over.",
            "responses": _responses(200, "Agents", 404, *READ)}},
        "/webchat/inbox/{chat_id}/": {
            "parameters": [_path_id("chat_id")],
            "get": {"operationId": "conversation", "security": cookie,
                    "summary": "Agents only: one visitor conversation.",
                    "responses": _responses(200, "ConversationResult", 404, *READ)}},
        "/webchat/inbox/{chat_id}/assign": {
            "parameters": [_path_id("chat_id")],
            "post": {"operationId": "assignConversation", "security": write,
                     "summary": "Agents only: claim (`\"me\"`), hand over (an agent's id) or unassign (null). "
                                "The assignee joins the conversation; the bot steps back.",
                     "requestBody": _json_body(_obj({"agent_id": {"anyOf": [ID, {"const": "me"},
                                                                            {"type": "null"}]}})),
                     "responses": _responses(200, "ConversationResult", 404, *WRITE)}},
        "/webchat/inbox/{chat_id}/status": {
            "parameters": [_path_id("chat_id")],
            "post": {"operationId": "conversationStatus", "security": write,
                     "summary": "Agents only: resolve or reopen (a visitor writing again reopens it).",
                     "requestBody": _json_body(_obj({"status": {"enum": ["open", "resolved"]}})),
                     "responses": _responses(200, "ConversationResult", 404, *WRITE)}},
        "/webchat/inbox/{chat_id}/automation": {
            "parameters": [_path_id("chat_id")],
            "post": {"operationId": "conversationAutomation", "security": write,
                     "summary": "Agents only: hand the conversation back to the bot, or take it (metadata.automation).",
                     "requestBody": _json_body(_obj({"automation": {"enum": ["bot", "human"]}})),
                     "responses": _responses(200, "ConversationResult", 404, *WRITE)}},
        "/webchat/messages/": {"get": {
            "operationId": "messages", "security": cookie, "summary": "A page of a chat's messages, oldest first.",
            "parameters": [_query("chat_id", ID, "the chat", required=True),
                           _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size (50)"),
                           _query("before", SEQ, "messages with seq below this"),
                           _query("after", SEQ, "messages with seq above this (not with before)")],
            "responses": _responses(200, "MessagePage", 404, *READ)}},
        "/webchat/messages/{message_id}/": {
            "parameters": [_path_id("message_id")],
            "patch": {"operationId": "editMessage", "security": write, "summary": "Edit your own message.",
                      "requestBody": _json_body(_obj({"text": text})),
                      "responses": _responses(200, "MessageResult", 404, 409, *WRITE)},
            "delete": {"operationId": "deleteMessage", "security": write,
                       "summary": "Delete your own message (a placeholder stays; its media is erased).",
                       "responses": _responses(200, "MessageResult", 404, 409, *WRITE)}},
        "/webchat/messages/{message_id}/reactions/{emoji}": {
            "parameters": [_path_id("message_id"),
                           {"name": "emoji", "in": "path", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 32},
                            "description": "One emoji sequence, percent-encoded (skin tones, ZWJ sequences and "
                                           "flags are one emoji); anything else is a 400. Stored fully "
                                           "qualified: `%E2%9D%A4` and `%E2%9D%A4%EF%B8%8F` are one reaction."}],
            "put": {"operationId": "addReaction", "security": write,
                    "summary": "Add your reaction to a message of a chat you are in, or as an agent of a visitor "
                               "conversation (idempotent).",
                    "description": "Every member gets the message with its new `reactions` as `message_updated`. "
                                   "A message takes at most 20 different emoji (409 `too_many_reactions`); "
                                   "a deleted message takes none (409).",
                    "responses": _responses({201: "Added", 200: "It was there already"}, "MessageResult",
                                            404, 409, *WRITE)},
            "delete": {"operationId": "removeReaction", "security": write,
                       "summary": "Remove your reaction (idempotent: 204 whether or not it was there).",
                       "responses": {"204": {"description": "Removed, or was not there"},
                                     **_responses({}, None, 404, *WRITE)}}},
        "/webchat/chats/": {
            "get": {"operationId": "chats", "security": cookie, "summary": "Your chats, newest activity first.",
                    "responses": _responses(200, "ChatList", *READ)},
            "post": {"operationId": "createChat", "security": write, "summary": "Create a chat.",
                     "requestBody": _json_body(_obj({}, {"title": title}), required=False),
                     "responses": _responses(201, "ChatResult", *WRITE)}},
        "/webchat/chats/{chat_id}/": {
            "parameters": [_path_id("chat_id")],
            "get": {"operationId": "chat", "security": cookie, "summary": "One chat.",
                    "responses": _responses(200, "ChatResult", 404, *READ)},
            "patch": {"operationId": "updateChat", "security": write, "summary": "Rename, archive or unarchive.",
                      "requestBody": _json_body(_obj({}, {"title": title, "is_archived": BOOL})),
                      "responses": _responses(200, "ChatResult", 404, *WRITE)},
            "delete": {"operationId": "deleteChat", "security": write,
                       "summary": "Archive (default) or delete for good with hard=true (creator only).",
                       "parameters": [_query("hard", BOOL, "delete for good")],
                       "responses": _responses(200, "ChatDeleted", 404, *WRITE)}},
        "/webchat/read/": {"post": {
            "operationId": "read", "security": write, "summary": "Move your read position (never backwards).",
            "requestBody": _json_body(_obj({"chat_id": ID, "seq": SEQ})),
            "responses": _responses(200, "ReadResult", 404, *WRITE)}},
        "/webchat/typing/": {"post": {
            "operationId": "typing", "security": write,
            "summary": "Tell the chat you are (not) typing (a member, or an agent in any visitor conversation).",
            "requestBody": _json_body(_obj({"chat_id": ID}, {"is_typing": BOOL})),
            "responses": _responses(200, "TypingResult", 404, *WRITE)}},
        "/webchat/media/{media_id}": {"get": {
            "operationId": "media", "security": cookie,
            "summary": "An uploaded file, to members of its chat (and agents, in a visitor conversation); "
                       "404 once its message is deleted.",
            "parameters": [_path_id("media_id")],
            "responses": _responses({200: "The whole file.",
                                     206: "The byte range asked for with `Range: bytes=first-last` (one range; "
                                          "players seek so), with `Content-Range`."}, None, 404, 416, *READ,
                                    content={t: {"schema": {"type": "string", "contentMediaType": t}}
                                             for t in media_types})}},
        "/webchat/poll/": {
            "get": {"operationId": "poll", "security": cookie,
                    "summary": "Long-poll: events after `cursor` (or, the seed's form, messages after "
                               "`last_message_id` of `chat_id`).",
                    "parameters": [_query("cursor", cursor, "where to resume; none: answer now with the "
                                                            "current cursor"),
                                   _query("timeout", timeout, "seconds to wait for an event"),
                                   _query("chat_id", ID, "the seed's form: one chat"),
                                   _query("last_message_id", SEQ, "the seed's form: after this message")],
                    "responses": _responses(200, None, 404, 429, *READ, content={JSON: {"schema": {
                        "oneOf": [_ref("PollResult"), _ref("SeedPollResult")]}}})},
            "post": {"operationId": "pollPost", "security": write,
                     "summary": "Long-poll with the cursor in the body (cursors of any size); same answer as GET.",
                     "requestBody": _json_body(_obj({}, {"cursor": _nullable({"type": "string"}),
                                                         "timeout": timeout})),
                     "responses": _responses(200, "PollResult", *WRITE)}},
        "/ws/webchat/": {"get": {
            "operationId": "websocket", "security": cookie,
            "summary": "The WebSocket (README 'Events'); a plain GET without the upgrade headers is a 400.",
            "parameters": [_query("cursor", cursor, "where to resume"),
                           _query("resume", {"enum": ["1"]}, "the cursor comes in a first {type: resume} frame")],
            "responses": {"101": {"description": "Switching Protocols"},
                          **_responses({400: "Not a WebSocket upgrade, or a bad cursor."}, None,
                                       401, 403, 429, 503)}}},
        "/webchat/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document.", "security": [{}],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {"type": "object"}}}}}}},
        "/livez": {"get": {
            "operationId": "livez", "summary": "The process runs (always 200 while it answers).", "security": [{}],
            "responses": {"200": {"description": "alive", "content": {JSON: {"schema": _obj({"status": STR})}}}}}},
        "/readyz": {"get": {
            "operationId": "readyz", "security": [{}],
            "summary": "Ready for traffic: the database answers and the listener's probe came back; 503 while "
                       "draining.",
            "responses": {s: {"description": d, "content": {JSON: {"schema": _ref("Health")}}}
                          for s, d in (("200", "ready"), ("503", "not ready"))}}},
        "/healthz": {"get": {
            "operationId": "healthz", "security": [{}], "summary": "Alias of /readyz.",
            "responses": {s: {"description": d, "content": {JSON: {"schema": _ref("Health")}}}
                          for s, d in (("200", "ready"), ("503", "not ready"))}}},
        "/metrics": {"get": {
            "operationId": "metrics", "security": [{}, {"metricsToken": []}],
            "summary": "Prometheus text; loopback only unless a bearer token is configured.",
            "responses": {"200": {"description": "Prometheus exposition format",
                                  "content": {"text/plain": {"schema": STR}}},
                          **_responses({401: "A metrics token is configured and the request lacks it."}, None, 403)}}},
        "/": {"get": {
            "operationId": "demoPage", "security": [{}],
            "summary": "The demo page: only under `serve --demo` (or WEBCHAT_DEMO_PAGE=1).",
            "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": STR}}},
                          "404": {"description": "Not a demo server: production serves no demo page."}}}},
        "/inbox/": {"get": {
            "operationId": "inboxPage", "security": [{}],
            "summary": "The agents' inbox page: the same HTML for everyone; its data comes from the inbox API, "
                       "which answers agents only (anyone else sees how to sign in).",
            "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": STR}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "webchat-server HTTP API", "version": "1",
            "description": "JSON everywhere. Errors are `{success: false, error: {code, message}}`; the "
                           "server never answers 5xx for bad input (503 only when the database is down or the "
                           "process is at its connection budget). "
                           "State-changing calls need the session cookie and the `X-CSRF-Token` header from "
                           "`GET /webchat/me`. Objects may gain fields: ignore the ones you do not know.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(settings),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "webchat_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "metricsToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }
