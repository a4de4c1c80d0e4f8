// Protocol constants shared with the server: mirror of webchat_server/realtime/protocol.py.

/** WebSocket close codes the client sends or acts on. */
export const CLOSE_CLIENT_RECONNECT = 4000;
export const CLOSE_PONG_TIMEOUT = 4001;
export const CLOSE_RESYNC = 4008;
export const CLOSE_BAD_RESUME = 4400;
export const CLOSE_SESSION_ENDED = 4401;

/** A typing indicator lasts this long unless refreshed (events carry ttl_ms too). */
export const TYPING_TTL_MS = 6000;

/** `?resume=1`: the cursor follows as the first frame {type: 'resume', cursor}. */
export const RESUME_PARAM = 'resume';
