"""Protocol constants shared by the server and the widget (mirrored in web/lib/protocol.js)."""

from __future__ import annotations

# the one Postgres NOTIFY channel every trigger and the listener use
CHANNEL = "webchat"

# WebSocket close codes (4000-4999 are the application's own, RFC 6455 section 7.4.2)
CLOSE_CLIENT_RECONNECT = 4000  # the client dropped its own socket to reconnect at once
CLOSE_PONG_TIMEOUT = 4001  # the client saw no pong: the path to the server is dead
CLOSE_RESYNC = 4008  # the server could not deliver (socket stalled): reload, then resume
CLOSE_BAD_RESUME = 4400  # the first frame was not a valid resume frame
CLOSE_SESSION_ENDED = 4401  # the session signed out or into another account: start again (/webchat/me)

# how long a typing indicator lasts without a refresh
TYPING_TTL_MS = 6000

# a WebSocket opened with ?resume=1 sends {"type": "resume", "cursor": ...} first, within this time
RESUME_PARAM = "resume"
RESUME_FRAME_TIMEOUT = 10.0
