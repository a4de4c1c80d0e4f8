"""Browser-test plumbing: a real server process on a fresh database, and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

IDENTITY_SECRET = "browser-identity-secret-of-at-least-32-bytes"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


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
    sources = [*WEB.glob("components/*.js"), *WEB.glob("lib/*.js"), WEB / "webchat.entry.js", WEB / "build.mjs"]
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
                    "WEBCHAT_MAX_SOCKETS_PER_ADDRESS": "1000", **(env or {})}
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
