"""Audio uploads: read the duration from the container, check a voice note's duration and waveform."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from mutagen.aac import AAC
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from ..errors import BadInput, TooLarge, Unsupported
from .media import Upload

# the readers for each sniffed type; WebM has none (mutagen does not read Matroska), so a WebM
# voice note keeps the recorder's figure
READERS: dict[str, tuple[Any, ...]] = {
    "audio/ogg": (OggOpus, OggVorbis),
    "audio/mp4": (MP4,),
    "audio/mpeg": (MP3,),
    "audio/wav": (WAVE,),
    "audio/flac": (FLAC,),
    "audio/aac": (AAC,),
}
# a WebM voice note must say it carries audio in one of these codecs (MediaRecorder writes Opus)
WEBM_AUDIO = (b"A_OPUS", b"A_VORBIS")
# a video track in a WebM (its CodecID) or an MP4 (the handler of a track): not audio, whatever it sniffs as
WEBM_VIDEO = re.compile(rb"\x86[\x80-\xff]V_")
MP4_VIDEO = re.compile(rb"hdlr.{8}vide", re.DOTALL)
WAVEFORM_MAX = 128
# how far the recorder's duration may be from the container's: the recorder's clock starts and
# stops a little apart from the encoder's
TOLERANCE_MS = 1500
# the recorder stops at the cap; its last chunk may run a moment past it
CAP_SLACK_MS = 1000


@dataclass(frozen=True)
class Audio:
    """What is kept about an audio upload beside its bytes (webchat.media, 0014_voice_notes.sql)."""

    voice: bool
    duration_ms: int | None  # read from the container
    client_duration_ms: int | None
    waveform: list[int] | None


def container_duration_ms(data: bytes, content_type: str) -> int | None:
    """The duration the container states, or None where no reader can tell (WebM, a fragmented MP4
    that states 0). A file that claims a type its reader cannot parse is refused (415): a text
    file or a polyglot that begins with an audio signature is not audio."""
    if content_type == "audio/webm":
        head = data[:65536]
        if not any(codec in head for codec in WEBM_AUDIO) or WEBM_VIDEO.search(head):
            raise Unsupported("media is WebM without an Opus or Vorbis audio track, or with video")
        return None
    if content_type == "audio/mp4" and MP4_VIDEO.search(data):
        raise Unsupported("media is an MP4 with video; only audio is accepted")
    readers = READERS.get(content_type)
    if readers is None:
        return None
    for reader in readers:
        try:
            length = float(reader(io.BytesIO(data)).info.length)
        except Exception:  # mutagen raises many kinds on hostile input; each means "not this format"
            continue
        if length != length or length < 0:  # NaN or nonsense in the header
            break
        return round(length * 1000) if length > 0 else None
    else:
        raise Unsupported(f"media says it is {content_type} but is not a readable {content_type} file")
    raise Unsupported(f"media says it is {content_type} but states a nonsense duration")


def _client_ms(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise BadInput("duration_ms must be a whole number of milliseconds")
    value = int(text)
    if value <= 0:
        raise BadInput("duration_ms must be more than 0")
    return value


def _waveform(raw: Any) -> list[int] | None:
    if raw is None or raw == "":
        return None
    try:
        values = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise BadInput("waveform must be a JSON array of integers 0-255") from None
    if (not isinstance(values, list) or len(values) > WAVEFORM_MAX
            or not all(type(v) is int and 0 <= v <= 255 for v in values)):
        raise BadInput(f"waveform must be a JSON array of at most {WAVEFORM_MAX} integers 0-255")
    return values


def examine(upload: Upload, fields: dict[str, Any], max_voice_seconds: int) -> Upload:
    """The upload with what is known of its audio. A voice note is an upload sent with duration_ms
    or waveform: its duration must agree with the container's (when it states one) and stay
    within the cap; the container's figure wins, the recorder's is kept beside it."""
    client_ms = _client_ms(fields.get("duration_ms"))
    waveform = _waveform(fields.get("waveform"))
    voice = client_ms is not None or waveform is not None
    if upload.media_type != "audio":
        if voice:
            raise BadInput("duration_ms and waveform are for voice notes, which are audio")
        return upload
    read_ms = container_duration_ms(upload.data, upload.content_type)
    if voice:
        if client_ms is None and read_ms is None:
            raise BadInput(f"a voice note in {upload.content_type} needs duration_ms: its container states none")
        off = abs(client_ms - read_ms) if client_ms is not None and read_ms is not None else 0
        if read_ms is not None and off > max(TOLERANCE_MS, read_ms // 10):
            raise BadInput(f"duration_ms is {client_ms} but the recording is {read_ms} ms long")
        longest = max(read_ms or 0, client_ms or 0)
        if longest > max_voice_seconds * 1000 + CAP_SLACK_MS:
            raise TooLarge(f"a voice note may be at most {max_voice_seconds} seconds long")
    return replace(upload, audio=Audio(voice, read_ms, client_ms, waveform))
