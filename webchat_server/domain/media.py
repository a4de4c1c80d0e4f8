"""Uploaded media: sniff the real type from the bytes, keep only images and audio, serve to members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import filetype

from ..db import Executor, q
from ..errors import BadInput, NotFound, TooLarge, Unsupported

if TYPE_CHECKING:
    from .voice import Audio

# what browsers play and show inline; anything else is refused with 415
ALLOWED: dict[str, str] = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/gif": "image",
    "image/webp": "image",
    "audio/mpeg": "audio",
    "audio/ogg": "audio",
    "audio/x-wav": "audio",
    "audio/x-flac": "audio",
    "audio/mp4": "audio",
    "audio/aac": "audio",
    # MediaRecorder's voice notes: WebM audio sniffs as video/webm, and an MP4 from Safari's recorder
    # (brand iso5/mp42, not M4A) as video/mp4; domain/voice.py refuses one that holds video
    "video/webm": "audio",
    "video/mp4": "audio",
}
SERVE_AS = {"video/webm": "audio/webm", "video/mp4": "audio/mp4", "audio/x-wav": "audio/wav",
            "audio/x-flac": "audio/flac"}


@dataclass(frozen=True)
class Upload:
    data: bytes
    content_type: str
    media_type: str  # 'image' | 'audio'
    # duration, waveform and whether it is a voice note (domain/voice.py examine); None for images
    audio: Audio | None = None


def sniff(data: bytes, max_bytes: int) -> Upload:
    if not data:
        raise BadInput("media is empty")
    if len(data) > max_bytes:
        raise TooLarge(f"media is larger than {max_bytes} bytes")
    kind = filetype.guess(data)
    mime = kind.mime if kind is not None else None
    if mime not in ALLOWED:
        raise Unsupported("media must be an image (JPEG, PNG, GIF, WebP) or audio (MP3, OGG, WAV, M4A, WebM)")
    return Upload(data, SERVE_AS.get(mime, mime), ALLOWED[mime])


async def get(conn: Executor, account_id: int, media_id: int) -> tuple[str, bytes]:
    """(content type, bytes) for a member of the media's chat or an agent in a visitor conversation.
    NotFound for strangers, unknown ids and media of deleted messages (its bytes are erased by a
    trigger, sql/migrations/0004_media_tombstone.sql)."""
    row = await conn.fetchrow(q("media_get"), media_id, account_id)
    if row is None:
        raise NotFound("media")
    return str(row["content_type"]), bytes(row["bytes"])


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range: bytes=...` request, or None to send everything (no
    header, several ranges or one that cannot be read: RFC 9110 lets a server ignore it). A first
    byte past the end comes back as it is, for the caller's 416."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[6:].strip().partition("-")
    if not sep or not (first + last).isascii() or not all(p.isdigit() or p == "" for p in (first, last)):
        return None
    if first == "":
        if last == "" or int(last) == 0:
            return None
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if end < start and start < size:
        return None
    return start, end
