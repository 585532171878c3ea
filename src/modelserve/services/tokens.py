"""API tokens: shown once, stored as a hash, with scopes, expiry and a last-used time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..storage.tables import SCOPES, ApiToken, User, utcnow

TOKEN_RE = re.compile(r"ms_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})")
# last_used_at is written at most this often per token: not one UPDATE per request.
TOUCH_EVERY = timedelta(seconds=60)


class TokenError(Exception):
    """Why a presented token is refused: `code` is invalid_token or insufficient_scope."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    plaintext: str  # shown once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m` or `45s`."""
    match = re.fullmatch(r"(\d{1,6})([dhms])", text.strip())
    if not match:
        raise ValueError("a duration is a number and a unit: 90d, 12h, 30m or 45s")
    unit = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def create_token(
    session: Session,
    user: User,
    *,
    name: str,
    scopes: list[str],
    expires_in: timedelta | None = None,
) -> Issued:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)} (got {', '.join(unknown)})")
    if "admin" in scopes and not user.is_admin:
        raise ValueError("only admins can create tokens with the admin scope")
    prefix = "".join(secrets.choice("abcdefghijkmnopqrstuvwxyz23456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=(name.strip() or "token")[:100],
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=" ".join(sorted(set(scopes))),
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(token)
    session.commit()
    return Issued(token, f"ms_{prefix}_{secret}")


def verify(
    session: Session, presented: str, *, scope: str | None = None, now: datetime | None = None
) -> ApiToken:
    """The active token matching `presented`, or `TokenError`; touches last_used_at."""
    match = TOKEN_RE.fullmatch(presented.strip())
    if not match:
        raise TokenError("invalid_token", "the token is malformed")
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == match.group(1)))
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(match.group(2))):
        raise TokenError("invalid_token", "the token is not valid")
    now = now or utcnow()
    state = token.state(now)
    if state != "active":
        raise TokenError("invalid_token", f"the token is {state}")
    if not token.user.active:
        raise TokenError("invalid_token", "the token's user is disabled")
    if scope is not None and scope not in token.scope_list:
        raise TokenError("insufficient_scope", f"the token lacks the {scope!r} scope")
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        token.last_used_at = now
        session.commit()
    return token


def revoke(session: Session, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.commit()


def tokens_of(session: Session, user: User | None) -> list[ApiToken]:
    """The user's tokens (every token when `user` is None), newest first."""
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query))
