"""Smoke test of an installed webchat-server: migrate, serve, fetch the widget, chat, stop."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def check(base: str) -> dict[str, object]:
    out: dict[str, object] = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(base + "/livez") as r:
            assert r.status == 200, r.status
        async with s.get(base + "/readyz") as r:
            out["readyz"] = (await r.json())["status"]
        async with s.get(base + "/webchat/me") as r:
            assert r.status == 200, await r.text()
            me = await r.json()
        assets: list[str] = []
        # the demo page and the agents' inbox page (its own bundle)
        for page_path in ("/", "/inbox/"):
            async with s.get(base + page_path) as r:
                assert r.status == 200, (page_path, r.status)
                page = await r.text()
            # every /web/ asset the page names (modules, the import map's targets) is served
            named = set(re.findall(r"""["'](/web/[^"'\s]+\.(?:js|css|html|svg|png))["']""", page))
            assert named, f"{page_path} names no /web/ assets"
            assets = sorted(set(assets) | named)
        for path in assets:
            async with s.get(base + path) as r:
                assert r.status == 200, (path, r.status)
        out["assets_served"] = len(assets)
        ws = await s.ws_connect(base + "/ws/webchat/")
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "connection", hello
        async with s.post(base + "/webchat/send/", json={"text": "smoke"},
                          headers={"X-CSRF-Token": me["csrf_token"]}) as r:
            assert r.status in (200, 201), await r.text()
        while True:
            ev = await ws.receive_json(timeout=10)
            if ev["type"] == "new_message":
                assert ev["message"]["text"] == "smoke", ev
                break
        out["websocket_delivery"] = "ok"
        await ws.close()
    return out


def main() -> None:
    work = Path(sys.argv[1])
    workers = sys.argv[2] if len(sys.argv) > 2 else "1"
    exe = str(Path(sys.executable).parent / "webchat-server")
    env = {**os.environ, "WEBCHAT_DATA_DIR": str(work / "data"), "WEBCHAT_DEMO_PAGE": "1"}
    env.pop("DATABASE_URL", None)  # the embedded Postgres, as a first-time user gets
    import webchat_server

    installed = Path(webchat_server.__file__).resolve()
    summary: dict[str, object] = {"package": str(installed.parent), "version": webchat_server.__version__,
                                  "workers": workers}
    migrated = subprocess.run([exe, "migrate"], env=env, cwd=work, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    summary["migrate"] = migrated.stdout.strip()
    port = free_port()
    log = open(work / f"serve-{workers}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([exe, "serve", "--port", str(port), "--workers", workers], env=env, cwd=work,
                            stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (work / f"serve-{workers}.log").read_text()[-3000:]
                    raise SystemExit("server did not start:\n" + log_text) from None
                time.sleep(0.1)
        summary.update(asyncio.run(check(base)))
    finally:
        proc.send_signal(signal.SIGTERM)
        summary["exit_code"] = proc.wait(60)
        log.close()
    assert summary["exit_code"] == 0, (work / f"serve-{workers}.log").read_text()[-3000:]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
