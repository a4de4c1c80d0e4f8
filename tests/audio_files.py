"""Small audio files made in the tests (no binary fixtures): WAV, Ogg Opus, MP4 (AAC) and WebM heads."""

from __future__ import annotations

import io
import math
import struct
import wave


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A mono 8-bit WAV of a 440 Hz tone that every browser plays."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(bytes(128 + int(60 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))))
    return out.getvalue()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packet: bytes, granule: int, seq: int, flags: int) -> bytes:
    lacing = bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    head = b"OggS" + struct.pack("<BBqIIIB", 0, flags, granule, 0x5EC7, seq, 0, len(lacing)) + lacing
    page = head + packet
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus(seconds: float) -> bytes:
    """An Ogg Opus stream whose last page says it ends after `seconds` (its one packet is silence)."""
    pre_skip = 312
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    return (_ogg_page(head, 0, 0, 0x02) + _ogg_page(tags, 0, 1, 0)
            + _ogg_page(b"\xf8\xff\xfe", pre_skip + int(seconds * 48000), 2, 0x04))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_aac(seconds: float, brand: bytes = b"M4A ", handler: bytes = b"soun") -> bytes:
    """An MP4 with one AAC sound track `seconds` long (brand M4A, or iso5 as Safari's recorder writes;
    handler `vide` makes its track a video track)."""
    rate = 44100
    mvhd = _box(b"mvhd", struct.pack(">IIIII", 0, 0, 0, 1000, int(seconds * 1000)) + b"\x00" * 80)
    mdhd = _box(b"mdhd", struct.pack(">IIIIIHH", 0, 0, 0, rate, int(seconds * rate), 0x55C4, 0))
    hdlr = _box(b"hdlr", struct.pack(">II", 0, 0) + handler + b"\x00" * 12 + b"SoundHandler\x00")
    esds = _box(b"esds", b"\x00\x00\x00\x00\x03\x19\x00\x01\x00\x04\x11\x40\x15\x00\x00\x00\x00\x01\xf4\x00"
                         b"\x00\x01\xf4\x00\x05\x02\x12\x10\x06\x01\x02")
    mp4a = _box(b"mp4a", b"\x00" * 6 + struct.pack(">H", 1) + b"\x00" * 8
                + struct.pack(">HHHHI", 1, 16, 0, 0, rate << 16) + esds)
    stsd = _box(b"stsd", struct.pack(">II", 0, 1) + mp4a)
    stbl = _box(b"stbl", stsd)
    minf = _box(b"minf", _box(b"smhd", b"\x00" * 8) + stbl)
    trak = _box(b"trak", _box(b"mdia", mdhd + hdlr + minf))
    ftyp = _box(b"ftyp", brand + b"\x00\x00\x00\x00" + brand + b"mp42isom")
    return ftyp + _box(b"moov", mvhd + trak) + _box(b"mdat", b"\x00" * 64)


def _ebml(element: bytes, payload: bytes) -> bytes:
    return element + bytes([0x80 | len(payload)]) + payload if len(payload) < 127 else (
        element + b"\x01" + len(payload).to_bytes(7, "big") + payload)


def webm_head(codec: bytes = b"A_OPUS") -> bytes:
    """The start of a WebM from MediaRecorder: an EBML header (DocType webm) and a track in `codec`,
    with no duration, as Chromium writes it while it records."""
    header = _ebml(b"\x1a\x45\xdf\xa3", _ebml(b"\x42\x86", b"\x01") + _ebml(b"\x42\x82", b"webm")
                   + _ebml(b"\x42\x87", b"\x04") + _ebml(b"\x42\x85", b"\x02"))
    track = _ebml(b"\xae", _ebml(b"\xd7", b"\x01") + _ebml(b"\x83", b"\x02") + _ebml(b"\x86", codec))
    segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + _ebml(b"\x16\x54\xae\x6b", track)
    return header + segment + b"\x00" * 64
