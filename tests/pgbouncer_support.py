"""Debian's pgbouncer in transaction mode, for the tests and the Postgres-restart drill."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from .browser_support import free_port

PASSWORD = "bouncer-secret"
# fewer server connections than the app's pool has clients, so transactions really do move between
# server connections (what breaks named prepared statements and session state)
SERVER_POOL_SIZE = 3


class PgBouncer:
    """Debian's pgbouncer in transaction mode in front of the test Postgres (its unix socket)."""

    def __init__(self, socket_dir: str, server_login_retry: int | None = None) -> None:
        self.port = free_port()
        # not under pytest's tmp dir: that is root-only, and pgbouncer refuses to run as root
        self.dir = Path(tempfile.mkdtemp(prefix="webchat-pgbouncer-"))
        self.user = "embedded_postgres" if os.geteuid() == 0 else None  # the user that owns the socket
        (self.dir / "userlist.txt").write_text(f'"postgres" "{PASSWORD}"\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={socket_dir} port=5432\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {self.dir / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {SERVER_POOL_SIZE}\n"
            "max_client_conn = 500\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
            + (f"server_login_retry = {server_login_retry}\n" if server_login_retry is not None else "")
        )
        if self.user:
            pw = pwd.getpwnam(self.user)
            for p in (self.dir, *self.dir.iterdir()):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(binary):
            # fail, never skip: CI installs Debian's pgbouncer and this must run there
            raise RuntimeError("Debian's pgbouncer is required: apt-get install -y pgbouncer")
        self.proc = subprocess.Popen([binary, str(self.dir / "pgbouncer.ini")], user=self.user,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not start: {self.log()}")

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def url(self, direct_url: str) -> str:
        """The same database as direct_url (a unix-socket URL), reached through this PgBouncer."""
        database = urlsplit(direct_url).path.lstrip("/")
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
