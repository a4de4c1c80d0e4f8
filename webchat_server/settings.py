"""Settings read once from the environment into a frozen dataclass."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = env.get(name) or default
    if raw not in allowed:
        raise SystemExit(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _bool(env: dict[str, str], name: str) -> bool:
    raw = (env.get(name) or "0").strip().lower()
    if raw not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise SystemExit(f"{name} must be 1 or 0, got {raw!r}")
    return raw in ("1", "true", "yes", "on")


def _proxies(env: dict[str, str]) -> tuple[str, ...]:
    out = []
    for item in (p.strip() for p in env.get("WEBCHAT_TRUSTED_PROXIES", "").split(",")):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SystemExit(f"WEBCHAT_TRUSTED_PROXIES: {item!r} is not an IP address or network") from None
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    # a direct Postgres URL for what a transaction pooler (PgBouncer) cannot carry: LISTEN and the
    # migrations' session-level advisory lock; unset = DATABASE_URL
    listen_database_url: str | None = None
    # asyncpg's prepared-statement cache; None = 100, or 0 when listen_database_url is set (docs/deploy.md)
    statement_cache_size: int | None = None
    data_dir: Path = Path(".webchat-data")
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str | None = None
    identity_secret: str | None = None
    # the pre-JWT {user_id, name, signature} identify form: replayable forever, so off unless asked for
    legacy_identify: bool = False
    allowed_origins: tuple[str, ...] = ()
    # addresses/networks whose X-Forwarded-For/-Proto/-Host are believed (a reverse proxy)
    trusted_proxies: tuple[str, ...] = ()
    # sliding: a session unused for this long is gone; any use re-issues the cookie
    session_max_age: int = 30 * 24 * 3600
    # /metrics: with a token, `Authorization: Bearer <token>` from anywhere; without, loopback only
    metrics_token: str | None = None
    # `serve --demo`: the demo bot and POST /webchat/demo/token (never in production)
    demo: bool = False
    # limits that protect the server; all are user-visible as 4xx errors
    max_text_chars: int = 10_000
    max_media_bytes: int = 5 * 1024 * 1024
    max_title_chars: int = 200
    max_name_chars: int = 100
    sends_per_minute: int = 120
    # real-time tuning
    # flow control (README "Flow control"): past ws_high_water unsent bytes a socket stops taking
    # live frames and is fed from the database as it drains; a socket that takes nothing for
    # ws_stall_timeout seconds is closed with resync
    ws_high_water: int = 256 * 1024
    ws_stall_timeout: float = 60.0
    poll_max_bytes: int = 256 * 1024
    ws_heartbeat: float = 20.0
    poll_default_timeout: float = 25.0
    poll_max_timeout: float = 55.0
    probe_interval: float = 5.0
    # uvloop measured 15-18 % less server CPU per delivery than asyncio's loop (bench/README.md)
    event_loop: str = "uvloop"
    pool_min: int = 2
    pool_max: int = 10
    log_format: str = "text"
    static_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parent.parent / "web")

    @property
    def pooled(self) -> bool:
        """True when DATABASE_URL is a transaction pooler, i.e. a separate direct URL is configured."""
        return self.listen_database_url is not None and self.listen_database_url != self.database_url

    @property
    def statement_cache(self) -> int:
        # PgBouncer before 1.21 (Debian 12 ships 1.18) cannot follow named prepared statements across
        # the server connections of transaction pooling; 0 makes asyncpg re-parse unnamed ones
        if self.statement_cache_size is not None:
            return self.statement_cache_size
        return 0 if self.pooled else 100

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        origins = tuple(o.strip().rstrip("/") for o in env.get("WEBCHAT_ALLOWED_ORIGINS", "").split(",") if o.strip())
        session_max_age = _int(env, "WEBCHAT_SESSION_MAX_AGE", 30 * 24 * 3600)
        if session_max_age < 60:
            raise SystemExit(f"WEBCHAT_SESSION_MAX_AGE is in seconds and at least 60, got {session_max_age}")
        identity_secret = env.get("WEBCHAT_IDENTITY_SECRET") or None
        if identity_secret is not None and len(identity_secret.encode()) < 32:
            # RFC 7518 3.2: an HS256 key shorter than the hash can be guessed offline from one token
            raise SystemExit("WEBCHAT_IDENTITY_SECRET must be at least 32 bytes; make one with:"
                             " python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            listen_database_url=env.get("WEBCHAT_LISTEN_DATABASE_URL") or None,
            statement_cache_size=(_int(env, "WEBCHAT_STATEMENT_CACHE_SIZE", 0)
                                  if env.get("WEBCHAT_STATEMENT_CACHE_SIZE") else None),
            log_format=_choice(env, "WEBCHAT_LOG_FORMAT", ("text", "json"), "text"),
            data_dir=Path(env.get("WEBCHAT_DATA_DIR") or ".webchat-data"),
            host=env.get("WEBCHAT_HOST") or "127.0.0.1",
            port=_int(env, "WEBCHAT_PORT", 8080),
            secret_key=env.get("WEBCHAT_SECRET_KEY") or None,
            identity_secret=identity_secret,
            legacy_identify=_bool(env, "WEBCHAT_LEGACY_IDENTIFY"),
            allowed_origins=origins,
            trusted_proxies=_proxies(env),
            session_max_age=session_max_age,
            metrics_token=env.get("WEBCHAT_METRICS_TOKEN") or None,
            max_media_bytes=_int(env, "WEBCHAT_MAX_MEDIA_BYTES", 5 * 1024 * 1024),
            sends_per_minute=_int(env, "WEBCHAT_SENDS_PER_MINUTE", 120),
            ws_high_water=_int(env, "WEBCHAT_WS_HIGH_WATER", 256 * 1024),
            ws_stall_timeout=float(_int(env, "WEBCHAT_WS_STALL_TIMEOUT", 60)),
            event_loop=_choice(env, "WEBCHAT_EVENT_LOOP", ("uvloop", "asyncio"), "uvloop"),
        )
