"""Accounts: create, authenticate, change password, enable/disable, roles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..storage.tables import ROLES, User

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 10


@cache
def _dummy_hash() -> str:
    """Compared against when the user does not exist, so both paths cost one hash check.

    Made on first use, not at import: one scrypt hash is ~150 ms of every start-up.
    """
    return generate_password_hash("not-a-real-password-but-a-timing-guard")


class AccountError(Exception):
    """A request about accounts that cannot be done; the message says why."""


@dataclass(frozen=True)
class SignIn:
    user: User | None
    reason: str  # "ok", "bad_credentials" or "disabled" (faces show one generic message)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AccountError("the password must have at most 1024 characters")


def create_user(session: Session, username: str, password: str, *, role: str = "user") -> User:
    if not USERNAME_RE.fullmatch(username):
        raise AccountError("a user name is 1-64 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise AccountError(f"the role must be one of {', '.join(ROLES)}")
    check_password_rules(password)
    if find_user(session, username) is not None:
        raise AccountError(f"the user name {username!r} is taken")
    user = User(username=username, password_hash=generate_password_hash(password), role=role)
    session.add(user)
    session.commit()
    return user


def find_user(session: Session, username: str) -> User | None:
    query = select(User).where(func.lower(User.username) == username.lower())
    return session.scalar(query)


def authenticate(session: Session, username: str, password: str) -> SignIn:
    """Check a user name and password; unknown users cost the same hash check."""
    dummy = _dummy_hash()  # before the lookup: the first sign-in costs the same either way
    user = find_user(session, username) if len(username) <= 64 else None
    if user is None:
        check_password_hash(dummy, password)
        return SignIn(None, "bad_credentials")
    if not check_password_hash(user.password_hash, password):
        return SignIn(None, "bad_credentials")
    if not user.active:
        return SignIn(None, "disabled")
    return SignIn(user, "ok")


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """Set a new password and sign out every other session of the user."""
    if not check_password_hash(user.password_hash, current):
        raise AccountError("the current password is wrong")
    set_password(session, user, new)


def set_password(session: Session, user: User, new: str) -> None:
    check_password_rules(new)
    user.password_hash = generate_password_hash(new)
    user.session_version += 1
    session.commit()


def set_active(session: Session, user: User, active: bool) -> None:
    user.active = active
    user.session_version += 1  # a disabled user's sessions end now
    session.commit()


def set_role(session: Session, user: User, role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"the role must be one of {', '.join(ROLES)}")
    user.role = role
    session.commit()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
