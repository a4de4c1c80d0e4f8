"""Sessions (encrypted cookies with a revocable id), the current account, CSRF and Origin checks."""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp_session
from aiohttp import web
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from ..db import pool_key, q
from ..domain.limits import limits_key
from ..errors import ApiError
from ..settings import Settings, settings_key
from .proxies import address_key

COOKIE_NAME = "webchat_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_secret_key(settings: Settings) -> bytes:
    """The Fernet key: from the environment, else generated once into the data dir (0600)."""
    if settings.secret_key:
        if not _is_fernet_key(settings.secret_key.encode()):
            raise SystemExit("WEBCHAT_SECRET_KEY must be a Fernet key (32 url-safe base64 bytes); make one with: python"
                             " -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
        return settings.secret_key.encode()
    path = settings.data_dir / "secret_key"
    try:
        key = _read_or_create_key(path)
    except OSError as e:
        raise SystemExit(f"cannot read or create the session key file {path}: {e.strerror or e}") from None
    if not _is_fernet_key(key):
        what = "is empty" if not key else "does not hold a Fernet key (32 url-safe base64 bytes)"
        raise SystemExit(
            f"the session key file {path} {what}. Delete it to have a new key generated (everyone's session"
            " cookie becomes invalid, so all visitors start as new guests), or put the key other processes"
            " use into it, or set WEBCHAT_SECRET_KEY.")
    return key


def _is_fernet_key(key: bytes) -> bool:
    try:
        Fernet(key)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return False
    return True


def _read_or_create_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_bytes().strip()
    # write a whole key under another name, then link it into place: a second process starting at the
    # same moment either sees no file or a complete one, never an empty one
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_bytes().strip()


class SessionStorage(EncryptedCookieStorage):
    """Encrypted cookie sessions: `Secure` whenever the request came over HTTPS (directly or through
    a trusted proxy), and sliding: a cookie in use is re-issued, so only an idle session expires."""

    def __init__(self, key: bytes, max_age: int) -> None:
        super().__init__(Fernet(key), cookie_name=COOKIE_NAME, httponly=True, samesite="Lax", max_age=max_age)
        # re-encrypting on every request would cost a Set-Cookie per response for nothing
        self.refresh_after = min(24 * 3600, max_age // 10)

    async def load_session(self, request: web.Request) -> Session:
        session = await super().load_session(request)
        if not session.new and time.time() - session.created >= self.refresh_after:
            session.changed()
        return session

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        max_age = self.max_age
        assert max_age is not None
        params = {
            **self.cookie_params,
            "secure": request.secure,
            "max_age": max_age,
            "expires": time.strftime("%a, %d-%b-%Y %T GMT", time.gmtime(time.time() + max_age)),
        }
        if session.empty:
            response.del_cookie(COOKIE_NAME, path="/", secure=request.secure, httponly=True, samesite="Lax")
            return
        # "created" is when this cookie was issued: aiohttp-session expires a session max_age after
        # it, and re-issuing moves it forward (the library keeps the first value, a fixed lifetime)
        data = {"created": int(time.time()), "session": dict(session)}
        value = self._fernet.encrypt(self._encoder(data).encode()).decode()
        response.set_cookie(COOKIE_NAME, value, **params)  # type: ignore[arg-type]


def session_storage(settings: Settings) -> SessionStorage:
    return SessionStorage(load_secret_key(settings), settings.session_max_age)


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
    # compared as bytes: compare_digest raises TypeError on non-ASCII str
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), sent.encode(errors="replace")):
        raise ApiError(403, f"missing or wrong {CSRF_HEADER} header (get it from /webchat/me)", "csrf")


async def session_account(request: web.Request, *, create: bool = False) -> dict[str, Any] | None:
    """The session's account; with create=True a first visit (or a revoked session) gets a new guest."""
    session = await aiohttp_session.get_session(request)
    pool = request.app[pool_key]
    account_id = session.get("account_id")
    sid = session.get("sid")
    row = None
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        # cookies issued before session ids existed have none: never revoked, given one below
        row = await pool.fetchrow(q("session_account"), account_id, sid if isinstance(sid, str) else "")
    if row is None:
        if not create:
            return None
        row = await new_guest(request)
        _start(session, row["id"])
        return row
    if not isinstance(sid, str):
        session["sid"] = secrets.token_urlsafe(18)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return dict(row)


async def session_claim(request: web.Request) -> tuple[int, str] | None:
    """The account id and session id the cookie names, not checked against the database: for a caller
    whose own statement checks them as session_account does (the send). None when the cookie names
    none, or is older than session ids (session_account upgrades those)."""
    session = await aiohttp_session.get_session(request)
    account_id, sid = session.get("account_id"), session.get("sid")
    if isinstance(account_id, int) and not isinstance(account_id, bool) and isinstance(sid, str) and "csrf" in session:
        return account_id, sid
    return None


async def require_account(request: web.Request) -> dict[str, Any]:
    account = await session_account(request)
    if account is None:
        raise ApiError(401, "no session: call GET /webchat/me first")
    return account


async def new_guest(request: web.Request, *, charged: bool = True) -> dict[str, Any]:
    # guests are free to make, so their number per client address (and IPv6 network) is what is
    # limited; charged=False: a sign-out, which pays as a session change instead
    costs = {"guests": 1} if charged else {}
    async with request.app[limits_key].charge(None, address_key(request.remote), **costs).paid():
        row = await request.app[pool_key].fetchrow(q("account_create_guest"),
                                                   f"Guest {secrets.randbelow(9000) + 1000}")
    assert row is not None
    return dict(row)


def _start(session: Session, account_id: int) -> None:
    session.clear()
    session["account_id"] = account_id
    session["sid"] = secrets.token_urlsafe(18)
    session["csrf"] = secrets.token_urlsafe(24)


async def rotate_session(request: web.Request, account_id: int) -> str:
    """Switch the session to an account under a new session id and CSRF token, and refuse the old id
    from now on (a copy of the old cookie, planted or stolen, is worth nothing). Returns the token."""
    session = await aiohttp_session.get_session(request)
    old = session.get("sid")
    if isinstance(old, str):
        await request.app[pool_key].execute(q("session_revoke"), old,
                                            float(request.app[settings_key].session_max_age))
    _start(session, account_id)
    return str(session["csrf"])
