"""Settings read once from the environment into a frozen dataclass."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from aiohttp import web

from .resources import data_path

# A parser reads one variable: (environment, variable name, the field's default) -> value. An unset
# or empty variable gives the default, which is written once: on the Settings field.
Parser = Callable[[dict[str, str], str, Any], Any]


def _str(env: dict[str, str], name: str, default: Any) -> Any:
    return env.get(name) or default


def _path(env: dict[str, str], name: str, default: Path) -> Path:
    raw = env.get(name)
    return Path(raw) if raw else default


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _opt_int(env: dict[str, str], name: str, default: int | None) -> int | None:
    return _int(env, name, 0) if env.get(name) else default


def _whole_seconds(env: dict[str, str], name: str, default: float) -> float:
    return float(_int(env, name, int(default)))


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def _at_least(lo: float, parse: Parser = _float) -> Parser:
    return lambda env, name, default: max(lo, parse(env, name, default))


def _milliseconds(env: dict[str, str], name: str, default: float) -> float:
    return max(0.0, _float(env, name, default * 1000) / 1000)


def _one_of(*allowed: str) -> Parser:
    def parse(env: dict[str, str], name: str, default: str) -> str:
        raw = env.get(name) or default
        if raw not in allowed:
            raise SystemExit(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return raw
    return parse


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    """1 or 0 (WEBCHAT_MIGRATE_ON_START)."""
    return bool(_one_of("1", "0")(env, name, "1" if default else "0") == "1")


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or ("1" if default else "0")).strip().lower()
    if raw not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise SystemExit(f"{name} must be 1 or 0, got {raw!r}")
    return raw in ("1", "true", "yes", "on")


def _origins(env: dict[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in env.get(name, "").split(",") if o.strip()) or default


def _proxies(env: dict[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for item in (p.strip() for p in env.get(name, "").split(",")):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SystemExit(f"{name}: {item!r} is not an IP address or network") from None
    return tuple(out) or default


def _prefixes(env: dict[str, str], name: str,
              default: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
    """WEBCHAT_IPV6_PREFIX_LIMITS: `/56=4,/48=16` (prefix length = times an address's limit), or off."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in ("off", "none", "0"):
        return ()
    out = []
    for item in (p.strip() for p in raw.split(",") if p.strip()):
        m = re.fullmatch(r"/?([0-9]{1,3})\s*=\s*([0-9]+(?:\.[0-9]+)?)", item)
        if m is None or not 1 <= int(m.group(1)) < 64 or float(m.group(2)) <= 0:
            raise SystemExit(f"WEBCHAT_IPV6_PREFIX_LIMITS must look like /56=4,/48=16 (prefixes shorter than /64), "
                             f"got {item!r}")
        out.append((int(m.group(1)), float(m.group(2))))
    return tuple(sorted(out, reverse=True))


_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_SIZES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _amount(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmg]?)(?:i?b)?\s*", text.lower())
    if m is None:
        raise ValueError(text)
    return float(m.group(1)) * _SIZES[m.group(2)]


@dataclass(frozen=True)
class Rate:
    """A token bucket: `count` per `seconds` on average, bursts of up to `burst`."""

    count: float
    seconds: float
    burst: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def scaled(self, factor: float) -> Rate:
        return Rate(self.count * factor, self.seconds, self.burst * factor)

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """`120/min:30` = 120 a minute, bursts of 30; `100M/h:25M` for bytes; `off` = no limit."""
        text = text.strip().lower()
        if text in ("off", "none", "0"):
            return None
        rate, _, burst = text.partition(":")
        count, _, unit = rate.partition("/")
        seconds = _UNITS.get(unit.strip()) if unit.strip() else 1.0
        if seconds is None:
            raise ValueError(text)
        amount = _amount(count)
        return cls(amount, seconds, _amount(burst) if burst else amount)

    def __str__(self) -> str:
        return f"{self.count:g}/{self.seconds:g}s:{self.burst:g}"


def _rate(env: dict[str, str], name: str, default: Rate | None) -> Rate | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return Rate.parse(raw)
    except ValueError:
        raise SystemExit(f"{name} must look like 120/min:30 (count/period:burst) or off, got {raw!r}") from None


# Postgres token buckets (domain/limits.py): per account and per client address, shared by every
# process. Defaults: a person chatting fast sends ~1 message every 2 s; a NAT (office, school,
# mobile carrier) puts many people behind one address, so address limits are ~5-10x the account's.
RATE_DEFAULTS: dict[str, Rate | None] = {
    "guests_per_address": Rate(60, 3600, 30),
    "sends_per_account": Rate(120, 60, 30),
    "sends_per_address": Rate(600, 60, 150),
    "edits_per_account": Rate(60, 60, 20),
    "edits_per_address": Rate(300, 60, 60),
    # a tap each, toggled back and forth: as many as sends
    "reactions_per_account": Rate(120, 60, 30),
    "reactions_per_address": Rate(600, 60, 150),
    "chats_per_account": Rate(60, 3600, 10),
    "chats_per_address": Rate(600, 3600, 60),
    "upload_bytes_per_account": Rate(100 * 1024**2, 3600, 25 * 1024**2),
    "upload_bytes_per_address": Rate(1024**3, 3600, 200 * 1024**2),
    # sign-ins and sign-outs: each revokes a session id (a row kept for the cookie's lifetime)
    "session_changes_per_account": Rate(60, 3600, 20),
    "session_changes_per_address": Rate(600, 3600, 120),
}


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
    # the demo page (/ and /web/index.html, with its "Sign in as" form): `serve --demo`, or
    # WEBCHAT_DEMO_PAGE=1 alone (tests); off in production, where / is a 404
    demo_page: bool = False
    # limits that protect the server; all are user-visible as 4xx errors
    max_text_chars: int = 10_000
    max_media_bytes: int = 5 * 1024 * 1024
    # the longest voice note; the widget stops recording there (Opus at 32 kbit/s: ~1.2 MB)
    max_voice_seconds: int = 300
    max_title_chars: int = 200
    max_name_chars: int = 100
    # kept for compatibility: the per-account send rate (a minute's worth, bursts of a quarter)
    sends_per_minute: int = 120
    # rate limits in Postgres (None = off); names as in RATE_DEFAULTS, env WEBCHAT_LIMIT_<NAME>
    rate_limits: tuple[tuple[str, Rate | None], ...] = tuple(RATE_DEFAULTS.items())
    # every rate and burst multiplied by this (tests and benches raise it instead of switching off)
    rate_limit_scale: float = 1.0
    # a process leases up to this many seconds' worth of a bucket's tokens at a time (never more than
    # a quarter of its burst), so most writes take their tokens without a database round trip; 0 =
    # take exactly what each write costs, one short statement per write (domain/limits.py)
    rate_lease_seconds: float = 5.0
    # IPv6 clients count per /64 (address_key) and also against these wider prefixes, each allowed
    # this many times an address's limit, so one holder of a /48 cannot rotate through 65,536 /64s
    ipv6_prefix_limits: tuple[tuple[int, float], ...] = ((56, 4.0), (48, 16.0))
    # guests made this many days ago that never sent a message (and are in no chat with messages)
    # are deleted, hourly (domain/accounts.py); 0 = keep every guest
    guest_retention_days: float = 30.0
    # group commit (domain/sending.py): at most this many sends go into one transaction; while one
    # commits, the sends that arrive wait for it and then go together
    send_batch_max: int = 64
    # seconds a batch that is not full waits for more sends before it starts; 0 = never wait (a send
    # that finds no batch committing starts at once)
    send_batch_wait: float = 0.0
    # caps on long-lived connections (WebSockets + parked long-polls), per process (caps.py)
    max_sockets_per_account: int = 20
    max_sockets_per_address: int = 200
    # every TCP connection (idle ones too) per peer address, counted at accept (accept.py); a
    # trusted proxy's own address is not capped
    max_connections_per_address: int = 512
    # a request's head must arrive within this many seconds of connecting (or of the previous
    # response on a kept-alive connection), its body within body_timeout of the head
    header_timeout: float = 10.0
    body_timeout: float = 60.0
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
    # online / away / offline for chat partners; off: no presence events, no last-seen writes
    presence: bool = True
    # uvloop measured 15-18 % less server CPU per delivery than asyncio's loop (bench/README.md)
    event_loop: str = "uvloop"
    pool_min: int = 2
    pool_max: int = 10
    log_format: str = "text"
    # serving: processes, and how a stopping one drains (SIGTERM)
    workers: str = "1"
    migrate_on_start: bool = True
    shutdown_timeout: float = 10.0
    drain_delay: float = 0.0
    static_dir: Path = field(default_factory=lambda: data_path("web"))
    # the address people reach this server at, for links made outside a request (an agent's
    # sign-in link, the link in an offline email); unset = http://HOST:PORT
    public_url: str | None = None
    # offline email to visitors (domain/offline_mail.py); no host = no email
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    # "starttls" (port 587), "tls" (implicit, port 465) or "none" (a relay on the same machine)
    smtp_security: str = "starttls"
    smtp_from: str = "webchat@localhost"
    # seconds an agent's reply waits for more before the visitor is emailed (one email a burst)
    smtp_batch_seconds: float = 60.0
    # where the link in an offline email lands (a page of the site with the chat on it); unset = this
    # server's demo page. The conversation's id follows as #webchat-chat=ID
    smtp_continue_url: str | None = None

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

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
        defaults = {f.name: f.default for f in fields(cls)}
        values = {name: parse(env, var, defaults[name]) for name, var, parse in ENV}
        if values["session_max_age"] < 60:
            raise SystemExit(f"WEBCHAT_SESSION_MAX_AGE is in seconds and at least 60, got {values['session_max_age']}")
        secret = values["identity_secret"]
        if secret is not None and len(secret.encode()) < 32:
            # RFC 7518 3.2: an HS256 key shorter than the hash can be guessed offline from one token
            raise SystemExit("WEBCHAT_IDENTITY_SECRET must be at least 32 bytes; make one with:"
                             " python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return cls(
            **values,
            # a lower cap (tests, fuzzing) lowers the default wait with it
            poll_default_timeout=min(defaults["poll_default_timeout"], values["poll_max_timeout"]),
            rate_limits=tuple((name, _rate(env, f"WEBCHAT_LIMIT_{name.upper()}", default))
                              for name, default in RATE_DEFAULTS.items()),
        )

    def rate(self, name: str) -> Rate | None:
        """The configured limit `name` (see RATE_DEFAULTS), scaled; None when off."""
        return self._rates.get(name)

    @cached_property
    def _rates(self) -> dict[str, Rate | None]:
        rates = {**RATE_DEFAULTS, **dict(self.rate_limits)}
        if rates["sends_per_account"] == RATE_DEFAULTS["sends_per_account"]:
            # WEBCHAT_SENDS_PER_MINUTE predates the Postgres limits and still sets this one
            rates["sends_per_account"] = Rate(self.sends_per_minute, 60, max(10, self.sends_per_minute // 4))
        if self.rate_limit_scale != 1.0:
            rates = {k: r.scaled(self.rate_limit_scale) if r else None for k, r in rates.items()}
        return rates


# Every setting read from the environment: field, variable, parser (the README's Configuration
# table lists the same variables, held together by a test). WEBCHAT_LIMIT_<NAME> is read per
# rate limit from RATE_DEFAULTS.
ENV: tuple[tuple[str, str, Parser], ...] = (
    ("database_url", "DATABASE_URL", _str),
    ("listen_database_url", "WEBCHAT_LISTEN_DATABASE_URL", _str),
    ("statement_cache_size", "WEBCHAT_STATEMENT_CACHE_SIZE", _opt_int),
    ("log_format", "WEBCHAT_LOG_FORMAT", _one_of("text", "json")),
    ("data_dir", "WEBCHAT_DATA_DIR", _path),
    ("host", "WEBCHAT_HOST", _str),
    ("port", "WEBCHAT_PORT", _int),
    ("secret_key", "WEBCHAT_SECRET_KEY", _str),
    ("identity_secret", "WEBCHAT_IDENTITY_SECRET", _str),
    ("legacy_identify", "WEBCHAT_LEGACY_IDENTIFY", _bool),
    ("allowed_origins", "WEBCHAT_ALLOWED_ORIGINS", _origins),
    ("trusted_proxies", "WEBCHAT_TRUSTED_PROXIES", _proxies),
    ("demo_page", "WEBCHAT_DEMO_PAGE", _bool),
    ("session_max_age", "WEBCHAT_SESSION_MAX_AGE", _int),
    ("metrics_token", "WEBCHAT_METRICS_TOKEN", _str),
    ("max_media_bytes", "WEBCHAT_MAX_MEDIA_BYTES", _int),
    ("max_voice_seconds", "WEBCHAT_MAX_VOICE_SECONDS", _at_least(1, _int)),
    ("sends_per_minute", "WEBCHAT_SENDS_PER_MINUTE", _int),
    ("poll_max_timeout", "WEBCHAT_POLL_MAX_TIMEOUT", _whole_seconds),
    ("rate_limit_scale", "WEBCHAT_RATE_LIMIT_SCALE", _float),
    ("rate_lease_seconds", "WEBCHAT_RATE_LEASE_SECONDS", _at_least(0.0)),
    ("ipv6_prefix_limits", "WEBCHAT_IPV6_PREFIX_LIMITS", _prefixes),
    ("guest_retention_days", "WEBCHAT_GUEST_RETENTION_DAYS", _at_least(0.0)),
    ("send_batch_max", "WEBCHAT_SEND_BATCH_MAX", _at_least(1, _int)),
    ("send_batch_wait", "WEBCHAT_SEND_BATCH_WAIT_MS", _milliseconds),
    ("max_sockets_per_account", "WEBCHAT_MAX_SOCKETS_PER_ACCOUNT", _int),
    ("max_sockets_per_address", "WEBCHAT_MAX_SOCKETS_PER_ADDRESS", _int),
    ("max_connections_per_address", "WEBCHAT_MAX_CONNECTIONS_PER_ADDRESS", _int),
    ("header_timeout", "WEBCHAT_HEADER_TIMEOUT", _float),
    ("body_timeout", "WEBCHAT_BODY_TIMEOUT", _float),
    ("ws_high_water", "WEBCHAT_WS_HIGH_WATER", _int),
    ("ws_stall_timeout", "WEBCHAT_WS_STALL_TIMEOUT", _whole_seconds),
    ("event_loop", "WEBCHAT_EVENT_LOOP", _one_of("uvloop", "asyncio")),
    ("workers", "WEBCHAT_WORKERS", _str),
    ("migrate_on_start", "WEBCHAT_MIGRATE_ON_START", _switch),
    ("shutdown_timeout", "WEBCHAT_SHUTDOWN_TIMEOUT", _float),
    ("drain_delay", "WEBCHAT_DRAIN_DELAY", _float),
    ("public_url", "WEBCHAT_PUBLIC_URL", _str),
    ("smtp_host", "WEBCHAT_SMTP_HOST", _str),
    ("smtp_port", "WEBCHAT_SMTP_PORT", _int),
    ("smtp_username", "WEBCHAT_SMTP_USERNAME", _str),
    ("smtp_password", "WEBCHAT_SMTP_PASSWORD", _str),
    ("smtp_security", "WEBCHAT_SMTP_SECURITY", _one_of("starttls", "tls", "none")),
    ("smtp_from", "WEBCHAT_SMTP_FROM", _str),
    ("smtp_batch_seconds", "WEBCHAT_SMTP_BATCH_SECONDS", _at_least(0.0)),
    ("smtp_continue_url", "WEBCHAT_SMTP_CONTINUE_URL", _str),
    ("presence", "WEBCHAT_PRESENCE", _bool),
)

settings_key = web.AppKey("settings", Settings)
