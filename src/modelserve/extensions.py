"""Flask extensions, created unbound here and bound to the app in `create_app`."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, session
from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_login.config import COOKIE_NAME
from flask_login.signals import user_accessed
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from .storage.tables import Base


class VisitorAwareLoginManager(LoginManager):
    """Flask-Login, minus its work on requests that cannot carry a signed-in user.

    With strong session protection Flask-Login treats every session without its `_id` as a
    protection failure: a visitor who is not signed in but holds a session (the form's CSRF
    token) has, on every request, the client's address and agent hashed, the session rewritten
    (a newly signed cookie in every answer) and a remember cookie they do not have deleted.
    A session without `_user_id`, no remember cookie and no request loader can only be a
    visitor, so such a request gets the anonymous user directly.
    """

    def _load_user(self) -> Any:
        cookie = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
        if (
            "_user_id" not in session
            and cookie not in request.cookies
            and self._request_callback is None
            and getattr(self, "_header_callback", None) is None
        ):
            user_accessed.send(current_app._get_current_object())  # type: ignore[attr-defined]
            return self._update_request_context_with_user()
        return super()._load_user()


babel = Babel()
bootstrap = Bootstrap5()
csrf = CSRFProtect()
db = SQLAlchemy(model_class=Base)
login_manager = VisitorAwareLoginManager()
# No default limits: only the endpoints that ask for one (sign-in) are limited.
limiter = Limiter(get_remote_address, default_limits=[])
