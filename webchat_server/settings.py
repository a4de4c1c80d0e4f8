"""Settings read once from the environment into a frozen dataclass."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from .resources import data_path


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


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
    ws_queue_bytes: int = 1024 * 1024
    ws_heartbeat: float = 20.0
    poll_default_timeout: float = 25.0
    poll_max_timeout: float = 55.0
    probe_interval: float = 5.0
    # uvloop measured 15-18 % less server CPU per delivery than asyncio's loop (bench/README.md)
    event_loop: str = "uvloop"
    pool_min: int = 2
    pool_max: int = 10
    # serving: processes, and how a stopping one drains (SIGTERM)
    workers: str = "1"
    migrate_on_start: bool = True
    shutdown_timeout: float = 10.0
    drain_delay: float = 0.0
    static_dir: Path = field(default_factory=lambda: data_path("web"))

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
            event_loop=_choice(env, "WEBCHAT_EVENT_LOOP", ("uvloop", "asyncio"), "uvloop"),
            workers=env.get("WEBCHAT_WORKERS") or "1",
            migrate_on_start=_choice(env, "WEBCHAT_MIGRATE_ON_START", ("1", "0"), "1") == "1",
            shutdown_timeout=_float(env, "WEBCHAT_SHUTDOWN_TIMEOUT", 10.0),
            drain_delay=_float(env, "WEBCHAT_DRAIN_DELAY", 0.0),
        )
