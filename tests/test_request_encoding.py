"""Compressed request bodies are refused, never inflated past the body caps."""

from __future__ import annotations

import gzip
import zlib

from .conftest import Api


def _bomb(inflated: int) -> bytes:
    """A multipart send that inflates to `inflated` bytes (a media part of zeros)."""
    head = (b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n'
            b'--b\r\nContent-Disposition: form-data; name="media"; filename="x.png"\r\n'
            b"Content-Type: image/png\r\n\r\n")
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    out = z.compress(head)
    chunk = b"\0" * (1 << 20)
    for _ in range(inflated >> 20):
        out += z.compress(chunk)
    return out + z.compress(b"\r\n--b--\r\n") + z.flush()


async def test_gzip_request_body_is_refused_not_inflated(api: Api) -> None:
    body = _bomb(64 << 20)  # 64 MiB inflated, ~64 kB sent: far past the 256 kB media cap of the tests
    assert len(body) < 200_000
    r = await api.client.post("/webchat/send/", data=body, headers={
        "X-CSRF-Token": api.csrf, "Content-Type": "multipart/form-data; boundary=b", "Content-Encoding": "gzip"})
    assert r.status == 415, await r.text()
    assert (await r.json())["error"]["code"] == "unsupported_media_type"
    # JSON too, and deflate: any coding but identity
    for coding, data in (("gzip", gzip.compress(b'{"text": "hi"}')), ("deflate", zlib.compress(b'{"text": "hi"}'))):
        r = await api.client.post("/webchat/send/", data=data, headers={
            "X-CSRF-Token": api.csrf, "Content-Type": "application/json", "Content-Encoding": coding})
        assert r.status == 415, (coding, await r.text())
    # identity is no coding at all
    r = await api.client.post("/webchat/send/", data=b'{"text": "plain"}', headers={
        "X-CSRF-Token": api.csrf, "Content-Type": "application/json", "Content-Encoding": "identity"})
    assert r.status == 201, await r.text()
    assert (await api.get("/livez")).status == 200


async def test_nothing_compressed_was_stored(api: Api) -> None:
    chat = (await api.send("start"))["chat_id"]
    r = await api.client.post("/webchat/send/", data=gzip.compress(b'{"text": "zipped", "chat_id": %d}' % chat),
                       headers={"X-CSRF-Token": api.csrf, "Content-Type": "application/json",
                                "Content-Encoding": "gzip"})
    assert r.status == 415
    assert [m["text"] for m in await api.messages(chat)] == ["start"]
