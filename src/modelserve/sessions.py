"""Flask's signed-cookie sessions, with the signing work done once per key and per cookie.

Flask builds an `itsdangerous` serializer on every request, even for API calls that carry no
cookie; the key cannot change while the app runs, so one per app (and key) is enough. A
browser sends the same cookie on request after request (a visitor's holds only the CSRF
token), and checking its signature costs more than the rest of opening it, so a cookie that
verified keeps its signing time and contents (`signing.VerifiedCache`): only its age is
checked again (`PERMANENT_SESSION_LIFETIME`, as Flask does). Each request gets its own copy
of the contents. Saving a session that sets no cookie (an API call's empty session, a
visitor's unchanged one) returns before reading seven cookie settings.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

from .signing import VerifiedCache


class CachedSessionInterface(SecureCookieSessionInterface):
    """The default session interface, with its serializer and verified cookies cached."""

    def __init__(self) -> None:
        self._cached: tuple[Any, Any] | None = None
        self._verified = VerifiedCache()

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._cached is None or self._cached[0] != keys:
            self._cached = (keys, super().get_signing_serializer(app))
            self._verified = VerifiedCache()  # verified under other keys
        return self._cached[1]

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        s = self.get_signing_serializer(app)
        val = request.cookies.get(self.get_cookie_name(app))
        if s is None or not val:
            return super().open_session(app, request)
        return self.session_class(self.contents(app, val))

    def contents(self, app: Flask, val: str, copy: bool = True) -> dict[str, Any]:
        """What the session cookie `val` holds: {} when its signature or age fails.

        `copy=False` returns the verified contents kept for this cookie: only to be read.
        """
        s = self.get_signing_serializer(app)
        if s is None:
            return {}
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data: dict[str, Any] = self._verified.loads(
                partial(s.loads, return_timestamp=True), val, max_age, copy
            )
        except BadSignature:
            return {}
        return data

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        # Flask's own answer when it would neither write nor delete the cookie (an API call's
        # empty session, a visitor's unchanged one), without reading the cookie settings.
        if not session.modified and not (session and self.should_set_cookie(app, session)):
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
