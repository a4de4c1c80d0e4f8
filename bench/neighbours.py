"""Neighbours behind one address: a visitor's send times while four others upload 5 MiB files, and alone."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import aiohttp

from .common import Bench, Guest, emit, percentiles


def image(size: int) -> bytes:
    # a PNG signature is what the server sniffs; the rest is filler of the right size
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(size - 16)


async def upload(g: Guest, chat: int, data: bytes) -> int:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(chat))
    form.add_field("media", data, filename="big.png", content_type="application/octet-stream")
    async with g.session.post(g.base + "/webchat/send/", data=form, headers={"X-CSRF-Token": g.csrf}) as r:
        await r.read()
        return r.status


async def scenario(seconds: float, rate: float, uploaders: int, size: int) -> dict[str, Any]:
    bench = Bench()
    await bench.start()
    people = [await Guest(bench.base).start() for _ in range(uploaders + 1)]  # all from 127.0.0.1
    chats = [(await g.send("start"))["chat_id"] for g in people]
    visitor, visitor_chat = people[0], chats[0]
    data = image(size)
    out: dict[str, Any] = {"uploaders": uploaders, "upload_bytes": size, "visitor_rate": rate}
    for round_ in range(2):
        for busy in (True, False):  # interleaved: the machine's load drifts
            stop = asyncio.Event()
            uploads = 0

            async def uploader(i: int, stop: asyncio.Event = stop) -> None:
                nonlocal uploads
                while not stop.is_set():
                    assert await upload(people[i], chats[i], data) == 201
                    uploads += 1

            tasks = [asyncio.create_task(uploader(i)) for i in range(1, uploaders + 1)] if busy else []
            times: list[float] = []
            start = time.monotonic()
            for n in range(int(seconds * rate)):
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                t0 = time.perf_counter()
                body = await visitor.send(f"v{n}", visitor_chat)
                assert body.get("success"), body
                times.append((time.perf_counter() - t0) * 1000)
            stop.set()
            await asyncio.gather(*tasks)
            key = f"{'with' if busy else 'without'}_uploads_round{round_ + 1}"
            out[key] = {"visitor_send_ms": percentiles(times), "uploads": uploads,
                        "load": [round(x, 2) for x in os.getloadavg()]}
    for g in people:
        await g.close()
    bench.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=5, help="the visitor's sends per second")
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--size", type=int, default=5 * 1024 * 1024 - 1024)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    result = asyncio.run(scenario(args.seconds, args.rate, args.uploaders, args.size))
    emit("neighbours", {"code": args.label, **result})


if __name__ == "__main__":
    main()
