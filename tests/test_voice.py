"""Voice notes through the API: the container's duration, the recorder's figure checked, the cap, authz."""

from __future__ import annotations

import io
import json
from typing import Any

from aiohttp import FormData

from .audio_files import mp4_aac, ogg_opus, wav, webm_head
from .browser_support import png
from .conftest import Api, collect, next_event
from .test_staff import as_agent

WAVE = [0, 40, 255, 128, 7]


def voice_form(data: bytes, duration_ms: Any = None, waveform: Any = WAVE, chat_id: int | None = None,
               content_type: str = "audio/webm") -> FormData:
    form = FormData()
    if chat_id is not None:
        form.add_field("chat_id", str(chat_id))
    if duration_ms is not None:
        form.add_field("duration_ms", str(duration_ms))
    if waveform is not None:
        form.add_field("waveform", waveform if isinstance(waveform, str) else json.dumps(waveform))
    form.add_field("media", io.BytesIO(data), filename="voice", content_type=content_type)
    return form


async def send_voice(api: Api, data: bytes, **kw: Any) -> tuple[int, dict[str, Any]]:
    r = await api.post("/webchat/send/", data=voice_form(data, **kw))
    return r.status, await r.json()


async def test_voice_notes_keep_the_containers_duration_and_the_waveform(api: Api, sql: Any) -> None:
    chat = (await api.send("hi"))["chat_id"]
    for data, content_type, client_ms, read_ms in [
        (ogg_opus(3.5), "audio/ogg", 3400, 3500),
        (mp4_aac(4.25), "audio/mp4", 4300, 4250),
        # Safari's recorder writes brand iso5, which sniffs as video/mp4: an audio-only one is audio
        (mp4_aac(1.5, brand=b"iso5"), "audio/mp4", 1500, 1500),
        (wav(2), "audio/wav", 2000, 2000),
        # mutagen reads no WebM: the recorder's figure is what there is
        (webm_head(), "audio/webm", 5120, 5120),
    ]:
        status, body = await send_voice(api, data, duration_ms=client_ms, chat_id=chat)
        assert status == 201, body
        media = body["message"]["media"]
        assert media == {"type": "voice", "url": body["message"]["media_url"], "content_type": content_type,
                         "size": len(data), "duration_ms": read_ms, "waveform": WAVE}
        assert body["message"]["media_type"] == "audio"
        got = await api.client.get(media["url"])
        assert got.status == 200 and got.headers["Content-Type"] == content_type and await got.read() == data
    # both figures are kept
    rows = await sql.fetch("SELECT duration_ms, client_duration_ms FROM webchat.media ORDER BY id")
    assert [(r["duration_ms"], r["client_duration_ms"]) for r in rows] == [
        (3500, 3400), (4250, 4300), (1500, 1500), (2000, 2000), (None, 5120)]
    # history carries the same media
    listed = [m["media"] for m in await api.messages(chat) if m["media"]]
    assert [m["duration_ms"] for m in listed] == [3500, 4250, 1500, 2000, 5120]
    assert all(m["waveform"] == WAVE for m in listed)


async def test_a_plain_audio_file_is_audio_with_its_duration(api: Api) -> None:
    form = FormData()
    form.add_field("media", io.BytesIO(wav(1.5)), filename="a.wav")
    r = await api.post("/webchat/send/", data=form)
    assert r.status == 201
    media = (await r.json())["message"]["media"]
    assert (media["type"], media["duration_ms"], media["waveform"]) == ("audio", 1500, None)


async def test_voice_notes_are_delivered_live_with_their_media(api: Api) -> None:
    chat = (await api.send("hi"))["chat_id"]
    ws = await api.ws()
    assert (await next_event(ws))["type"] == "connection"
    status, body = await send_voice(api, ogg_opus(2.0), duration_ms=2000, chat_id=chat)
    assert status == 201
    [event] = await collect(ws, 1)
    assert event["message"]["id"] == body["message"]["id"]
    assert event["message"]["media"] == body["message"]["media"]
    assert (event["message"]["media"]["type"], event["message"]["media"]["duration_ms"]) == ("voice", 2000)
    await ws.close()


async def test_lying_durations_and_bad_figures_are_refused(api: Api) -> None:
    chat = (await api.send("hi"))["chat_id"]
    cases: list[tuple[bytes, Any, Any, int]] = [
        (wav(3), 20000, WAVE, 400),  # says 20 s, the file is 3 s
        (ogg_opus(10), 2000, WAVE, 400),
        (wav(3), -5, WAVE, 400),
        (wav(3), "3.5s", WAVE, 400),
        (wav(3), 0, WAVE, 400),
        (wav(3), 3000, [1] * 129, 400),  # more than 128 values
        (wav(3), 3000, [0, 256], 400),
        (wav(3), 3000, "[1, true]", 400),
        (wav(3), 3000, "not json", 400),
        (webm_head(), None, WAVE, 400),  # WebM states no duration and the recorder gave none
    ]
    for data, duration_ms, waveform, status in cases:
        got, body = await send_voice(api, data, duration_ms=duration_ms, waveform=waveform, chat_id=chat)
        assert got == status, (duration_ms, waveform, body)
        assert body["error"]["code"] == "bad_request"
    assert [m["text"] for m in await api.messages(chat)] == ["hi"]  # nothing stored


async def test_non_audio_labelled_audio_and_polyglots_are_refused(api: Api) -> None:
    html = b"<!doctype html><script>alert(1)</script>"
    for data in [html, b"OggS" + html, b"ID3\x04\x00\x00\x00\x00\x00\x00" + html, b"RIFF\x00\x00\x00\x00WAVE" + html,
                 webm_head(codec=b"V_VP8"), b"\x00\x00\x00\x18ftypM4A " + html,
                 mp4_aac(2, brand=b"iso5", handler=b"vide")]:  # a video
        got, body = await send_voice(api, data, duration_ms=1000, content_type="audio/ogg")
        assert got == 415, (data[:12], body)
        assert body["error"]["code"] == "unsupported_media_type"
    # an image is no voice note
    got, body = await send_voice(api, png(), duration_ms=1000)
    assert got == 400
    assert (await (await api.get("/webchat/chats/")).json())["chats"] == []


async def test_voice_notes_over_the_cap_are_refused(api: Api) -> None:
    # the container says 400 s (the default cap is 300 s), and so does the recorder
    got, body = await send_voice(api, ogg_opus(400), duration_ms=400_000)
    assert got == 413 and body["error"]["code"] == "too_large"
    # a WebM whose recorder says 400 s
    got, body = await send_voice(api, webm_head(), duration_ms=400_000)
    assert got == 413
    # at the cap is fine
    got, body = await send_voice(api, ogg_opus(300), duration_ms=300_000)
    assert got == 201, body


async def test_voice_notes_are_for_members_only(api: Api, new_api: Any) -> None:
    chat = (await api.send("hi"))["chat_id"]
    status, body = await send_voice(api, wav(1), duration_ms=1000, chat_id=chat)
    assert status == 201
    url = body["message"]["media"]["url"]
    stranger = await new_api()
    assert (await stranger.client.get(url)).status == 404
    got, _ = await send_voice(stranger, wav(1), duration_ms=1000, chat_id=chat)
    assert got == 404
    # a deleted voice note is gone for everyone
    assert (await api.delete(f"/webchat/messages/{body['message']['id']}/")).status in (200, 204)
    assert (await api.client.get(url)).status == 404


async def test_media_is_served_in_byte_ranges_for_seeking(api: Api) -> None:
    data = wav(1)
    _, body = await send_voice(api, data, duration_ms=1000)
    url = body["message"]["media"]["url"]
    whole = await api.client.get(url)
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = await api.client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert await part.read() == data[100:200]
    tail = await api.client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status == 206 and await tail.read() == data[-10:]
    open_end = await api.client.get(url, headers={"Range": f"bytes={len(data) - 5}-"})
    assert await open_end.read() == data[-5:]
    past = await api.client.get(url, headers={"Range": f"bytes={len(data) + 5}-"})
    assert past.status == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"
    for junk in ["bytes=a-b", "items=0-1", "bytes=0-1,5-6", "bytes=9-2"]:
        got = await api.client.get(url, headers={"Range": junk})
        assert got.status == 200 and await got.read() == data, junk


async def test_agents_play_a_visitors_voice_note_before_they_join(api: Api, new_api: Any) -> None:
    status, body = await send_voice(api, wav(1), duration_ms=1000)  # a visitor's first message
    assert status == 201
    url = body["message"]["media"]["url"]
    agent = await as_agent(await new_api(), "vera", "Vera (Support)")
    got = await agent.client.get(url)
    assert got.status == 200 and await got.read() == wav(1)
    # a signed-in user who is no agent is still a stranger
    user = await new_api()
    assert (await user.identify("someone", "Someone")).status == 200
    assert (await user.client.get(url)).status == 404
