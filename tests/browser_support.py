"""Browser-test plumbing: a real server process on a fresh database, and Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.fernet import Fernet

IDENTITY_SECRET = "browser-identity-secret-of-at-least-32-bytes"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# a microphone that plays a beep, allowed without asking: voice notes are recorded in tests
FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        # fail, never skip: CI installs Debian's chromium and these tests must run there
        raise RuntimeError("Debian's chromium is required for browser tests: apt-get install -y chromium")
    return path


WEB = Path(__file__).resolve().parent.parent / "web"


def ensure_bundle() -> None:
    """Rebuild web/webchat.js when a widget source is newer, so browser tests never run a stale bundle."""
    bundle = WEB / "webchat.js"
    sources = [*WEB.glob("components/*.js"), *WEB.glob("lib/*.js"), *WEB.glob("*.entry.js"), WEB / "build.mjs"]
    built = bundle.stat().st_mtime if bundle.exists() else 0.0
    if any(p.stat().st_mtime > built for p in sources):
        subprocess.run(["npm", "--prefix", str(WEB), "run", "build", "--silent"], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sql(url: str, query: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    from .conftest import run_sync

    return run_sync(run())


class ServerProcess:
    """`python -m webchat_server serve` on its own port; can be stopped and started again."""

    def __init__(self, database_url: str, data_dir: Path, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.database_url = database_url
        self.args = args
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": database_url, "WEBCHAT_PORT": str(self.port),
                    "WEBCHAT_DATA_DIR": str(data_dir),
                    # tests make guests and sockets in bursts from one address: limits 1000x and
                    # caps of 1000, unless a test sets its own (test_limits, test_caps)
                    "WEBCHAT_RATE_LIMIT_SCALE": "1000", "WEBCHAT_MAX_SOCKETS_PER_ACCOUNT": "1000",
                    "WEBCHAT_MAX_SOCKETS_PER_ADDRESS": "1000", "WEBCHAT_MAX_CONNECTIONS_PER_ADDRESS": "0",
                    # the demo page is what the browser tests drive (production serves none)
                    "WEBCHAT_DEMO_PAGE": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"
        # runs in the child before exec (e.g. to lower its open file limit)
        self.preexec: Callable[[], None] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "webchat_server", "serve", *self.args],
                                         env=self.env, stdout=log, stderr=log, preexec_fn=self.preexec)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def make_bot(server: ServerProcess, chat_id: int, name: str = "Bot") -> int:
    """An integrator's bot, made and added to a chat with plain SQL."""
    bot = sql(server.database_url,
              "INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', $1) RETURNING id", name)
    sql(server.database_url, "INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat_id, bot)
    return int(bot)


def bot_says(server: ServerProcess, chat_id: int, bot: int, text: str) -> None:
    sql(server.database_url, "INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
        chat_id, bot, text)


def png(w: int = 8, h: int = 8) -> bytes:
    """A valid w x h PNG, made here so tests ship no binary fixtures."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x10\x80\xf0" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack("!IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def launcher_chat_id(page: Any) -> int:
    """The id of the chat open in the page's <webchat-launcher>, once it has one (tests, screenshots)."""
    return int(page.evaluate("""() => new Promise((done) => {
      const tick = () => {
        const chat = document.querySelector('webchat-launcher').shadowRoot.querySelector('webchat-chat');
        const id = chat && chat.client && chat.client.openChatId;
        if (id) done(id); else setTimeout(tick, 20);
      };
      tick();
    })"""))


# the shop page records what the widget tells the site owner (console.error), in every engine alike
SHOP_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Corner Shop</title>HEAD
<script>window.__console = []; const log = console.error.bind(console);
  console.error = (...args) => { window.__console.push(args.join(' ')); log(...args); };</script></head>
<body><main><h1>Corner Shop</h1><p><a href="#">Our opening hours</a></p></main>
<script type="module" src="CHAT/web/webchat.js"></script>
<webchat-launcher label="chat"></webchat-launcher></body></html>"""


@contextlib.contextmanager
def shop_site(pg_uri: str, tmp_path: Path, *, shop_host: str = "127.0.0.1", allow: bool = True,
              head: str = "") -> Iterator[tuple[str, ServerProcess]]:
    """A shop's site (Python's http.server) embedding the launcher with the one tag from a chat server
    on another origin: 127.0.0.1 on another port is the same site, `localhost` another site. With
    `allow` the chat server lists the shop's origin in WEBCHAT_ALLOWED_ORIGINS; `head` goes into the page's
    head (a Content-Security-Policy, say; CHAT in it is the chat server's URL). Yields (shop URL, server)."""
    from .conftest import TEMPLATE, _with_database, admin, run_sync

    shop_port = free_port()
    shop_origin = f"http://{shop_host}:{shop_port}"
    name = f"shop_{os.getpid()}_{shop_port}"
    run_sync(admin(pg_uri, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    env = {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode()}
    if allow:
        env["WEBCHAT_ALLOWED_ORIGINS"] = shop_origin
    chat = ServerProcess(_with_database(pg_uri, name), tmp_path / f"chat-{shop_port}", env)
    site = tmp_path / f"shop-{shop_port}"
    site.mkdir()
    shop: subprocess.Popen[bytes] | None = None
    try:
        chat.start()
        # the snippet exactly as the README gives it: one tag, the chat server's address, no api-base
        (site / "index.html").write_text(SHOP_PAGE.replace("HEAD", head).replace("CHAT", chat.base))
        shop = subprocess.Popen([sys.executable, "-m", "http.server", str(shop_port), "--bind", "127.0.0.1",
                                 "--directory", str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{shop_port}/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the shop's server did not start") from None
                time.sleep(0.05)
        yield shop_origin + "/", chat
    finally:
        # whatever failed, nothing is left running
        if shop is not None:
            shop.terminate()
            shop.wait(10)
        chat.stop()
        run_sync(admin(pg_uri, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def avatar_names(count: int = 60) -> list[str]:
    """Names whose avatar hues (the widget's hash: h = (h * 31 + code point) mod 360) fall into `count`
    different buckets spread over the colour wheel, plus the names the issue named."""
    def hue(name: str) -> int:
        h = 0
        for ch in name:
            h = (h * 31 + ord(ch)) % 360
        return h

    width = 360 / count
    found: dict[int, str] = {}
    n = 0
    while len(found) < count:
        name = f"Visitor {n}"
        found.setdefault(int(hue(name) // width), name)
        n += 1
    return ["Demo Bot", "Ana (Fernwood)", *(found[b] for b in sorted(found))]


def bot_voice_note(server: ServerProcess, chat_id: int, bot: int, seconds: float, waveform: list[int]) -> None:
    """A bot's voice note stored by plain SQL, as an integrator would (a WAV: every engine plays it)."""
    from .audio_files import wav

    data = wav(seconds)
    media = sql(server.database_url,
                "INSERT INTO webchat.media (chat_id, uploader_id, content_type, size, bytes, voice, duration_ms,"
                " waveform) VALUES ($1, $2, 'audio/wav', $3, $4, true, $5, $6) RETURNING id",
                chat_id, bot, len(data), data, int(seconds * 1000), waveform)
    sql(server.database_url, "INSERT INTO webchat.messages (chat_id, sender_id, text, media_id, media_type)"
        " VALUES ($1, $2, '', $3, 'audio')", chat_id, bot, media)
