"""Command line: serve | migrate | check | bot-demo."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import AsyncIterator

from aiohttp import web

from . import __version__, db
from .app import create_app
from .bot import DemoBot
from .db import database_url_key
from .domain import staff
from .domain.identity import display_name
from .http import logs
from .settings import Settings


def _database_url(settings: Settings) -> str:
    # the direct URL: migrations hold a session lock and the bot LISTENs, neither works through PgBouncer
    return settings.listen_database_url or settings.database_url or db.start_embedded_postgres(settings.data_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="webchat-server", description=__doc__)
    parser.add_argument("--version", action="version", version=f"webchat-server {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server")
    serve.add_argument("--host", help="listen address (WEBCHAT_HOST)")
    serve.add_argument("--port", type=int, help="listen port (WEBCHAT_PORT)")
    serve.add_argument("--demo", action="store_true",
                       help="the demo bot plus POST /webchat/demo/token (signs anyone in: never in production)")
    serve.add_argument("--demo-bot", action="store_true", help="also run the demo bot in this process")
    serve.add_argument("--workers", help="server processes: N or 'auto' = one per core (WEBCHAT_WORKERS, default 1)")
    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--status", action="store_true",
                         help="list every migration and when it was applied (pending ones too); change nothing")
    sub.add_parser("check", help="print the effective settings and check the database, the session key and "
                                 "proxy trust; exit 1 if something needed is missing")
    sub.add_parser("bot-demo", help="run the demo bot (LISTEN + plain SQL inserts)")
    agent = sub.add_parser("agent", help="agents who answer visitors in /inbox/")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)
    add = agent_sub.add_parser("add", help="make (or find) an agent and print a one-time sign-in link")
    add.add_argument("name", help="the name visitors see")
    add.add_argument("--email", help="the agent's email (also tells two agents of one name apart)")
    add.add_argument("--ttl", type=int, default=900, help="seconds the link works (default 900)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_format)

    if args.command == "migrate" and args.status:
        status = asyncio.run(db.migration_status(_database_url(settings)))
        for version, applied_at in status:
            print(f"{version}  {applied_at or 'pending'}")
        raise SystemExit(0)
    if args.command == "check":
        from . import check

        raise SystemExit(asyncio.run(check.run(settings)))
    if args.command == "migrate":
        applied = asyncio.run(db.migrate(_database_url(settings)))
        print("applied:", ", ".join(applied) if applied else "nothing (up to date)")
    elif args.command == "agent":
        print(asyncio.run(_agent_add(settings, args.name, args.email, args.ttl)))
    elif args.command == "bot-demo":
        asyncio.run(DemoBot(_database_url(settings)).run())
    else:
        from .serve import run_single, run_workers, worker_count

        if args.demo:
            settings = dataclasses.replace(settings, demo=True, demo_page=True)
        host = args.host or settings.host
        port = args.port or settings.port
        workers = worker_count(args.workers or settings.workers)
        if workers > 1:
            # Gunicorn's master: migrates once, forks the workers, replaces any that dies
            run_workers(settings, host, port, workers, bot=args.demo or args.demo_bot)
            return
        app = create_app(settings)
        if args.demo or args.demo_bot:
            app.cleanup_ctx.append(_bot_ctx)
        run_single(app, host, port)


async def _agent_add(settings: Settings, name: str, email: str | None, ttl: int) -> str:
    # as a token's name is: one line (it goes into visitors' views and email subjects), NFC
    name = display_name(name)
    if not name or len(name) > settings.max_name_chars:
        raise SystemExit(f"the name must be 1 to {settings.max_name_chars} characters")
    if not 60 <= ttl <= 7 * 86400:
        raise SystemExit("--ttl is in seconds, from 60 to 604800 (a week)")
    url = _database_url(settings)
    await db.migrate(url)
    async with db.pool_context(url, 1, 2) as pool:
        agent, token = await staff.create_signin(pool, name, email, ttl)
    return (f"agent {agent['display_name']!r} (account {agent['id']}): open this link within {ttl // 60} minutes, "
            f"once:\n{settings.base_url}/inbox/#signin={token}")


async def _bot_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(DemoBot(app[database_url_key]).run())
    yield
    task.cancel()


if __name__ == "__main__":
    main()
