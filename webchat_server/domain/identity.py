"""Signed identities from the embedding site: a short-lived HS256 JWT (and the legacy HMAC form)."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt

from ..errors import Forbidden

ALGORITHM = "HS256"
# a token may say it expires at most this far ahead: a leaked one is worthless within a day
MAX_LIFETIME = 24 * 3600
# clock skew allowed between the embedding site's servers and ours
LEEWAY = 60
MAX_TOKEN_CHARS = 8192
MAX_USER_ID_CHARS = 200
MAX_EMAIL_CHARS = 320
MAX_AVATAR_CHARS = 2000


class Refused(Forbidden):
    """An identity (token or legacy signature) is refused: 403, nothing changes."""

    def __init__(self, message: str, code: str = "bad_token") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Identity:
    user_id: str
    name: str
    email: str | None = None
    avatar: str | None = None
    # "agent": the embedding site says this person answers visitors (README "Answer your visitors")
    role: str = "user"


def demo_secret(session_key: bytes) -> str:
    """Under `serve --demo` without WEBCHAT_IDENTITY_SECRET: a secret derived from the session key, so
    every process sharing that key accepts the demo endpoint's tokens."""
    return hmac.new(session_key, b"webchat demo identity", hashlib.sha256).hexdigest()


def issue_token(secret: str, user_id: str, name: str, lifetime: int, **claims: Any) -> str:
    """What the embedding site's backend does (the demo endpoint and tests use it too)."""
    now = int(time.time())
    return jwt.encode({"sub": user_id, "name": name, "iat": now, "exp": now + lifetime, **claims}, secret,
                      algorithm=ALGORITHM)


def verify_token(secret: str, token: str, max_name_chars: int) -> Identity:
    """The identity a token carries, or Refused saying why not."""
    if len(token) > MAX_TOKEN_CHARS:
        raise Refused("identity token is too long")
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], leeway=LEEWAY,
            options={"require": ["sub", "name", "exp"], "verify_signature": True},
        )
    except jwt.ExpiredSignatureError:
        raise Refused("identity token has expired", "token_expired") from None
    except jwt.ImmatureSignatureError:
        raise Refused("identity token is not valid yet (iat or nbf in the future)") from None
    except jwt.MissingRequiredClaimError as e:
        raise Refused(f"identity token lacks the {e.claim!r} claim") from None
    except jwt.InvalidSignatureError:
        raise Refused("identity token signature does not verify") from None
    except jwt.InvalidAlgorithmError:
        raise Refused(f"identity token must be signed with {ALGORITHM}") from None
    except (jwt.PyJWTError, ValueError, TypeError):
        # PyJWT wraps what it expects; anything else about a malformed token is still the client's fault
        raise Refused("identity token is malformed") from None
    # PyJWT accepts numeric strings ("1764196000") for the time claims; a token is a number or refused
    for name in ("exp", "iat", "nbf"):
        if name in claims and (type(claims[name]) not in (int, float)):
            raise Refused(f"identity token claim {name!r} must be a number (seconds since the epoch)")
    if claims["exp"] > time.time() + MAX_LIFETIME + LEEWAY:
        raise Refused("identity token expires more than 24 hours ahead; issue short-lived tokens")
    return Identity(
        user_id=_claim(claims, "sub", MAX_USER_ID_CHARS),
        name=_claim(claims, "name", max_name_chars),
        email=_optional_claim(claims, "email", MAX_EMAIL_CHARS),
        avatar=_avatar(_optional_claim(claims, "avatar", MAX_AVATAR_CHARS)),
        role=_role(claims.get("role")),
    )


ROLES = ("user", "agent")


def _role(value: Any) -> str:
    if value is None:
        return "user"
    if value not in ROLES:
        raise Refused(f"identity token claim 'role' must be one of {', '.join(ROLES)}")
    return str(value)


def _optional_claim(claims: dict[str, Any], name: str, limit: int) -> str | None:
    return None if claims.get(name) is None else _claim(claims, name, limit)


def _claim(claims: dict[str, Any], name: str, limit: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"identity token claim {name!r} must be a non-empty string")
    if len(value) > limit or "\x00" in value or not _encodable(value):
        raise Refused(f"identity token claim {name!r} is too long or not valid text")
    return value.strip()


def _encodable(value: str) -> bool:
    # JSON may carry lone surrogates ("\ud800"); Postgres text cannot store them
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _avatar(url: str | None) -> str | None:
    if url is not None and not url.startswith(("https://", "http://")):
        raise Refused("identity token claim 'avatar' must be an http(s) URL")
    return url


# -- legacy: {user_id, name, signature}, signature = hex HMAC-SHA256(user_id) -----------------------

def identity_signature(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_legacy_signature(secret: str, user_id: str, signature: str) -> None:
    """The pre-JWT form (only with WEBCHAT_LEGACY_IDENTIFY=1): never expires and the name is not signed."""
    expected = identity_signature(secret, user_id).encode()
    # bytes, not str: compare_digest raises TypeError on non-ASCII str
    if not hmac.compare_digest(expected, signature.lower().encode(errors="replace")):
        raise Refused("bad signature", "bad_signature")
