"""Flask's signed-cookie sessions, with the signing serializer built once instead of per request.

Flask builds an `itsdangerous` serializer on every request, even for API calls that carry no
cookie; the key cannot change while the app runs, so one per app (and key) is enough. Saving
an empty, unchanged session (every API call) returns before reading five cookie settings.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface


class CachedSessionInterface(SecureCookieSessionInterface):
    """The default session interface, with its serializer cached per secret key."""

    def __init__(self) -> None:
        self._cached: tuple[Any, Any] | None = None

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if self._cached is None or self._cached[0] != keys:
            self._cached = (keys, super().get_signing_serializer(app))
        return self._cached[1]

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified:  # Flask's own answer, without the settings
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
