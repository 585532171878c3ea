"""Flask-Login glue: the signed-in user, and sessions that end when the password changes."""

from __future__ import annotations

from flask import Flask
from flask_login import UserMixin

from ..extensions import db, login_manager
from ..storage.tables import User


class SignedIn(UserMixin):
    """The session's view of a user; its id embeds the session version."""

    def __init__(self, record: User) -> None:
        self.record = record

    def get_id(self) -> str:
        return f"{self.record.id}:{self.record.session_version}"

    @property
    def is_admin(self) -> bool:
        return self.record.is_admin


def load_user(session_id: str) -> SignedIn | None:
    """A session is valid while its user is active and has not changed password since."""
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return SignedIn(user)


def register_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the sign-in page says why on its own
    login_manager.user_loader(load_user)
