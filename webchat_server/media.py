"""Uploaded media: sniff the real type from the bytes and keep only images and audio."""

from __future__ import annotations

from dataclasses import dataclass

import filetype

from .errors import ApiError

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
    "video/webm": "audio",  # MediaRecorder's voice notes; WebM audio sniffs as video/webm
}
SERVE_AS = {"video/webm": "audio/webm", "audio/x-wav": "audio/wav", "audio/x-flac": "audio/flac"}


@dataclass(frozen=True)
class Upload:
    data: bytes
    content_type: str
    media_type: str  # 'image' | 'audio'


def sniff(data: bytes, max_bytes: int) -> Upload:
    if not data:
        raise ApiError(400, "media is empty")
    if len(data) > max_bytes:
        raise ApiError(413, f"media is larger than {max_bytes} bytes")
    kind = filetype.guess(data)
    mime = kind.mime if kind is not None else None
    if mime not in ALLOWED:
        raise ApiError(415, "media must be an image (JPEG, PNG, GIF, WebP) or audio (MP3, OGG, WAV, M4A, WebM)")
    return Upload(data, SERVE_AS.get(mime, mime), ALLOWED[mime])
