"""Settings read once from the environment into a frozen dataclass."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".webchat-data")
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str | None = None
    identity_secret: str | None = None
    allowed_origins: tuple[str, ...] = ()
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
    static_dir: Path = field(default_factory=lambda: Path(__file__).resolve().parent.parent / "web")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        origins = tuple(o.strip().rstrip("/") for o in env.get("WEBCHAT_ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env.get("WEBCHAT_DATA_DIR") or ".webchat-data"),
            host=env.get("WEBCHAT_HOST") or "127.0.0.1",
            port=_int(env, "WEBCHAT_PORT", 8080),
            secret_key=env.get("WEBCHAT_SECRET_KEY") or None,
            identity_secret=env.get("WEBCHAT_IDENTITY_SECRET") or None,
            allowed_origins=origins,
            max_media_bytes=_int(env, "WEBCHAT_MAX_MEDIA_BYTES", 5 * 1024 * 1024),
            sends_per_minute=_int(env, "WEBCHAT_SENDS_PER_MINUTE", 120),
            ws_high_water=_int(env, "WEBCHAT_WS_HIGH_WATER", 256 * 1024),
            ws_stall_timeout=float(_int(env, "WEBCHAT_WS_STALL_TIMEOUT", 60)),
            event_loop=_choice(env, "WEBCHAT_EVENT_LOOP", ("uvloop", "asyncio"), "uvloop"),
        )
