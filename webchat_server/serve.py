"""Running the server: one process in the foreground, or N workers under Gunicorn's master."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from aiohttp import web
from aiohttp.worker import GunicornUVLoopWebWorker, GunicornWebWorker
from gunicorn.app.base import BaseApplication
from prometheus_client import Histogram

from . import __version__, db
from .app import create_app
from .http.auth import load_secret_key
from .http.health import begin_drain
from .http.metrics import metrics_key
from .settings import Settings, settings_key

log = logging.getLogger(__name__)


def worker_count(raw: str) -> int:
    """'auto' is the number of cores this process may run on; anything else a positive integer."""
    if raw == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise SystemExit(f"--workers must be a positive integer or 'auto', got {raw!r}")
    return n


class GcPauses:
    """webchat_gc_pause_seconds: how long the process stood still for each garbage collection."""

    def __init__(self) -> None:
        self.histogram = Histogram("webchat_gc_pause_seconds", "Garbage collection pauses, by generation",
                                   ["generation"], registry=None,
                                   buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1))
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.histogram.labels(str(info["generation"])).observe(time.perf_counter() - self._started)


async def _freeze_startup_objects(app: web.Application) -> None:
    # Everything alive once the app has started (modules, the app, pools, caches) lives until exit.
    # Moved out of the collector's sight, a full collection no longer walks them all: such
    # collections took 18-33 ms here (bench/README.md, "The send path"), a stall for every request
    # and socket of the process. Objects made later are collected as usual.
    gc.collect()
    gc.freeze()
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    app[metrics_key].registry.register(pauses.histogram)


def steady_gc(app: web.Application) -> web.Application:
    """After start-up (every cleanup_ctx has run), freeze what exists into the permanent generation."""
    app.on_startup.append(_freeze_startup_objects)
    return app


def run_single(app: web.Application, host: str, port: int) -> None:
    """One process: serve until SIGTERM/SIGINT, then drain (see health.drain) and exit."""
    steady_gc(app)
    settings = app[settings_key]
    if settings.event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_serve(app, host, port, settings))


async def _serve(app: web.Application, host: str, port: int, settings: Settings) -> None:
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_timeout,
                           access_log=logging.getLogger("aiohttp.access"))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        # a log line (JSON in JSON mode), not aiohttp's plain-text banner on stderr
        log.info("webchat-server %s serving on http://%s:%d (pid %d)", __version__, host, port, os.getpid(),
                 extra={"version": __version__, "host": host, "port": port})
        stop = asyncio.Event()
        got: list[str] = []

        def on_signal(sig: signal.Signals) -> None:
            got.append(sig.name)
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        await stop.wait()
        log.info("%s: draining (readiness 503; listening %s more)", got[0] if got else "stop",
                 f"{settings.drain_delay:g} s" if settings.drain_delay > 0 else "no")
        begin_drain(app)
        if settings.drain_delay > 0:
            # still serving, but /readyz says 503: a load balancer that polls it moves traffic away
            await asyncio.sleep(settings.drain_delay)
    finally:
        # closes the listening socket, runs health.drain, waits up to shutdown_timeout for
        # in-flight requests, then closes the listener connection and the pool
        await runner.cleanup()
        log.info("webchat-server %s exiting (pid %d)", __version__, os.getpid())


class AsyncioWorker(GunicornWebWorker):
    """SIGTERM from the master: readiness false now, stop accepting after drain_delay."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.wsgi
        log.info("%s: worker %d draining", signal.Signals(sig).name, os.getpid())
        delay = 0.0
        if isinstance(app, web.Application):
            begin_drain(app)
            delay = app[settings_key].drain_delay
        self.loop.call_later(delay, super().handle_exit, sig, frame)


class UVLoopWorker(AsyncioWorker, GunicornUVLoopWebWorker):
    """The same on uvloop (GunicornUVLoopWebWorker.init_process sets the loop policy)."""


class _Master(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], web.Application], options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> web.Application:
        # runs in each worker after the fork: every worker has its own pool and LISTEN connection
        return self.factory()


def run_workers(settings: Settings, host: str, port: int, workers: int, bot: bool = False) -> None:
    """N worker processes under Gunicorn: one database (embedded or not), migrated once, shared."""
    url = settings.database_url or db.start_embedded_postgres(settings.data_dir)
    # migrations hold a session-level advisory lock: through PgBouncer (transaction pooling) they
    # need the direct URL, when the settings have one (WEBCHAT_LISTEN_DATABASE_URL)
    direct = settings.listen_database_url or url
    asyncio.run(db.migrate(direct))
    # the session key too: workers racing to create the key file could each make their own
    key = load_secret_key(settings).decode()
    settings = dataclasses.replace(settings, database_url=url, migrate_on_start=False, secret_key=key)
    bot_proc: list[subprocess.Popen[bytes]] = []

    def when_ready(_arbiter: Any) -> None:
        if bot:  # one bot for the whole server, not one per worker
            env = {**os.environ, "DATABASE_URL": url}
            bot_proc.append(subprocess.Popen([sys.executable, "-m", "webchat_server", "bot-demo"], env=env))

    def on_exit(_arbiter: Any) -> None:
        for proc in bot_proc:
            proc.terminate()
            proc.wait(10)

    worker = "webchat_server.serve.UVLoopWorker" if settings.event_loop == "uvloop" else \
        "webchat_server.serve.AsyncioWorker"
    options: dict[str, Any] = {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": workers,
        "worker_class": worker,
        # the master SIGKILLs a worker still draining after this (counted from SIGTERM, so the
        # drain delay is inside it); aiohttp waits for in-flight requests 95 % of it at most
        "graceful_timeout": math.ceil((settings.drain_delay + settings.shutdown_timeout) / 0.95),
        # the app's handler_args set the real idle/header timeout (WEBCHAT_HEADER_TIMEOUT, 10 s),
        # which wins over this; deploy/nginx.conf keeps its idle upstream connections shorter
        "keepalive": 75,
        # no access log here: logs.request_context writes one line per request, with its id
        "proc_name": "webchat-server",
        # no runtime control socket: one fixed path per user would clash between servers, and
        # a hardened unit may not write to $HOME
        "control_socket_disable": True,
        "when_ready": when_ready,
        "on_exit": on_exit,
    }
    log.info("webchat-server %s starting %d workers on %s:%d", __version__, workers, host, port,
             extra={"version": __version__, "host": host, "port": port})
    _Master(lambda: steady_gc(create_app(settings)), options).run()
    log.info("webchat-server %s exiting (master %d)", __version__, os.getpid())
