"""Server-to-client WebSocket text frames, built once and written to many sockets."""

from __future__ import annotations

import struct


def text_frame(payload: bytes) -> bytes:
    # RFC 6455 section 5.2: FIN + text opcode; server frames are never masked, so one frame's
    # bytes are valid on every connection
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload
