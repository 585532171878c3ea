"""Signed strings (session cookies, CSRF tokens) verified once, then only their age checked.

A browser sends the same session cookie and the same CSRF token on request after request,
and checking a signature (deriving the key, an HMAC, base64 and JSON) costs more than the rest
of using it. A string that verified under a serializer keeps its contents and signing time in
that serializer's `VerifiedCache`: the same string under the same keys verifies the same way,
so only its age is checked again, by itsdangerous' own rule. Strings that fail are never kept,
and each caller gets its own copy of the contents.

Flask-WTF builds a serializer and derives its key on every `validate_csrf` and
`generate_csrf`; `remember_csrf_tokens` hands it one `RememberingSerializer` per secret key
instead. Its checks (missing token, missing session token, signature, age, the token matching
the session's) are all still its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from copy import deepcopy
from datetime import UTC, datetime
from functools import partial
from typing import Any

import flask_wtf.csrf
from itsdangerous import SignatureExpired, URLSafeTimedSerializer

# Only strings that verified are kept; emptied when full.
MAX_VERIFIED = 1024
# One serializer per (secret key, salt); there are one or two per app.
MAX_SERIALIZERS = 64

Verify = Callable[[str | bytes, int | None], tuple[Any, datetime]]


class VerifiedCache:
    """The strings one serializer verified, with their contents and signing times."""

    def __init__(self) -> None:
        self._found: dict[str | bytes, tuple[Any, int]] = {}

    def loads(
        self, verify: Verify, signed: str | bytes, max_age: int | None, copy: bool = True
    ) -> Any:
        """`verify(signed, max_age)`'s contents, verified once; expiry raised as itsdangerous'.

        With `copy=False` the kept contents themselves are returned, for a caller that only
        reads them.
        """
        found = self._found.get(signed)
        if found is None:
            data, signed_at = verify(signed, max_age)
            found = (data, int(signed_at.timestamp()))
            if len(self._found) >= MAX_VERIFIED:
                self._found.clear()
            self._found[signed] = found
        elif max_age is not None:
            age = int(time.time()) - found[1]  # TimestampSigner.unsign's rule
            if age > max_age or age < 0:
                raise SignatureExpired(
                    f"Signature age {age} is not within 0..{max_age} seconds",
                    payload=found[0],
                    date_signed=datetime.fromtimestamp(found[1], UTC),
                )
        return deepcopy(found[0]) if copy else found[0]


class RememberingSerializer(URLSafeTimedSerializer):
    """A timed serializer whose `loads` keeps the strings that verified (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verified = VerifiedCache()

    def loads(  # type: ignore[override]  # itsdangerous' own signature
        self,
        s: str | bytes,
        max_age: int | None = None,
        return_timestamp: bool = False,
        salt: str | bytes | None = None,
    ) -> Any:
        if return_timestamp or salt is not None:
            return super().loads(s, max_age, return_timestamp, salt)
        return self.verified.loads(partial(super().loads, return_timestamp=True), s, max_age)


_serializers: dict[tuple[Hashable, Hashable], RememberingSerializer] = {}


def csrf_serializer(secret_key: Any, salt: Any = None) -> RememberingSerializer:
    """Flask-WTF's `URLSafeTimedSerializer(secret_key, salt=...)`, one per key and salt."""
    key = (secret_key, salt)
    found = _serializers.get(key)
    if found is None:
        if len(_serializers) >= MAX_SERIALIZERS:
            _serializers.clear()
        found = _serializers[key] = RememberingSerializer(secret_key, salt=salt)
    return found


def remember_csrf_tokens() -> None:
    """Make Flask-WTF's CSRF functions use `csrf_serializer` (see the module)."""
    if flask_wtf.csrf.URLSafeTimedSerializer is URLSafeTimedSerializer:
        setattr(flask_wtf.csrf, "URLSafeTimedSerializer", csrf_serializer)  # noqa: B010
