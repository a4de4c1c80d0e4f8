"""Sessions, the current account, CSRF and Origin checks, and signed identities."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

import aiohttp_session
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from . import ratelimit
from .db import q
from .errors import ApiError
from .keys import pool_key, settings_key
from .settings import Settings

COOKIE_NAME = "webchat_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_secret_key(settings: Settings) -> bytes:
    """The Fernet key: from the environment, else generated once into the data dir (0600)."""
    if settings.secret_key:
        key = settings.secret_key.encode()
    else:
        path = settings.data_dir / "secret_key"
        key = _read_or_create_key(path)
    try:
        Fernet(key)
    except ValueError:
        raise SystemExit("WEBCHAT_SECRET_KEY must be a Fernet key (32 url-safe base64 bytes)") from None
    return key


def _read_or_create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        key = Fernet.generate_key()
        f.write(key)
    return key


def session_storage(settings: Settings) -> EncryptedCookieStorage:
    return EncryptedCookieStorage(
        load_secret_key(settings).decode(),  # a str is taken as the Fernet key itself
        cookie_name=COOKIE_NAME,
        httponly=True,
        samesite="Lax",
        max_age=365 * 24 * 3600,
    )


def allowed_origins(request: web.Request) -> set[str]:
    own = f"{request.scheme}://{request.host}"
    return {own, *request.app[settings_key].allowed_origins}


def origin_allowed(request: web.Request) -> bool:
    """True when the request has no Origin (not a browser) or an allowed one."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin.rstrip("/") in allowed_origins(request)


async def check_csrf(request: web.Request) -> None:
    """State-changing API calls need an allowed Origin (if any) and the session's CSRF token."""
    if request.method in SAFE_METHODS or not request.path.startswith("/webchat/"):
        return
    if not origin_allowed(request):
        raise ApiError(403, "cross-origin request refused", "bad_origin")
    session = await aiohttp_session.get_session(request)
    token = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER, "")
    if not token or not hmac.compare_digest(str(token), sent):
        raise ApiError(403, f"missing or wrong {CSRF_HEADER} header (get it from /webchat/me)", "csrf")


async def session_account(request: web.Request, *, create: bool = False) -> dict[str, Any] | None:
    """The session's account; with create=True a first visit gets a new guest."""
    session = await aiohttp_session.get_session(request)
    pool = request.app[pool_key]
    account_id = session.get("account_id")
    row = None
    if isinstance(account_id, int):
        row = await pool.fetchrow(q("account_get"), account_id)
        # a guest merged into a user from another browser follows the user
        while row is not None and row["merged_into"] is not None:
            row = await pool.fetchrow(q("account_get"), row["merged_into"])
    if row is None:
        if not create:
            return None
        async with pool.acquire() as conn, conn.transaction():
            # guests are free to make, so their number per client address is what is limited
            await ratelimit.charge(request, None, guests=1).take(conn)
            row = await conn.fetchrow(q("account_create_guest"), f"Guest {secrets.randbelow(9000) + 1000}")
        assert row is not None
    if session.get("account_id") != row["id"]:
        session["account_id"] = row["id"]
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return dict(row)


async def require_account(request: web.Request) -> dict[str, Any]:
    account = await session_account(request)
    if account is None:
        raise ApiError(401, "no session: call GET /webchat/me first")
    return account


def identity_signature(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_identity(settings: Settings, user_id: str, signature: str) -> None:
    if not settings.identity_secret:
        raise ApiError(403, "identify is disabled (WEBCHAT_IDENTITY_SECRET is not set)", "identify_disabled")
    expected = identity_signature(settings.identity_secret, user_id)
    if not hmac.compare_digest(expected, signature.lower()):
        raise ApiError(403, "bad signature", "bad_signature")
