"""Flask's signed-cookie sessions, with the signing work done once per key and per cookie.

Flask builds an `itsdangerous` serializer on every request, even for API calls that carry no
cookie; the key cannot change while the app runs, so one per app (and key) is enough. A
browser sends the same cookie on request after request (a visitor's holds only the CSRF
token), and checking its signature costs more than the rest of opening it, so a cookie that
verified keeps its signing time and contents: the same string under the same keys verifies
the same way, and only its age is checked again (`PERMANENT_SESSION_LIFETIME`, as Flask
does). Each request gets its own copy of the contents. Saving an empty, unchanged session
(every API call) returns before reading five cookie settings.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

# Only cookies that verified are kept; emptied when full.
MAX_VERIFIED = 1024


class CachedSessionInterface(SecureCookieSessionInterface):
    """The default session interface, with its serializer and verified cookies cached."""

    def __init__(self) -> None:
        self._cached: tuple[Any, Any] | None = None
        self._verified: dict[str, tuple[int, Any]] = {}

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._cached is None or self._cached[0] != keys:
            self._cached = (keys, super().get_signing_serializer(app))
            self._verified = {}  # verified under other keys
        return self._cached[1]

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        s = self.get_signing_serializer(app)
        val = request.cookies.get(self.get_cookie_name(app))
        if s is None or not val:
            return super().open_session(app, request)
        max_age = int(app.permanent_session_lifetime.total_seconds())
        verified = self._verified.get(val)
        if verified is None:
            try:
                data, signed_at = s.loads(val, max_age=max_age, return_timestamp=True)
            except BadSignature:
                return self.session_class()
            verified = (int(signed_at.timestamp()), data)
            if len(self._verified) >= MAX_VERIFIED:
                self._verified.clear()
            self._verified[val] = verified
        elif not 0 <= int(time.time()) - verified[0] <= max_age:  # itsdangerous' expiry rule
            return self.session_class()
        return self.session_class(copy.deepcopy(verified[1]))

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified:  # Flask's own answer, without the settings
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
